// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {Role, Scope, CardSig, MalformedEnvelope} from "../../src/CareTypes.sol";
import {PatientSmartCard} from "../../src/PatientSmartCard.sol";
import {PharmacyAccess} from "../../src/PharmacyAccess.sol";
import {InsuranceProvider} from "../../src/InsuranceProvider.sol";

/// @notice Attacks on the desks: the representative's prescription token (replayed, carried to another
/// pharmacy, used after completion, cancellation or expiry, forged, on a prescription without a token), dispensing
/// more than the prescription in parts, and getting around the insurer's four eyes; malformed sealed dispenses and
/// claim responses. Prints the gas of the new calls.
contract DeskAttacks is Fixture {
    uint16 internal constant HALF = 5000;

    /// @dev A prescription of the patient with a token (key TOKEN_PK), issued by hospitalKiosk.
    uint256 internal rx;
    uint256 internal deadline;

    function setUp() public override {
        super.setUp();
        rx = issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        deadline = block.timestamp + 10 minutes;
        fourEyes(THRESHOLD);
        enroll(pid, insurerKiosk, 8000, 10_000e18);
    }

    function _status(uint256 id) internal view returns (PharmacyAccess.Status) {
        return pharmacy.getPrescription(id).status;
    }

    function _claimStatus(uint256 claimId) internal view returns (InsuranceProvider.ClaimStatus s) {
        (s,,,,) = insurance.getClaimStatus(claimId);
    }

    function _invalidSig() internal pure returns (bytes memory) {
        return abi.encodeWithSelector(PatientSmartCard.InvalidCardSignature.selector);
    }

    /// @dev The token signature for `pharmacy_` over the fixture's sealed dispense.
    function _tokenSig(uint256 id, address pharmacy_) internal view returns (CardSig memory) {
        return tokenSig(TOKEN_PK, id, pharmacy_, dispenseEnv(), deadline);
    }

    // ================================================================ the representative's token

    function test_token_redeemedOnceAtThePharmacyItNames() public {
        CardSig memory s = _tokenSig(rx, pharmacyOrg);
        vm.prank(pharmacyKiosk);
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
        assertTrue(_status(rx) == PharmacyAccess.Status.Completed);
        // The same signature again, at the same or another kiosk of that pharmacy.
        address second = makeAddr("pharmacyKioskB");
        _addKiosk(pharmacyOrg, second);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx));
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
        vm.prank(second);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx));
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
        // A fresh token signature for another pharmacy: a photo of a used token is worthless.
        s = _tokenSig(rx, pharmacyOrg2);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx));
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
        assertEq(pharmacy.getPrescription(rx).dispensedBps, WHOLE, "the first redemption stays");
    }

    function test_token_signatureNamingOnePharmacyRefusedAtAnother() public {
        // Seen in the mempool (or in a reverted transaction) and submitted by pharmacy 2.
        CardSig memory forPharmacy1 = _tokenSig(rx, pharmacyOrg);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), forPharmacy1);
        // With another sealed dispense of its own: still the wrong pharmacy and now the wrong content too.
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, env(0xbad), forPharmacy1);
        // A front-runner at the named pharmacy's own kiosk cannot swap the sealed dispense either.
        address second = makeAddr("pharmacyKioskB");
        _addKiosk(pharmacyOrg, second);
        vm.prank(second);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, env(0xbad), forPharmacy1);
        assertTrue(_status(rx) == PharmacyAccess.Status.Ready);
        // The pharmacy it names redeems it.
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionDispensed(rx, pid, pharmacyId, WHOLE, true, keccak256(dispenseEnv()));
        vm.prank(pharmacyKiosk);
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), forPharmacy1);
        assertTrue(_status(rx) == PharmacyAccess.Status.Completed);
    }

    function test_token_replayAfterCompletionByCardRefused() public {
        CardSig memory s = _tokenSig(rx, pharmacyOrg2);
        dispense(PATIENT_PK, rx, pharmacyKiosk);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx));
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
    }

    function test_token_afterCancelRefused() public {
        CardSig memory s = _tokenSig(rx, pharmacyOrg);
        // The doctor's desk cancels the unused prescription whose token was lost.
        vm.prank(hospitalKiosk);
        pharmacy.cancelPrescription(rx, rxPatient(rx), bytes32(0));
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyCancelled.selector, rx));
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
        // The patient's card cancels another one.
        uint256 rx2 = issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        uint64 signedAt = uint64(block.timestamp);
        CardSig memory c = cancelSig(PATIENT_PK, rx2, signedAt);
        pharmacy.cancelPrescriptionByPatient(rx2, rxPatient(rx2), signedAt, c);
        s = _tokenSig(rx2, pharmacyOrg);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyCancelled.selector, rx2));
        pharmacy.dispenseByToken(rx2, rxPatient(rx2), deadline, dispenseEnv(), s);
        // The admin recalls a third one.
        uint256 rx3 = issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        vm.prank(admin);
        pharmacy.cancelPrescription(rx3, rxPatient(rx3), bytes32(0));
        s = _tokenSig(rx3, pharmacyOrg);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyCancelled.selector, rx3));
        pharmacy.dispenseByToken(rx3, rxPatient(rx3), deadline, dispenseEnv(), s);
    }

    function test_token_afterExpiryRefused() public {
        uint40 until = pharmacy.getPrescription(rx).validUntil;
        vm.warp(uint256(until) + 1);
        uint256 d = block.timestamp + 10 minutes;
        CardSig memory s = tokenSig(TOKEN_PK, rx, pharmacyOrg, dispenseEnv(), d);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.PrescriptionExpired.selector, rx, until));
        pharmacy.dispenseByToken(rx, rxPatient(rx), d, dispenseEnv(), s);
        assertTrue(_status(rx) == PharmacyAccess.Status.Ready);
    }

    function test_token_wrongKeyRefused() public {
        // A key the thief made up, signing validly for itself.
        uint256 forged = 0xF0F0F0;
        CardSig memory s = tokenSig(forged, rx, pharmacyOrg, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.InvalidToken.selector, rx));
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
        // The patient's card is not the token either (a pharmacy with the card uses the card's dispense).
        s = tokenSig(PATIENT_PK, rx, pharmacyOrg, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.InvalidToken.selector, rx));
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
        // The right public key with a signature made by another key.
        CardSig memory real = _tokenSig(rx, pharmacyOrg);
        s.qx = real.qx;
        s.qy = real.qy;
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
        // The token key of another prescription.
        uint256 otherRx;
        vm.prank(hospitalKiosk);
        otherRx = pharmacy.issuePrescription(pid, 0, idOf(forged), env(0x5ea1ed));
        s = tokenSig(forged, rx, pharmacyOrg, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.InvalidToken.selector, rx));
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
        assertTrue(_status(rx) == PharmacyAccess.Status.Ready);
        assertTrue(_status(otherRx) == PharmacyAccess.Status.Ready);
    }

    function test_token_prescriptionWithoutTokenRefused() public {
        uint256 plain = issue(pid, hospitalKiosk, 0);
        CardSig memory s = _tokenSig(plain, pharmacyOrg);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.NoToken.selector, plain));
        pharmacy.dispenseByToken(plain, rxPatient(plain), deadline, dispenseEnv(), s);
        // Not even with the public key zero (keccak256 of which is not zero either).
        s.qx = 0;
        s.qy = 0;
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.NoToken.selector, plain));
        pharmacy.dispenseByToken(plain, rxPatient(plain), deadline, dispenseEnv(), s);
        assertTrue(_status(plain) == PharmacyAccess.Status.Ready);
    }

    function test_token_afterAPartialCardDispenseTakesTheRest() public {
        dispensePart(PATIENT_PK, rx, pharmacyKiosk, 3000);
        assertTrue(_status(rx) == PharmacyAccess.Status.Partial);
        bytes memory sealedDispense = env(0x70C);
        CardSig memory s = tokenSig(TOKEN_PK, rx, pharmacyOrg2, sealedDispense, deadline);
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionDispensed(rx, pid, pharmacy2Id, WHOLE - 3000, true, keccak256(sealedDispense));
        vm.prank(pharmacy2Kiosk);
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, sealedDispense, s);
        PharmacyAccess.Prescription memory p = pharmacy.getPrescription(rx);
        assertTrue(p.status == PharmacyAccess.Status.Completed);
        assertEq(p.dispensedBps, WHOLE, "the rest, not another whole");
        // The card has nothing left to dispense.
        CardSig memory c = partSig(PATIENT_PK, rx, pharmacyOrg, 1, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx));
        pharmacy.dispensePrescription(rx, rxPatient(rx), 1, deadline, dispenseEnv(), c);
    }

    function test_token_versusCard_exactlyTheWholeOnce() public {
        // The patient at pharmacy 1 with the card, the representative at pharmacy 2 with the token, at once.
        CardSig memory card = partSig(PATIENT_PK, rx, pharmacyOrg, WHOLE, dispenseEnv(), deadline);
        CardSig memory tok = _tokenSig(rx, pharmacyOrg2);
        vm.prank(pharmacy2Kiosk);
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), tok);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), card);
        assertEq(pharmacy.getPrescription(rx).dispensedBps, WHOLE);
        assertEq(hub.nonces(pid), 0, "the refused card dispense used no nonce");
    }

    /// The deadline a kiosk passes with a token signature, at its extremes: past ones are refused, any future one
    /// redeems exactly once.
    function testFuzz_token_deadlineAtItsExtremes(uint256 dl) public {
        CardSig memory s = tokenSig(TOKEN_PK, rx, pharmacyOrg, dispenseEnv(), dl);
        vm.prank(pharmacyKiosk);
        if (dl < block.timestamp) {
            vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.SignatureExpired.selector, dl));
            pharmacy.dispenseByToken(rx, rxPatient(rx), dl, dispenseEnv(), s);
            assertTrue(_status(rx) == PharmacyAccess.Status.Ready);
        } else {
            pharmacy.dispenseByToken(rx, rxPatient(rx), dl, dispenseEnv(), s);
            assertTrue(_status(rx) == PharmacyAccess.Status.Completed);
            vm.prank(pharmacyKiosk);
            vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx));
            pharmacy.dispenseByToken(rx, rxPatient(rx), dl, dispenseEnv(), s);
        }
    }

    function test_token_needsAnActivePharmacyKiosk() public {
        CardSig memory s = _tokenSig(rx, hospital);
        vm.prank(hospitalKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, hospital, Role.Pharmacy, Role.Hospital)
        );
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
        s = _tokenSig(rx, insurer);
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, insurer, Role.Pharmacy, Role.Insurer)
        );
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
        // The thief of a token has no kiosk: an address of its own is nothing.
        s = _tokenSig(rx, stranger);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
        // A removed kiosk key of a real pharmacy.
        s = _tokenSig(rx, pharmacyOrg);
        vm.prank(pharmacyOrg);
        hub.removeKiosk(pharmacyKiosk);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, pharmacyKiosk));
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, dispenseEnv(), s);
        assertTrue(_status(rx) == PharmacyAccess.Status.Ready);
    }

    // ================================================================ over-dispensing

    function test_overDispense_halfThenMoreThanHalfRefused() public {
        dispensePart(PATIENT_PK, rx, pharmacyKiosk, HALF);
        CardSig memory s = partSig(PATIENT_PK, rx, pharmacyOrg, 6000, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.InvalidPart.selector, rx, 6000, HALF));
        pharmacy.dispensePrescription(rx, rxPatient(rx), 6000, deadline, dispenseEnv(), s);
        assertEq(pharmacy.getPrescription(rx).dispensedBps, HALF);
        dispensePart(PATIENT_PK, rx, pharmacyKiosk, HALF);
        assertTrue(_status(rx) == PharmacyAccess.Status.Completed);
    }

    function test_overDispense_partZeroRefused() public {
        // A zero part would be a free signature that moves nothing but the nonce: refused.
        CardSig memory s = partSig(PATIENT_PK, rx, pharmacyOrg, 0, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.InvalidPart.selector, rx, 0, 0));
        pharmacy.dispensePrescription(rx, rxPatient(rx), 0, deadline, dispenseEnv(), s);
        assertTrue(_status(rx) == PharmacyAccess.Status.Ready);
        assertEq(hub.nonces(pid), 0);
    }

    function test_overDispense_twoPharmaciesNeverMoreThanTheWhole() public {
        grant(PATIENT_PK, pid, pharmacy2Kiosk, Scope.READ | Scope.DISPENSE, 0);
        dispensePart(PATIENT_PK, rx, pharmacyKiosk, 6000);
        CardSig memory s = partSig(PATIENT_PK, rx, pharmacyOrg2, HALF, dispenseEnv(), deadline);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.InvalidPart.selector, rx, HALF, 6000));
        pharmacy.dispensePrescription(rx, rxPatient(rx), HALF, deadline, dispenseEnv(), s);
        dispensePart(PATIENT_PK, rx, pharmacy2Kiosk, 4000);
        PharmacyAccess.Prescription memory p = pharmacy.getPrescription(rx);
        assertTrue(p.status == PharmacyAccess.Status.Completed);
        assertEq(p.dispensedBps, WHOLE);
    }

    function test_overDispense_aPartsSignatureCannotBeReplayedForMore() public {
        CardSig memory s = partSig(PATIENT_PK, rx, pharmacyOrg, 2000, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(rx, rxPatient(rx), 2000, deadline, dispenseEnv(), s);
        // The same signature again (the nonce moved), or for a larger part.
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(rx, rxPatient(rx), 2000, deadline, dispenseEnv(), s);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(rx, rxPatient(rx), 8000, deadline, dispenseEnv(), s);
        assertEq(pharmacy.getPrescription(rx).dispensedBps, 2000);
        assertEq(hub.nonces(pid), 1);
    }

    /// @dev A card signature binds the part and the sealed dispense: a kiosk that changes either, after the card
    /// signed, is refused (the card shows the part; the kiosk cannot turn 10 % into 100 %).
    function testFuzz_overDispense_tamperedPartOrContentRefused(uint16 signedPart, uint16 sentPart, uint256 seed)
        public
    {
        signedPart = uint16(bound(signedPart, 1, WHOLE));
        sentPart = uint16(bound(sentPart, 1, WHOLE));
        bytes memory signedContent = env(seed);
        bytes memory sentContent = seed % 2 == 0 ? signedContent : env(seed ^ 1);
        vm.assume(sentPart != signedPart || keccak256(sentContent) != keccak256(signedContent));
        CardSig memory s = partSig(PATIENT_PK, rx, pharmacyOrg, signedPart, signedContent, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(rx, rxPatient(rx), sentPart, deadline, sentContent, s);
        assertTrue(_status(rx) == PharmacyAccess.Status.Ready);
    }

    /// @dev Any sequence of parts: the sum accepted never exceeds the whole, exactly the parts that fit are
    /// accepted, and the status follows (Ready, Partial, Completed).
    function testFuzz_overDispense_partsNeverExceedTheWhole(uint16[6] memory parts) public {
        uint256 sum;
        for (uint256 i; i < parts.length; ++i) {
            uint16 part = uint16(bound(parts[i], 0, 6000));
            uint256 d = block.timestamp + 10 minutes;
            CardSig memory s = partSig(PATIENT_PK, rx, pharmacyOrg, part, dispenseEnv(), d);
            bool fits = part != 0 && sum + part <= WHOLE;
            vm.prank(pharmacyKiosk);
            if (sum == WHOLE) {
                vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx));
            } else if (!fits) {
                vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.InvalidPart.selector, rx, part, uint16(sum)));
            }
            pharmacy.dispensePrescription(rx, rxPatient(rx), part, d, dispenseEnv(), s);
            if (sum < WHOLE && fits) sum += part;
            PharmacyAccess.Prescription memory p = pharmacy.getPrescription(rx);
            assertEq(p.dispensedBps, sum, "the parts add up");
            if (sum == WHOLE) assertTrue(p.status == PharmacyAccess.Status.Completed, "completed");
            else if (sum > 0) assertTrue(p.status == PharmacyAccess.Status.Partial, "partial");
            else assertTrue(p.status == PharmacyAccess.Status.Ready, "ready");
        }
        assertLe(sum, WHOLE, "never beyond the whole");
    }

    function test_malformedSealedDispenseRefusedByBothDispenses() public {
        bytes memory plain = bytes("MedicationDispense: 20 x ibuprofen 400");
        CardSig memory c = partSig(PATIENT_PK, rx, pharmacyOrg, WHOLE, plain, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, plain.length));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, plain, c);
        CardSig memory t = tokenSig(TOKEN_PK, rx, pharmacyOrg, plain, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, plain.length));
        pharmacy.dispenseByToken(rx, rxPatient(rx), deadline, plain, t);
        assertTrue(_status(rx) == PharmacyAccess.Status.Ready);
        assertEq(hub.nonces(pid), 0);
    }

    // ================================================================ four eyes

    function _propose(uint256 claimId, address kiosk, uint256 amount) internal {
        vm.prank(kiosk);
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), amount, responseEnv());
    }

    /// Any amount a kiosk proposes above the coverage cap is refused, whether or not it is above the four-eyes
    /// threshold: nothing pends, nothing is reserved, no amount is truncated into the proposal.
    function testFuzz_fourEyes_anyAmountAboveTheCapRefused(uint256 amount) public {
        uint256 claimId = recordAndClaim(pid, 1000e18);
        amount = bound(amount, 800e18 + 1, type(uint256).max);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, amount, 800e18));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), amount, responseEnv());
        assertTrue(_claimStatus(claimId) == InsuranceProvider.ClaimStatus.Submitted);
        assertEq(insurance.reservedOf(insurer), 0);
    }

    function test_fourEyes_belowTheThresholdOneKioskApproves() public {
        uint256 claimId = recordAndClaim(pid, 100e18);
        _propose(claimId, insurerKiosk, 80e18);
        assertTrue(_claimStatus(claimId) == InsuranceProvider.ClaimStatus.Approved);
        assertEq(insurance.reservedOf(insurer), 80e18);
    }

    function test_fourEyes_aboveTheThresholdPendsAndReservesNothing() public {
        uint256 claimId = recordAndClaim(pid, 1000e18);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ClaimApprovalProposed(claimId, insurerKiosk, 800e18, keccak256(responseEnv()));
        _propose(claimId, insurerKiosk, 800e18);
        assertTrue(_claimStatus(claimId) == InsuranceProvider.ClaimStatus.PendingSecond);
        assertEq(insurance.reservedOf(insurer), 0);
        (InsuranceProvider.Coverage memory cov,) = insurance.coverageOf(pid);
        assertEq(cov.used, 0);
        // The whole escrow can still be withdrawn: nothing is owed yet.
        vm.prank(insurer);
        insurance.withdrawEscrow(ESCROW, insurer);
        // And then the confirmation fails on the escrow, checked again.
        vm.prank(insurerKioskB);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, 0, 800e18));
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
    }

    function test_fourEyes_sameKioskCannotConfirmOrApproveAgain() public {
        uint256 claimId = recordAndClaim(pid, 1000e18);
        _propose(claimId, insurerKiosk, 800e18);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.SameReviewer.selector, claimId, insurerKiosk));
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
        // Approving again (to replace the proposal, or under the threshold) is refused while it waits.
        bytes memory notPending = abi.encodeWithSelector(
            InsuranceProvider.ClaimNotPending.selector, claimId, InsuranceProvider.ClaimStatus.PendingSecond
        );
        vm.prank(insurerKiosk);
        vm.expectRevert(notPending);
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 100e18, responseEnv());
        vm.prank(insurerKioskB);
        vm.expectRevert(notPending);
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 800e18, responseEnv());
        // The institution address is no kiosk; lowering the threshold now does not approve the waiting claim.
        vm.prank(insurer);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, insurer));
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
        vm.prank(insurer);
        insurance.setApprovalThreshold(0);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.SameReviewer.selector, claimId, insurerKiosk));
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
        assertTrue(_claimStatus(claimId) == InsuranceProvider.ClaimStatus.PendingSecond);
        assertEq(insurance.reservedOf(insurer), 0);
    }

    function test_fourEyes_kioskOfAnotherInsurerCannotConfirm() public {
        uint256 claimId = recordAndClaim(pid, 1000e18);
        _propose(claimId, insurerKiosk, 800e18);
        vm.prank(insurer2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.WrongInsurer.selector, claimId, insurer2Kiosk));
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
        // Nor any other role's kiosk, nor a stranger.
        vm.prank(hospitalKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, hospital, Role.Insurer, Role.Hospital)
        );
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
        assertTrue(_claimStatus(claimId) == InsuranceProvider.ClaimStatus.PendingSecond);
    }

    function test_fourEyes_secondKioskConfirmsAndReserves() public {
        uint256 claimId = recordAndClaim(pid, 1000e18);
        bytes memory response = env(0x7e5e);
        vm.prank(insurerKiosk);
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 800e18, response);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ClaimApproved(claimId, insurer, 800e18, keccak256(response));
        vm.prank(insurerKioskB);
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
        assertTrue(_claimStatus(claimId) == InsuranceProvider.ClaimStatus.Approved);
        assertEq(insurance.getClaim(claimId).approved, 800e18);
        assertEq(insurance.reservedOf(insurer), 800e18);
        // Confirmed once: a second confirmation (by the proposer or the confirmer) is refused.
        bytes memory notWaiting = abi.encodeWithSelector(
            InsuranceProvider.NotPendingSecond.selector, claimId, InsuranceProvider.ClaimStatus.Approved
        );
        vm.prank(insurerKioskB);
        vm.expectRevert(notWaiting);
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
        vm.prank(insurerKiosk);
        vm.expectRevert(notWaiting);
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
        vm.prank(hospitalKiosk);
        insurance.processPayment(claimId, bytes32(0));
        assertEq(token.balanceOf(hospital), 800e18);
        assertEq(insurance.reservedOf(insurer), 0);
    }

    function test_fourEyes_confirmRechecksCoverage() public {
        // Two claims proposed above the threshold; the limit holds only one of them once both are confirmed.
        enroll(pid, insurerKiosk, 10_000, 1000e18);
        uint256 a = recordAndClaim(pid, 800e18);
        uint256 b = recordAndClaim(pid, 800e18);
        _propose(a, insurerKiosk, 800e18);
        _propose(b, insurerKiosk, 800e18);
        vm.prank(insurerKioskB);
        insurance.confirmApproval(a, claimPatient(a), bytes32(0));
        vm.prank(insurerKioskB);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, 800e18, 200e18));
        insurance.confirmApproval(b, claimPatient(b), bytes32(0));
        assertTrue(_claimStatus(b) == InsuranceProvider.ClaimStatus.PendingSecond);
        // The second reviewer denies it instead.
        vm.prank(insurerKioskB);
        insurance.denyClaim(b, bytes32(0), 12, responseEnv());
        assertTrue(_claimStatus(b) == InsuranceProvider.ClaimStatus.Denied);
    }

    function test_fourEyes_payBeforeConfirmRefused() public {
        uint256 claimId = recordAndClaim(pid, 1000e18);
        _propose(claimId, insurerKiosk, 800e18);
        bytes memory notApproved = abi.encodeWithSelector(
            InsuranceProvider.ClaimNotApproved.selector, claimId, InsuranceProvider.ClaimStatus.PendingSecond
        );
        vm.prank(insurerKiosk);
        vm.expectRevert(notApproved);
        insurance.processPayment(claimId, bytes32(0));
        vm.prank(hospitalKiosk);
        vm.expectRevert(notApproved);
        insurance.processPayment(claimId, bytes32(0));
        assertEq(token.balanceOf(hospital), 0);
        assertEq(insurance.escrowOf(insurer), ESCROW);
    }

    function test_fourEyes_denyWhilePending() public {
        uint256 a = recordAndClaim(pid, 1000e18);
        uint256 b = recordAndClaim(pid, 1000e18);
        _propose(a, insurerKiosk, 800e18);
        _propose(b, insurerKiosk, 800e18);
        // The second kiosk disagrees.
        bytes memory reasons = env(0xdE41);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ClaimDenied(a, insurer, 3, keccak256(reasons));
        vm.prank(insurerKioskB);
        insurance.denyClaim(a, bytes32(0), 3, reasons);
        // The proposer withdraws its own proposal by denying.
        vm.prank(insurerKiosk);
        insurance.denyClaim(b, bytes32(0), 4, responseEnv());
        for (uint256 i; i < 2; ++i) {
            uint256 id = i == 0 ? a : b;
            assertTrue(_claimStatus(id) == InsuranceProvider.ClaimStatus.Denied);
            (address kiosk,,) = insurance.proposalOf(id);
            assertEq(kiosk, address(0), "the proposal is gone");
            vm.prank(insurerKioskB);
            vm.expectRevert(
                abi.encodeWithSelector(
                    InsuranceProvider.NotPendingSecond.selector, id, InsuranceProvider.ClaimStatus.Denied
                )
            );
            insurance.confirmApproval(id, claimPatient(id), bytes32(0));
        }
        // Another insurer's kiosk cannot deny a pending claim.
        uint256 c = recordAndClaim(pid, 1000e18);
        _propose(c, insurerKiosk, 800e18);
        vm.prank(insurer2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.WrongInsurer.selector, c, insurer2Kiosk));
        insurance.denyClaim(c, bytes32(0), 1, responseEnv());
        assertEq(insurance.reservedOf(insurer), 0);
    }

    function test_fourEyes_thresholdSetOnlyByTheInsurerAddress() public {
        // A kiosk cannot lift its own insurer's threshold to approve alone.
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, insurerKiosk));
        insurance.setApprovalThreshold(type(uint256).max);
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, hospital));
        insurance.setApprovalThreshold(0);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, admin));
        insurance.setApprovalThreshold(0);
        assertEq(insurance.approvalThresholdOf(insurer), THRESHOLD);
        // Another insurer's threshold is its own.
        vm.prank(insurer2);
        insurance.setApprovalThreshold(1);
        assertEq(insurance.approvalThresholdOf(insurer), THRESHOLD);
    }

    function test_malformedClaimResponseRefused() public {
        uint256 claimId = recordAndClaim(pid, 100e18);
        bytes memory plain = bytes("approved: 80 of 100, item 1 eligible");
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, plain.length));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 80e18, plain);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, plain.length));
        insurance.denyClaim(claimId, bytes32(0), 1, plain);
        // Also above the threshold, and when denying a pending claim.
        uint256 big = recordAndClaim(pid, 1000e18);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, plain.length));
        insurance.approveClaim(big, claimPatient(big), bytes32(0), 800e18, plain);
        _propose(big, insurerKiosk, 800e18);
        vm.prank(insurerKioskB);
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, plain.length));
        insurance.denyClaim(big, bytes32(0), 1, plain);
        assertTrue(_claimStatus(claimId) == InsuranceProvider.ClaimStatus.Submitted);
        assertTrue(_claimStatus(big) == InsuranceProvider.ClaimStatus.PendingSecond);
    }

    // ================================================================ gas

    /// @dev Sends `data` to `target` from `from` with every contract's storage cold (as in a transaction of its
    /// own) and prints its execution gas and its transaction gas (21,000 + calldata + execution).
    function _measure(string memory label, address from, address target, bytes memory data) internal {
        vm.cool(address(hub));
        vm.cool(address(records));
        vm.cool(address(pharmacy));
        vm.cool(address(insurance));
        vm.cool(address(token));
        vm.prank(from);
        (bool ok,) = target.call(data);
        assertTrue(ok, label);
        uint256 used = vm.lastCallGas().gasTotalUsed;
        uint256 calldataGas;
        for (uint256 i; i < data.length; ++i) {
            calldataGas += data[i] == 0 ? 4 : 16;
        }
        log(string.concat(label, ": execution gas"), used);
        log(string.concat(label, ": transaction gas (21000 + calldata + execution)"), 21_000 + calldataGas + used);
    }

    /// @dev The gas of the new desk calls, each with cold storage, sealed payloads of the smallest bucket (784 bytes):
    /// `forge test --match-test test_gas_desks -vv`.
    function test_gas_desks() public {
        // Half of a prescription with the card, then the token takes the rest.
        CardSig memory c = partSig(PATIENT_PK, rx, pharmacyOrg, HALF, dispenseEnv(), deadline);
        _measure(
            "dispensePrescription (a half: Ready -> Partial)",
            pharmacyKiosk,
            address(pharmacy),
            abi.encodeCall(PharmacyAccess.dispensePrescription, (rx, rxPatient(rx), HALF, deadline, dispenseEnv(), c))
        );
        CardSig memory t = _tokenSig(rx, pharmacyOrg);
        _measure(
            "dispenseByToken (the rest: Partial -> Completed)",
            pharmacyKiosk,
            address(pharmacy),
            abi.encodeCall(PharmacyAccess.dispenseByToken, (rx, rxPatient(rx), deadline, dispenseEnv(), t))
        );
        uint256 rx2 = issue(pid, hospitalKiosk, 0);
        c = partSig(PATIENT_PK, rx2, pharmacyOrg, WHOLE, dispenseEnv(), deadline);
        _measure(
            "dispensePrescription (the whole: Ready -> Completed)",
            pharmacyKiosk,
            address(pharmacy),
            abi.encodeCall(PharmacyAccess.dispensePrescription, (rx2, rxPatient(rx2), WHOLE, deadline, dispenseEnv(), c))
        );
        uint256 rx3 = issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        t = _tokenSig(rx3, pharmacyOrg);
        _measure(
            "dispenseByToken (the whole: Ready -> Completed)",
            pharmacyKiosk,
            address(pharmacy),
            abi.encodeCall(PharmacyAccess.dispenseByToken, (rx3, rxPatient(rx3), deadline, dispenseEnv(), t))
        );

        uint256 small = recordAndClaim(pid, 100e18);
        _measure(
            "approveClaim (at most the threshold: Approved)",
            insurerKiosk,
            address(insurance),
            abi.encodeCall(InsuranceProvider.approveClaim, (small, claimPatient(small), bytes32(0), 80e18, responseEnv()))
        );
        uint256 claimId = recordAndClaim(pid, 1000e18);
        _measure(
            "approveClaim (above the threshold: PendingSecond)",
            insurerKiosk,
            address(insurance),
            abi.encodeCall(InsuranceProvider.approveClaim, (claimId, claimPatient(claimId), bytes32(0), 800e18, responseEnv()))
        );
        _measure(
            "confirmApproval (PendingSecond -> Approved)",
            insurerKioskB,
            address(insurance),
            abi.encodeCall(InsuranceProvider.confirmApproval, (claimId, claimPatient(claimId), bytes32(0)))
        );
        uint256 denied = recordAndClaim(pid, 100e18);
        _measure(
            "denyClaim",
            insurerKiosk,
            address(insurance),
            abi.encodeCall(InsuranceProvider.denyClaim, (denied, bytes32(0), 2, responseEnv()))
        );
        assertTrue(_claimStatus(claimId) == InsuranceProvider.ClaimStatus.Approved);
        assertTrue(_status(rx3) == PharmacyAccess.Status.Completed);
    }
}
