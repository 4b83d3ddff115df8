// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {InvariantTargets} from "../utils/Invariant.sol";
import {InsuranceProvider} from "../../src/InsuranceProvider.sol";
import {Scope} from "../../src/CareTypes.sol";
import {ClaimHandler} from "./handlers/ClaimHandler.sol";

/// @notice A claim is paid at most once and never above its approved amount; the money adds up; an approval above
/// the insurer's threshold was confirmed by a second kiosk, and a proposal reserves nothing — whether claims are
/// decided by single calls or settled in one step. Patients registered and enrolled by the desks' steps are exactly
/// what the card signed, and the card can revoke the consents the steps stored.
contract ClaimInvariantTest is Fixture, InvariantTargets {
    uint16 internal constant BPS = 7500;
    uint16 internal constant BPS2 = 10_000;
    uint128 internal constant LIMIT = 8000e18;
    uint128 internal constant LIMIT2 = 3000e18;
    uint256 internal constant HANDLER_TOKENS = 1e30;

    ClaimHandler internal handler;
    address internal sink = makeAddr("sink");
    bytes32 internal other;

    function setUp() public override {
        super.setUp();
        other = registerPatient(OTHER_PK);
        grant(OTHER_PK, other, insurer2Kiosk, Scope.READ, 0);
        enroll(pid, insurerKiosk, BPS, LIMIT);
        enroll(other, insurer2Kiosk, BPS2, LIMIT2);
        fund(insurer2, 2000e18);
        // Above THRESHOLD the first insurer's approvals need two kiosks (the second insurer has no threshold).
        fourEyes(THRESHOLD);

        handler = new ClaimHandler(
            ClaimHandler.Setup({
                hub: hub,
                records: records,
                insurance: insurance,
                token: token,
                hospitalKiosks: [hospitalKiosk, hospital2Kiosk],
                insurers: [insurer, insurer2],
                insurerKiosks: [insurerKiosk, insurer2Kiosk],
                secondKiosk: insurerKioskB,
                pks: [PATIENT_PK, OTHER_PK],
                bps: [BPS, BPS2],
                limits: [LIMIT, LIMIT2],
                sink: sink
            })
        );
        token.mint(address(handler), HANDLER_TOKENS);
        handler.approveToken();
        targetContract(address(handler));
        targetSelector(address(handler), handler.selectors());
    }

    function invariant_claimsPaidOnceAndExactlyApproved() public view {
        uint256 count = insurance.claimCount();
        uint256 sumApprovedPaid;
        for (uint256 id = 1; id <= count; ++id) {
            InsuranceProvider.Claim memory c = insurance.getClaim(id);
            // Every enrolment of an insurer is on its terms (the handler's enrolment steps included).
            uint16 bps = c.insurer == insurer ? BPS : BPS2;
            assertLe(handler.paySuccesses(id), 1, "paid twice");
            assertLe(handler.approveSuccesses(id), 1, "approved twice");
            assertLe(c.approved, uint256(c.claimed) * bps / 10_000, "approved above the covered percentage");
            if (c.status == InsuranceProvider.ClaimStatus.Paid) {
                assertEq(handler.paySuccesses(id), 1, "paid status without a payment");
                assertEq(handler.paidAmount(id), c.approved, "paid other than approved");
                sumApprovedPaid += c.approved;
            } else {
                assertEq(handler.paySuccesses(id), 0, "payment without paid status");
            }
            if (c.status == InsuranceProvider.ClaimStatus.Submitted || c.status == InsuranceProvider.ClaimStatus.Denied)
            {
                assertEq(c.approved, 0, "approved amount on an unapproved claim");
            }
            assertTrue(c.approved > 0 || c.status != InsuranceProvider.ClaimStatus.Approved, "approved zero");
        }
        uint256 hospitalsReceived = token.balanceOf(hospital) + token.balanceOf(hospital2);
        assertEq(hospitalsReceived, sumApprovedPaid, "tokens paid to hospitals == sum approved of paid claims");
        assertEq(hospitalsReceived, handler.totalPaid(), "ghost total paid");
    }

    function invariant_escrowEqualsBalance() public view {
        uint256 escrow = insurance.escrowOf(insurer) + insurance.escrowOf(insurer2);
        assertEq(token.balanceOf(address(insurance)), escrow, "escrow accounting == token balance");
        assertEq(
            escrow + handler.totalPaid() + handler.totalWithdrawn(),
            ESCROW + 2000e18 + handler.totalFunded(),
            "escrow flows"
        );
        assertEq(token.balanceOf(sink), handler.totalWithdrawn(), "withdrawn");
        assertEq(token.totalSupply(), ESCROW + 2000e18 + HANDLER_TOKENS, "supply");
    }

    function invariant_reservesBackedAndExact() public view {
        uint256[2] memory owed;
        uint256 count = insurance.claimCount();
        for (uint256 id = 1; id <= count; ++id) {
            InsuranceProvider.Claim memory c = insurance.getClaim(id);
            if (c.status == InsuranceProvider.ClaimStatus.Approved) owed[c.insurer == insurer ? 0 : 1] += c.approved;
        }
        assertEq(insurance.reservedOf(insurer), owed[0], "reserve == approved unpaid (insurer)");
        assertEq(insurance.reservedOf(insurer2), owed[1], "reserve == approved unpaid (insurer2)");
        assertGe(insurance.escrowOf(insurer), insurance.reservedOf(insurer), "escrow >= reserved (insurer)");
        assertGe(insurance.escrowOf(insurer2), insurance.reservedOf(insurer2), "escrow >= reserved (insurer2)");
    }

    function invariant_coverageWithinLimits() public view {
        uint256 n = handler.patientCount();
        for (uint256 i; i < n; ++i) {
            (InsuranceProvider.Coverage memory c,) = insurance.coverageOf(handler.patients(i));
            if (c.insurer != address(0)) assertLe(c.used, c.insurer == insurer ? LIMIT : LIMIT2, "used <= limit");
        }
    }

    function invariant_fourEyesAboveTheThreshold() public view {
        uint256 count = insurance.claimCount();
        for (uint256 id = 1; id <= count; ++id) {
            InsuranceProvider.Claim memory c = insurance.getClaim(id);
            (address kiosk, uint96 amount,) = insurance.proposalOf(id);
            if (c.status == InsuranceProvider.ClaimStatus.PendingSecond) {
                assertEq(c.insurer, insurer, "only the insurer with a threshold has proposals");
                assertGe(amount, THRESHOLD + 1, "a proposal is above the threshold");
                assertEq(kiosk, handler.proposer(id), "the proposer is kept");
                assertEq(c.approved, 0, "a proposal approves nothing yet");
            } else {
                assertEq(kiosk, address(0), "a decided claim keeps no proposal");
            }
            bool approved =
                c.status == InsuranceProvider.ClaimStatus.Approved || c.status == InsuranceProvider.ClaimStatus.Paid;
            if (approved && c.insurer == insurer && c.approved > THRESHOLD) {
                assertTrue(handler.confirmedBySecondKiosk(id), "approved above the threshold by one kiosk");
            }
            assertLe(handler.proposals(id), 1, "proposed twice");
        }
    }

    /// @dev A claim settled in one step (settleClaim) was paid exactly once, by exactly the amount it was settled for,
    /// which is its approved amount and what the hospital received; its insurer's escrow went down by exactly that
    /// amount and its reserve did not move; it never had a four-eyes proposal and is within the insurer's threshold.
    function invariant_settledClaimsPaidOnceFromEscrow() public view {
        uint256 count = insurance.claimCount();
        for (uint256 id = 1; id <= count; ++id) {
            uint256 settled = handler.settlements(id);
            if (settled == 0) continue;
            InsuranceProvider.Claim memory c = insurance.getClaim(id);
            assertEq(settled, 1, "settled twice");
            assertTrue(c.status == InsuranceProvider.ClaimStatus.Paid, "settled but not paid");
            assertEq(handler.paySuccesses(id), 1, "a settled claim was paid again");
            assertEq(c.approved, handler.settledAmount(id), "approved other than settled");
            assertEq(handler.paidAmount(id), c.approved, "the hospital received other than the settled amount");
            assertEq(handler.settleEscrowDrop(id), c.approved, "the escrow went down by other than the paid amount");
            assertEq(handler.proposals(id), 0, "a settled claim had a four-eyes proposal");
            if (c.insurer == insurer) assertLe(c.approved, THRESHOLD, "settled above the four-eyes threshold");
        }
        assertEq(handler.settleReserveMoves(), 0, "a settle moved a reserve");
    }

    /// @dev The desks' steps leave exactly what the card signed: a patient registered by the registration step has
    /// its card, epoch 1 and the registering hospital's demographics record first; a refused registration left no
    /// patient, consent or record; every patient has exactly the records appended to it (single calls, visits,
    /// registrations) and is covered by the insurer of its last enrolment on that insurer's terms; the hub holds
    /// exactly the consents the cards signed or revoked, and the card revokes any of them, a step's included, which
    /// ends the institution's access at once.
    function invariant_stepPatientsEnrolmentsAndConsents() public view {
        uint256 n = handler.patientCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.patients(i);
            assertEq(hub.cardKeyOf(id), id, "registered with its card");
            assertEq(records.recordCount(id), handler.recordsOf(id), "records == those appended");
            address registeredAt = handler.registeredAt(id);
            if (registeredAt != address(0)) {
                (,, uint32 hospitalId_) = hub.institutions(registeredAt);
                assertEq(hub.epochOf(id), 1, "a new patient's epoch");
                assertEq(
                    records.recordAuthor(id, 0), hospitalId_, "the demographics record is the registering hospital's"
                );
            }
            (InsuranceProvider.Coverage memory c,) = insurance.coverageOf(id);
            assertEq(c.insurer, handler.insurerOf(id), "covered by the insurer of the last enrolment");
            if (c.insurer != address(0)) {
                assertEq(c.bps, handler.bpsOf(c.insurer), "on its insurer's terms (bps)");
                assertEq(c.annualLimit, handler.limitOf(c.insurer), "on its insurer's terms (limit)");
            }
        }
        n = handler.refusedCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.refused(i);
            assertEq(hub.epochOf(id), 0, "a refused registration registered the patient");
            assertEq(records.recordCount(id), 0, "a refused registration appended a record");
            (uint64 until,,,) = hub.consentOf(id, hospital);
            (uint64 until2,,,) = hub.consentOf(id, hospital2);
            assertEq(until + until2, 0, "a refused registration stored a consent");
        }
        handler.checkConsents();
        assertEq(handler.revokeFailures(), 0, "the patient's card could not revoke a consent");
        assertEq(handler.accessAfterRevoke(), 0, "an institution kept access after the card revoked its consent");
    }

    function invariant_wrongActorsNeverSucceed() public view {
        assertEq(handler.wrongSuccesses(), 0, "double billing or wrong insurer went through");
    }
}
