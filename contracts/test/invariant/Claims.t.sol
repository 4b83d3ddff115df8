// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {InvariantTargets} from "../utils/Invariant.sol";
import {InsuranceProvider} from "../../src/InsuranceProvider.sol";
import {Scope} from "../../src/CareTypes.sol";
import {ClaimHandler} from "./handlers/ClaimHandler.sol";

/// @notice A claim is paid at most once and never above its approved amount; the money adds up; an approval above
/// the insurer's threshold was confirmed by a second kiosk, and a proposal reserves nothing.
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
            hub,
            records,
            insurance,
            token,
            [hospitalKiosk, hospital2Kiosk],
            [insurer, insurer2],
            [insurerKiosk, insurer2Kiosk],
            [PATIENT_PK, OTHER_PK],
            sink,
            insurerKioskB
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
            uint16 bps = c.patientId == pid ? BPS : BPS2;
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
        (InsuranceProvider.Coverage memory c,) = insurance.coverageOf(pid);
        assertLe(c.used, LIMIT, "used <= limit");
        (c,) = insurance.coverageOf(other);
        assertLe(c.used, LIMIT2, "used <= limit (other)");
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

    function invariant_wrongActorsNeverSucceed() public view {
        assertEq(handler.wrongSuccesses(), 0, "double billing or wrong insurer went through");
    }
}
