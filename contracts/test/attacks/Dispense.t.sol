// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {Role, Scope, CardSig} from "../../src/CareTypes.sol";
import {PatientSmartCard} from "../../src/PatientSmartCard.sol";
import {PharmacyAccess} from "../../src/PharmacyAccess.sol";

/// @notice Attacks on dispensing: a pharmacy dispensing twice, two pharmacies racing for one prescription (exactly
/// one wins, whichever lands first), dispensing what was cancelled or expired, a pharmacy without consent.
contract DispenseAttacks is Fixture {
    uint256 internal rx;
    uint256 internal deadline;

    function setUp() public override {
        super.setUp();
        // Both pharmacies hold the patient's READ|DISPENSE consent: the patient visited both.
        grant(PATIENT_PK, pid, pharmacy2Kiosk, Scope.READ | Scope.DISPENSE, 0);
        rx = issue(pid, hospitalKiosk, 0);
        deadline = block.timestamp + 10 minutes;
    }

    function _status(uint256 id) internal view returns (PharmacyAccess.Status) {
        return pharmacy.getPrescription(id).status;
    }

    function _dispensedCount(uint256 id) internal view returns (uint256) {
        return _status(id) == PharmacyAccess.Status.Completed ? 1 : 0;
    }

    // ================================================================ dispensing twice

    function test_twice_samePharmacyWithAFreshCardSignatureRefused() public {
        dispense(PATIENT_PK, rx, pharmacyKiosk);
        PharmacyAccess.Prescription memory first = pharmacy.getPrescription(rx);
        uint256 nonce = hub.nonces(pid);
        vm.warp(block.timestamp + 1 hours);
        // A genuine new signature at the card's current nonce: the card is willing, the prescription is not.
        CardSig memory again = dispenseSig(PATIENT_PK, rx, pharmacyOrg, block.timestamp + 10 minutes);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, block.timestamp + 10 minutes, dispenseEnv(), again);
        PharmacyAccess.Prescription memory after_ = pharmacy.getPrescription(rx);
        assertEq(keccak256(abi.encode(after_)), keccak256(abi.encode(first)), "the first dispense's state kept");
        assertEq(hub.nonces(pid), nonce, "no card nonce used by the refused dispense");
    }

    function test_twice_fromAnotherKioskOfTheSamePharmacyRefused() public {
        address second = makeAddr("pharmacyKioskB");
        _addKiosk(pharmacyOrg, second);
        CardSig memory s = dispenseSig(PATIENT_PK, rx, pharmacyOrg, deadline);
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), s);
        // The same (still-valid-looking) signature from the counter next door.
        vm.prank(second);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), s);
        assertEq(_dispensedCount(rx), 1);
    }

    // ================================================================ two pharmacies racing

    /// @dev The card signed a Dispense for each pharmacy at the same nonce (the patient went to both); both
    /// transactions are in flight; `firstIs1` decides which one the block orders first.
    function _race(bool firstIs1) internal {
        CardSig memory for1 = dispenseSig(PATIENT_PK, rx, pharmacyOrg, deadline);
        CardSig memory for2 = dispenseSig(PATIENT_PK, rx, pharmacyOrg2, deadline);
        (address winner, CardSig memory w, address loser, CardSig memory l) =
            firstIs1 ? (pharmacyKiosk, for1, pharmacy2Kiosk, for2) : (pharmacy2Kiosk, for2, pharmacyKiosk, for1);
        uint256 nonce = hub.nonces(pid);

        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionDispensed(
            rx, pid, firstIs1 ? pharmacyId : pharmacy2Id, WHOLE, false, keccak256(dispenseEnv())
        );
        vm.prank(winner);
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), w);
        vm.prank(loser);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), l);

        assertEq(_dispensedCount(rx), 1, "dispensed exactly once");
        // The first one's event named its pharmacy (expected above); the second changed nothing.
        assertEq(pharmacy.getPrescription(rx).dispensedBps, WHOLE, "the first wins");
        assertEq(hub.nonces(pid), nonce + 1, "exactly one card nonce used");
    }

    function test_race_pharmacy1First() public {
        _race(true);
    }

    function test_race_pharmacy2First() public {
        _race(false);
    }

    function testFuzz_race_exactlyOneWinsWhateverTheOrder(bool firstIs1, uint8 kiosksEach) public {
        _race(firstIs1);
        // Every further attempt, from any kiosk of either pharmacy, with fresh signatures, is refused too.
        kiosksEach = uint8(bound(kiosksEach, 1, 4));
        for (uint256 i; i < kiosksEach; ++i) {
            address k1 = makeAddr(string.concat("p1-", _dec(i)));
            address k2 = makeAddr(string.concat("p2-", _dec(i)));
            _addKiosk(pharmacyOrg, k1);
            _addKiosk(pharmacyOrg2, k2);
            CardSig memory s1 = dispenseSig(PATIENT_PK, rx, pharmacyOrg, deadline);
            CardSig memory s2 = dispenseSig(PATIENT_PK, rx, pharmacyOrg2, deadline);
            vm.prank(k1);
            vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx));
            pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), s1);
            vm.prank(k2);
            vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx));
            pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), s2);
        }
        assertEq(_dispensedCount(rx), 1);
    }

    function test_race_loserCannotRecycleItsSignatureOnAnotherPrescription() public {
        uint256 rx2 = issue(pid, hospitalKiosk, 0);
        CardSig memory for2 = dispenseSig(PATIENT_PK, rx, pharmacyOrg2, deadline);
        dispense(PATIENT_PK, rx, pharmacyKiosk);
        // Pharmacy 2 lost rx; its signature named rx and an old nonce, so it is worthless for rx2 as well.
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidCardSignature.selector));
        pharmacy.dispensePrescription(rx2, rxPatient(rx2), WHOLE, deadline, dispenseEnv(), for2);
        assertTrue(_status(rx2) == PharmacyAccess.Status.Ready);
    }

    function test_race_cancelVersusDispense_exactlyOneHappens() public {
        CardSig memory s = dispenseSig(PATIENT_PK, rx, pharmacyOrg, deadline);
        vm.prank(hospitalKiosk);
        pharmacy.cancelPrescription(rx, rxPatient(rx), bytes32(0));
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyCancelled.selector, rx));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), s);
        assertTrue(_status(rx) == PharmacyAccess.Status.Cancelled);

        uint256 rx2 = issue(pid, hospitalKiosk, 0);
        dispense(PATIENT_PK, rx2, pharmacyKiosk);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx2));
        pharmacy.cancelPrescription(rx2, rxPatient(rx2), bytes32(0));
        assertTrue(_status(rx2) == PharmacyAccess.Status.Completed);
    }

    // ================================================================ other ways in

    function test_pharmacyWithoutDispenseConsentRefused() public {
        // A third pharmacy the patient never visited, with a (somehow obtained) signature naming it.
        address org3 = makeAddr("pharmacyOrg3");
        address kiosk3 = makeAddr("pharmacy3Kiosk");
        registerInstitution(org3, Role.Pharmacy);
        _addKiosk(org3, kiosk3);
        CardSig memory s = dispenseSig(PATIENT_PK, rx, org3, deadline);
        vm.prank(kiosk3);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, org3));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), s);
        // READ only is not enough either.
        grant(PATIENT_PK, pid, kiosk3, Scope.READ, 0);
        vm.prank(kiosk3);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.ScopeNotGranted.selector, pid, org3, Scope.DISPENSE));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), s);
        assertTrue(_status(rx) == PharmacyAccess.Status.Ready);
    }

    function test_expiredPrescriptionRefusedEvenWithFreshConsentAndSignature() public {
        uint40 until = pharmacy.getPrescription(rx).validUntil;
        vm.warp(uint256(until) + 1);
        grant(PATIENT_PK, pid, pharmacyKiosk, Scope.READ | Scope.DISPENSE, 0);
        uint256 d = block.timestamp + 10 minutes;
        CardSig memory s = dispenseSig(PATIENT_PK, rx, pharmacyOrg, d);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.PrescriptionExpired.selector, rx, until));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, d, dispenseEnv(), s);
        assertEq(_dispensedCount(rx), 0);
    }

    function test_expiredSignatureRefused() public {
        CardSig memory s = dispenseSig(PATIENT_PK, rx, pharmacyOrg, deadline);
        vm.warp(deadline + 1);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.SignatureExpired.selector, deadline));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), s);
        assertEq(_dispensedCount(rx), 0);
    }

    function test_nonexistentPrescriptionRefused() public {
        uint256 ghost = rx + 1;
        CardSig memory s = cardSig(PATIENT_PK, dispenseHash(ghost, pharmacyOrg, hub.nonces(pid), deadline));
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.NoSuchPrescription.selector, ghost));
        pharmacy.dispensePrescription(ghost, rxPatient(ghost), WHOLE, deadline, dispenseEnv(), s);
    }
}
