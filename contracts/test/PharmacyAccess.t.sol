// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./utils/Fixture.sol";
import {Role, Scope, CardSig, MalformedEnvelope, Envelope, ConsentTerms} from "../src/CareTypes.sol";
import {PatientSmartCard} from "../src/PatientSmartCard.sol";
import {HospitalRecord} from "../src/HospitalRecord.sol";
import {PharmacyAccess} from "../src/PharmacyAccess.sol";

contract PharmacyAccessTest is Fixture {
    /// @dev A sealed MedicationRequest (a well-formed envelope).
    bytes internal RX;

    function setUp() public override {
        super.setUp();
        RX = envOf(1024, 0x5ea1ed);
    }

    function _invalidSig() internal pure returns (bytes memory) {
        return abi.encodeWithSelector(PatientSmartCard.InvalidCardSignature.selector);
    }

    function _status(uint256 id) internal view returns (PharmacyAccess.Status) {
        return pharmacy.getPrescription(id).status;
    }

    function test_constants() public view {
        assertEq(pharmacy.DEFAULT_VALIDITY(), 28 days);
        assertEq(pharmacy.MAX_VALIDITY(), 365 days);
        assertEq(pharmacy.MAX_PAGE(), 50);
        assertEq(pharmacy.MAX_BUCKET(), 16 * 1024);
        assertEq(pharmacy.MAX_SIGNATURE_AGE(), hub.MAX_SIGNATURE_AGE());
        assertEq(pharmacy.MAX_CLOCK_SKEW(), hub.MAX_CLOCK_SKEW());
        assertEq(pharmacy.WHOLE(), 10_000);
        assertEq(
            pharmacy.DISPENSE_TYPEHASH(),
            keccak256(
                "Dispense(uint256 prescriptionId,address pharmacy,uint16 part,bytes32 contentHash,uint256 nonce,uint256 deadline)"
            )
        );
        assertEq(
            pharmacy.DISPENSE_BY_TOKEN_TYPEHASH(),
            keccak256("DispenseByToken(uint256 prescriptionId,address pharmacy,bytes32 contentHash,uint256 deadline)")
        );
        assertEq(pharmacy.CANCEL_TYPEHASH(), keccak256("CancelPrescription(uint256 prescriptionId,uint64 signedAt)"));
    }

    // ================================================================ registerPharmacy

    function test_registerPharmacy() public {
        address x = makeAddr("newPharmacy");
        (address regTarget, bytes memory regCall) = registerCall(x, Role.Pharmacy);
        scheduleGoverned(regTarget, regCall);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.InstitutionRegistered(x, Role.Pharmacy, 7);
        executeGoverned(regTarget, regCall);
        (,, uint32 newId) = hub.institutions(x);
        assertEq(newId, 7);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, stranger));
        pharmacy.registerPharmacy(makeAddr("other"));
        (address target, bytes memory data) = registerCall(x, Role.Pharmacy);
        vm.startPrank(admin);
        hub.schedule(target, data);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.AlreadyRegistered.selector, x));
        hub.execute(target, data);
        vm.stopPrank();
    }

    // ================================================================ issuePrescription

    function test_issuePrescription_defaultValidity() public {
        uint40 until = uint40(block.timestamp + 28 days);
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionIssued(1, pid, hospitalId, keccak256(RX), until);
        vm.prank(hospitalKiosk);
        assertEq(pharmacy.issuePrescription(pid, 0, bytes32(0), RX), 1);
        assertEq(pharmacy.prescriptionCount(), 1);
        PharmacyAccess.Prescription memory p = pharmacy.getPrescription(1);
        assertEq(p.patientPrefix, bytes12(pid), "the first 12 bytes of the patient id (all in the event)");
        assertEq(p.contentHashPrefix, bytes4(keccak256(RX)), "the first 4 bytes of the hash (all in the event)");
        assertEq(p.issuer, hospitalId);
        assertTrue(p.status == PharmacyAccess.Status.Ready);
        assertEq(p.validUntil, until);
        assertEq(p.dispensedBps, 0);
    }

    function test_issuePrescription_explicitValidity() public {
        uint40 until = uint40(block.timestamp + 7 days);
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionIssued(1, pid, hospitalId, keccak256(RX), until);
        vm.prank(hospitalKiosk);
        pharmacy.issuePrescription(pid, until, bytes32(0), RX);
        assertEq(pharmacy.getPrescription(1).validUntil, until);
        // The longest validity is accepted exactly.
        until = uint40(block.timestamp + 365 days);
        vm.prank(hospitalKiosk);
        assertEq(pharmacy.issuePrescription(pid, until, bytes32(0), RX), 2);
        assertEq(pharmacy.getPrescription(2).validUntil, until);
    }

    function test_issuePrescription_revertsForInvalidValidity() public {
        uint40[3] memory bad =
            [uint40(block.timestamp), uint40(block.timestamp - 1), uint40(block.timestamp + 365 days + 1)];
        for (uint256 i; i < bad.length; ++i) {
            vm.prank(hospitalKiosk);
            vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.InvalidValidity.selector, bad[i]));
            pharmacy.issuePrescription(pid, bad[i], bytes32(0), RX);
        }
        assertEq(pharmacy.prescriptionCount(), 0);
    }

    /// Validity is stored as uint32 seconds: a prescription valid past 2106 is refused, not wrapped.
    function test_issuePrescription_validityPastUint32Refused() public {
        vm.warp(uint256(type(uint32).max) - 10 days);
        grant(PATIENT_PK, pid, hospitalKiosk, HOSPITAL_ALL, 0);
        uint40 until = uint40(block.timestamp + 28 days);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.InvalidValidity.selector, until));
        pharmacy.issuePrescription(pid, 0, bytes32(0), RX);
        // The last second uint32 holds is kept exactly.
        until = uint40(type(uint32).max);
        vm.prank(hospitalKiosk);
        assertEq(pharmacy.issuePrescription(pid, until, bytes32(0), RX), 1);
        assertEq(pharmacy.getPrescription(1).validUntil, until);
    }

    function test_issuePrescription_revertsForMalformedEnvelope() public {
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, 0));
        pharmacy.issuePrescription(pid, 0, bytes32(0), "");
        // A bucket above the prescription's largest.
        bytes memory big = envOf(32768, 1);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, big.length));
        pharmacy.issuePrescription(pid, 0, bytes32(0), big);
        // Exactly the largest bucket is fine.
        vm.prank(hospitalKiosk);
        pharmacy.issuePrescription(pid, 0, bytes32(0), envOf(16384, 1));
        assertEq(pharmacy.prescriptionCount(), 1);
    }

    function test_issuePrescription_needsPrescribeConsent() public {
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital2));
        pharmacy.issuePrescription(pid, 0, bytes32(0), RX);
        grant(PATIENT_PK, pid, hospital2Kiosk, Scope.READ | Scope.WRITE, 0);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.ScopeNotGranted.selector, pid, hospital2, Scope.PRESCRIBE)
        );
        pharmacy.issuePrescription(pid, 0, bytes32(0), RX);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        pharmacy.issuePrescription(pid, 0, bytes32(0), RX);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        pharmacy.issuePrescription(pid, 0, bytes32(0), RX);
        grant(PATIENT_PK, pid, hospital2Kiosk, Scope.PRESCRIBE, 0);
        vm.prank(hospital2Kiosk);
        assertEq(pharmacy.issuePrescription(pid, 0, bytes32(0), RX), 1);
        assertEq(pharmacy.getPrescription(1).issuer, hospital2Id);
    }

    // ================================================================ cancelPrescription

    function test_cancelPrescription_byIssuer() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionCancelled(id, pid, hospitalId);
        vm.prank(hospitalKiosk);
        pharmacy.cancelPrescription(id, rxPatient(id), bytes32(0));
        assertTrue(_status(id) == PharmacyAccess.Status.Cancelled);

        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyCancelled.selector, id));
        pharmacy.cancelPrescription(id, rxPatient(id), bytes32(0));

        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyCancelled.selector, id));
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
    }

    /// A reorganisation renumbers prescriptions: a cancel names the prescription's content hash, and one naming
    /// another prescription under this number refuses (PrescriptionChanged) instead of cancelling it.
    function test_cancelPrescription_namingAnotherPrescriptionsContentIsRefused() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        bytes32 h = keccak256(env(0x5ea1ed)); // what `issue` sealed; the event carries it, the chain its prefix
        bytes32 stored = bytes32(pharmacy.getPrescription(id).contentHashPrefix);
        assertEq(stored, bytes32(bytes4(h)));
        bytes32 other = keccak256("another prescription");
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.PrescriptionChanged.selector, id, other, stored));
        pharmacy.cancelPrescription(id, rxPatient(id), other);
        // A hash differing from the prescription's in one of its first 4 bytes is refused too.
        bytes32 nearly = h ^ bytes32(uint256(1) << 224);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.PrescriptionChanged.selector, id, nearly, stored));
        pharmacy.cancelPrescription(id, rxPatient(id), nearly);
        assertTrue(_status(id) == PharmacyAccess.Status.Ready, "nothing cancelled");
        vm.prank(hospitalKiosk);
        pharmacy.cancelPrescription(id, rxPatient(id), h);
        assertTrue(_status(id) == PharmacyAccess.Status.Cancelled);
    }

    function test_cancelPrescription_byAnyKioskOfIssuer_evenWithoutConsent() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        address kiosk2 = makeAddr("hospitalKiosk2");
        _addKiosk(hospital, kiosk2);
        revoke(PATIENT_PK, pid, hospital);
        vm.prank(kiosk2);
        pharmacy.cancelPrescription(id, rxPatient(id), bytes32(0));
        assertTrue(_status(id) == PharmacyAccess.Status.Cancelled);
    }

    function test_cancelPrescription_revertsForNonIssuer() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.NotIssuer.selector, id, hospital2Id));
        pharmacy.cancelPrescription(id, rxPatient(id), bytes32(0));
        vm.prank(pharmacyKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        pharmacy.cancelPrescription(id, rxPatient(id), bytes32(0));
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        pharmacy.cancelPrescription(id, rxPatient(id), bytes32(0));
        vm.prank(hospital); // the institution address is not a kiosk
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, hospital));
        pharmacy.cancelPrescription(id, rxPatient(id), bytes32(0));
        assertTrue(_status(id) == PharmacyAccess.Status.Ready);
    }

    function test_cancelPrescription_revertsForNoSuchPrescription() public {
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.NoSuchPrescription.selector, 1));
        pharmacy.cancelPrescription(1, rxPatient(1), bytes32(0));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.NoSuchPrescription.selector, 0));
        pharmacy.cancelPrescription(0, rxPatient(0), bytes32(0));
    }

    function test_cancelPrescription_revertsWhenDispensed() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        dispense(PATIENT_PK, id, pharmacyKiosk);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, id));
        pharmacy.cancelPrescription(id, rxPatient(id), bytes32(0));
    }

    // ================================================================ dispensePrescription

    function test_dispensePrescription_exactlyOnce() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = cardSig(PATIENT_PK, dispenseHash(id, pharmacyOrg, 0, deadline));
        vm.warp(block.timestamp + 1 minutes);
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionDispensed(id, pid, pharmacyId, WHOLE, false, keccak256(dispenseEnv()));
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);

        PharmacyAccess.Prescription memory p = pharmacy.getPrescription(id);
        assertTrue(p.status == PharmacyAccess.Status.Completed);
        assertEq(p.dispensedBps, WHOLE);
        assertEq(hub.nonces(pid), 1);

        bytes memory already = abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, id);
        // The same signature again.
        vm.prank(pharmacyKiosk);
        vm.expectRevert(already);
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        // A fresh, valid signature (current nonce).
        s = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(already);
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        // Another pharmacy, holding the patient's consent too.
        grant(PATIENT_PK, pid, pharmacy2Kiosk, Scope.DISPENSE, 0);
        s = dispenseSig(PATIENT_PK, id, pharmacyOrg2, deadline);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(already);
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        assertEq(hub.nonces(pid), 1);
    }

    function test_dispensePrescription_replayedSignatureRejected() public {
        uint256 id1 = issue(pid, hospitalKiosk, 0);
        uint256 id2 = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        // Both signed against nonce 0; only the first to land is good.
        CardSig memory s1 = cardSig(PATIENT_PK, dispenseHash(id1, pharmacyOrg, 0, deadline));
        CardSig memory s2 = cardSig(PATIENT_PK, dispenseHash(id2, pharmacyOrg, 0, deadline));
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(id1, rxPatient(id1), WHOLE, deadline, dispenseEnv(), s1);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(id2, rxPatient(id2), WHOLE, deadline, dispenseEnv(), s2);
        // The id1 signature used on id2.
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(id2, rxPatient(id2), WHOLE, deadline, dispenseEnv(), s1);
        assertTrue(_status(id2) == PharmacyAccess.Status.Ready);
        // Re-signed with the current nonce, it goes through.
        dispense(PATIENT_PK, id2, pharmacyKiosk);
        assertTrue(_status(id2) == PharmacyAccess.Status.Completed);
        assertEq(hub.nonces(pid), 2);
    }

    function test_dispensePrescription_signatureForAnotherPharmacyRejected() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseSig(PATIENT_PK, id, pharmacyOrg2, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        grant(PATIENT_PK, pid, pharmacy2Kiosk, Scope.DISPENSE, 0);
        s = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        assertEq(hub.nonces(pid), 0);
        assertTrue(_status(id) == PharmacyAccess.Status.Ready);
    }

    function test_dispensePrescription_signatureBindsIdAndDeadline() public {
        uint256 id1 = issue(pid, hospitalKiosk, 0);
        uint256 id2 = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseSig(PATIENT_PK, id1, pharmacyOrg, deadline);
        vm.startPrank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(id2, rxPatient(id2), WHOLE, deadline, dispenseEnv(), s);
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(id1, rxPatient(id1), WHOLE, deadline + 1, dispenseEnv(), s);
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(id1, rxPatient(id1), WHOLE, deadline, dispenseEnv(), toHighS(s));
        vm.stopPrank();
    }

    function test_dispensePrescription_wrongCardRejected() public {
        registerPatient(OTHER_PK);
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = cardSig(OTHER_PK, dispenseHash(id, pharmacyOrg, 0, deadline));
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        s.qx = qx;
        s.qy = qy;
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
    }

    function test_dispensePrescription_otherChainRejected() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        vm.chainId(44787);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
    }

    function test_dispensePrescription_expiry() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint40 until = pharmacy.getPrescription(id).validUntil;
        vm.warp(until + 1);
        // The patient is at the pharmacy again: the card renews the pharmacy's window, yet the prescription is over.
        grant(PATIENT_PK, pid, pharmacyKiosk, Scope.READ | Scope.DISPENSE, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.PrescriptionExpired.selector, id, until));
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        // Still ready (expiry is not a stored state) and still cancellable by the issuer.
        assertTrue(_status(id) == PharmacyAccess.Status.Ready);
        vm.prank(hospitalKiosk);
        pharmacy.cancelPrescription(id, rxPatient(id), bytes32(0));
    }

    function test_dispensePrescription_onLastValidSecond() public {
        uint256 id = issue(pid, hospitalKiosk, uint40(block.timestamp + 1 days));
        vm.warp(block.timestamp + 1 days);
        // pharmacyOrg2 holds no consent: the card's signature alone is not enough.
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseSig(PATIENT_PK, id, pharmacyOrg2, deadline);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, pharmacyOrg2));
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        // Once the card grants it DISPENSE, it dispenses on the last valid second.
        grant(PATIENT_PK, pid, pharmacy2Kiosk, Scope.DISPENSE, 0);
        dispense(PATIENT_PK, id, pharmacy2Kiosk);
        assertTrue(pharmacy.getPrescription(id).status == PharmacyAccess.Status.Completed);
    }

    /// Every call about a prescription names its patient, checked against the stored 12 bytes of the id: another
    /// patient's card (here one the pharmacy holds, with its own consents) can neither dispense nor cancel it, and a
    /// token dispense cannot name another patient in its event.
    function test_everyCallNamesThePrescriptionsPatient() public {
        uint256 otherPk = 0x0_7AE3;
        bytes32 other = registerPatient(otherPk);
        grant(otherPk, other, pharmacyKiosk, PHARMACY_ALL, 0);
        uint256 id = issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        uint256 deadline = block.timestamp + 10 minutes;
        bytes memory wrong = abi.encodeWithSelector(PharmacyAccess.WrongPatient.selector, id, other);
        // The other patient's card signs the dispense at its own nonce.
        CardSig memory s = cardSig(otherPk, dispenseHash(id, pharmacyOrg, hub.nonces(other), deadline));
        vm.prank(pharmacyKiosk);
        vm.expectRevert(wrong);
        pharmacy.dispensePrescription(id, other, WHOLE, deadline, dispenseEnv(), s);
        ConsentTerms memory t = termsFor(other, pharmacyKiosk, PHARMACY_ALL);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(wrong);
        pharmacy.dispenseWithConsent(id, other, WHOLE, deadline, dispenseEnv(), t, s);
        CardSig memory ts = tokenSig(TOKEN_PK, id, pharmacyOrg, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(wrong);
        pharmacy.dispenseByToken(id, other, deadline, dispenseEnv(), ts);
        CardSig memory c = cancelSig(otherPk, id, uint64(block.timestamp));
        vm.expectRevert(wrong);
        pharmacy.cancelPrescriptionByPatient(id, other, uint64(block.timestamp), c);
        vm.prank(hospitalKiosk);
        vm.expectRevert(wrong);
        pharmacy.cancelPrescription(id, other, bytes32(0));
        // The extremes a kiosk may name: zero and all ones.
        for (uint256 i; i < 2; ++i) {
            bytes32 extreme = i == 0 ? bytes32(0) : bytes32(type(uint256).max);
            vm.prank(hospitalKiosk);
            vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.WrongPatient.selector, id, extreme));
            pharmacy.cancelPrescription(id, extreme, bytes32(0));
            vm.prank(pharmacyKiosk);
            vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.WrongPatient.selector, id, extreme));
            pharmacy.dispenseByToken(id, extreme, deadline, dispenseEnv(), ts);
        }
        // An id sharing the first 11 bytes is still another patient.
        bytes32 near = pid ^ bytes32(uint256(1) << 160);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.WrongPatient.selector, id, near));
        pharmacy.cancelPrescription(id, near, bytes32(0));
        assertTrue(_status(id) == PharmacyAccess.Status.Ready, "nothing dispensed or cancelled");
        assertEq(hub.nonces(other), 0, "no nonce of the other card used");
        // Named right, the token dispense goes through and its event names the prescription's patient.
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionDispensed(id, pid, pharmacyId, WHOLE, true, keccak256(dispenseEnv()));
        vm.prank(pharmacyKiosk);
        pharmacy.dispenseByToken(id, pid, deadline, dispenseEnv(), ts);
    }

    function test_dispensePrescription_needsDispenseScope() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        grant(PATIENT_PK, pid, pharmacyKiosk, Scope.READ, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.ScopeNotGranted.selector, pid, pharmacyOrg, Scope.DISPENSE)
        );
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
    }

    function test_dispensePrescription_revertsForExpiredSignature() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        vm.warp(deadline + 1);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.SignatureExpired.selector, deadline));
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
    }

    function test_dispensePrescription_revertsForWrongCaller() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseSig(PATIENT_PK, id, hospital, deadline);
        vm.prank(hospitalKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, hospital, Role.Pharmacy, Role.Hospital)
        );
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        vm.prank(pharmacyOrg);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, pharmacyOrg));
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
    }

    function test_dispensePrescription_revertsForNoSuchPrescription() public {
        CardSig memory s = cardSig(PATIENT_PK, dispenseHash(7, pharmacyOrg, 0, block.timestamp));
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.NoSuchPrescription.selector, 7));
        pharmacy.dispensePrescription(7, rxPatient(7), WHOLE, block.timestamp, dispenseEnv(), s);
    }

    // ================================================================ partial dispensing

    function _partial(uint256 id) internal view returns (uint16) {
        return pharmacy.getPrescription(id).dispensedBps;
    }

    function test_issuePrescription_storesTheTokenKeyHash() public {
        uint256 none = issue(pid, hospitalKiosk, 0);
        uint256 withToken = issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        assertEq(pharmacy.getPrescription(none).tokenKeyHash, bytes32(0));
        assertEq(pharmacy.getPrescription(withToken).tokenKeyHash, idOf(TOKEN_PK));
        assertEq(pharmacy.getPrescription(withToken).dispensedBps, 0);
        assertTrue(_status(withToken) == PharmacyAccess.Status.Ready);
    }

    function test_dispensePrescription_twoHalvesComplete() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        bytes memory first = env(0xd15e01);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = partSig(PATIENT_PK, id, pharmacyOrg, 5000, first, deadline);
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionDispensed(id, pid, pharmacyId, 5000, false, keccak256(first));
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(id, rxPatient(id), 5000, deadline, first, s);
        PharmacyAccess.Prescription memory p = pharmacy.getPrescription(id);
        assertTrue(p.status == PharmacyAccess.Status.Partial, "partial after the first half");
        assertEq(uint256(p.status), 4, "Partial is 4");
        assertEq(p.dispensedBps, 5000);

        // The second half, a day later, at another pharmacy the patient consents to.
        vm.warp(block.timestamp + 1 days);
        grant(PATIENT_PK, pid, pharmacy2Kiosk, Scope.DISPENSE, 0);
        bytes memory second = env(0xd15e02);
        deadline = block.timestamp + 10 minutes;
        s = partSig(PATIENT_PK, id, pharmacyOrg2, 5000, second, deadline);
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionDispensed(id, pid, pharmacy2Id, 5000, false, keccak256(second));
        vm.prank(pharmacy2Kiosk);
        pharmacy.dispensePrescription(id, rxPatient(id), 5000, deadline, second, s);
        p = pharmacy.getPrescription(id);
        assertTrue(p.status == PharmacyAccess.Status.Completed, "completed after the second half");
        assertEq(p.dispensedBps, WHOLE);
        assertEq(hub.nonces(pid), 2, "one card nonce per part");

        s = partSig(PATIENT_PK, id, pharmacyOrg, 1, first, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, id));
        pharmacy.dispensePrescription(id, rxPatient(id), 1, deadline, first, s);
    }

    function test_dispensePrescription_revertsForAPartBeyondTheRest() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        dispensePart(PATIENT_PK, id, pharmacyKiosk, 5000);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = partSig(PATIENT_PK, id, pharmacyOrg, 6000, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.InvalidPart.selector, id, 6000, 5000));
        pharmacy.dispensePrescription(id, rxPatient(id), 6000, deadline, dispenseEnv(), s);
        assertEq(_partial(id), 5000);
        assertEq(hub.nonces(pid), 1, "no nonce used by the refused part");
        // What is left goes through.
        dispensePart(PATIENT_PK, id, pharmacyKiosk, 5000);
        assertTrue(_status(id) == PharmacyAccess.Status.Completed);
    }

    function test_dispensePrescription_revertsForPartZeroOrAboveTheWhole() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        uint16[3] memory bad = [uint16(0), WHOLE + 1, type(uint16).max];
        for (uint256 i; i < bad.length; ++i) {
            CardSig memory s = partSig(PATIENT_PK, id, pharmacyOrg, bad[i], dispenseEnv(), deadline);
            vm.prank(pharmacyKiosk);
            vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.InvalidPart.selector, id, bad[i], 0));
            pharmacy.dispensePrescription(id, rxPatient(id), bad[i], deadline, dispenseEnv(), s);
        }
        assertTrue(_status(id) == PharmacyAccess.Status.Ready);
        assertEq(hub.nonces(pid), 0);
    }

    function test_dispensePrescription_partialVisibleInGetPatientFullInfo() public {
        uint256 a = issue(pid, hospitalKiosk, 0);
        uint256 b = issue(pid, hospitalKiosk, 0);
        dispensePart(PATIENT_PK, a, pharmacyKiosk, 2500);
        dispensePart(PATIENT_PK, b, pharmacyKiosk, WHOLE);
        FullInfo memory f = _fullInfo(pharmacyKiosk, pid, 0, 10);
        assertEq(f.ids[0], b);
        assertTrue(f.page[0].status == PharmacyAccess.Status.Completed);
        assertEq(f.page[0].dispensedBps, WHOLE);
        assertEq(f.ids[1], a);
        assertTrue(f.page[1].status == PharmacyAccess.Status.Partial);
        assertEq(f.page[1].dispensedBps, 2500);
        assertEq(f.nonce, 2);
        assertTrue(pharmacy.getPrescription(a).status == PharmacyAccess.Status.Partial);
    }

    function test_dispensePrescription_signatureBindsPartAndContent() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        bytes memory signed = env(0xd15e01);
        CardSig memory s = partSig(PATIENT_PK, id, pharmacyOrg, 5000, signed, deadline);
        vm.startPrank(pharmacyKiosk);
        // Another part than signed.
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(id, rxPatient(id), 4999, deadline, signed, s);
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, signed, s);
        // Another sealed dispense than signed (one byte differs).
        bytes memory other = env(0xd15e01);
        other[other.length - 1] = 0x01;
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(id, rxPatient(id), 5000, deadline, other, s);
        // Another bucket with the same first bytes.
        vm.expectRevert(_invalidSig());
        pharmacy.dispensePrescription(id, rxPatient(id), 5000, deadline, envOf(1024, 0xd15e01), s);
        // As signed: fine.
        pharmacy.dispensePrescription(id, rxPatient(id), 5000, deadline, signed, s);
        vm.stopPrank();
        assertEq(_partial(id), 5000);
    }

    function test_dispensePrescription_revertsForMalformedSealedDispense() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        bytes[4] memory bad;
        bad[0] = "";
        bad[1] = envOf(32768, 1); // above the largest bucket
        bad[2] = new bytes(Envelope.OVERHEAD + 700); // not a bucket
        bad[2][0] = bytes1(Envelope.VERSION);
        bad[3] = env(1);
        bad[3][0] = 0x01; // version 1
        for (uint256 i; i < bad.length; ++i) {
            CardSig memory s = partSig(PATIENT_PK, id, pharmacyOrg, WHOLE, bad[i], deadline);
            vm.prank(pharmacyKiosk);
            vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, bad[i].length));
            pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, bad[i], s);
        }
        assertTrue(_status(id) == PharmacyAccess.Status.Ready);
        assertEq(hub.nonces(pid), 0);
        // The largest bucket is fine.
        bytes memory big = envOf(16384, 1);
        CardSig memory ok = partSig(PATIENT_PK, id, pharmacyOrg, WHOLE, big, deadline);
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, big, ok);
        assertTrue(_status(id) == PharmacyAccess.Status.Completed);
    }

    function test_cancelPrescription_partlyDispensedCancelsTheRest() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        dispensePart(PATIENT_PK, id, pharmacyKiosk, 4000);
        vm.prank(hospitalKiosk);
        pharmacy.cancelPrescription(id, rxPatient(id), bytes32(0));
        PharmacyAccess.Prescription memory p = pharmacy.getPrescription(id);
        assertTrue(p.status == PharmacyAccess.Status.Cancelled);
        assertEq(p.dispensedBps, 4000, "what was dispensed stays on record");
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = partSig(PATIENT_PK, id, pharmacyOrg, 6000, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyCancelled.selector, id));
        pharmacy.dispensePrescription(id, rxPatient(id), 6000, deadline, dispenseEnv(), s);
    }

    /// @dev Any first part: 1..WHOLE dispenses (completing at WHOLE), anything else is InvalidPart; then any second
    /// part: accepted exactly when it fits in what is left.
    function testFuzz_dispensePrescription_parts(uint16 first, uint16 second) public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = partSig(PATIENT_PK, id, pharmacyOrg, first, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        if (first == 0 || first > WHOLE) {
            vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.InvalidPart.selector, id, first, 0));
            pharmacy.dispensePrescription(id, rxPatient(id), first, deadline, dispenseEnv(), s);
            assertTrue(_status(id) == PharmacyAccess.Status.Ready);
            return;
        }
        pharmacy.dispensePrescription(id, rxPatient(id), first, deadline, dispenseEnv(), s);
        assertEq(_partial(id), first);
        assertTrue(_status(id) == (first == WHOLE ? PharmacyAccess.Status.Completed : PharmacyAccess.Status.Partial));
        s = partSig(PATIENT_PK, id, pharmacyOrg, second, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        if (first == WHOLE) {
            vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, id));
        } else if (second == 0 || uint256(first) + second > WHOLE) {
            vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.InvalidPart.selector, id, second, first));
        }
        pharmacy.dispensePrescription(id, rxPatient(id), second, deadline, dispenseEnv(), s);
        uint256 total = first == WHOLE || second == 0 || uint256(first) + second > WHOLE ? first : uint256(first) + second;
        assertEq(_partial(id), total);
        assertTrue(_status(id) == (total == WHOLE ? PharmacyAccess.Status.Completed : PharmacyAccess.Status.Partial));
        assertLe(_partial(id), WHOLE, "never beyond the whole");
    }

    // ================================================================ dispenseByToken

    function test_dispenseByToken_dispensesTheWholeWithoutCardOrConsent() public {
        uint256 id = issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        // The representative goes to a pharmacy that holds no consent of the patient.
        (uint64 until,,,) = hub.consentOf(pid, pharmacyOrg2);
        assertEq(until, 0);
        bytes memory sealedDispense = env(0x70C);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = tokenSig(TOKEN_PK, id, pharmacyOrg2, sealedDispense, deadline);
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionDispensed(id, pid, pharmacy2Id, WHOLE, true, keccak256(sealedDispense));
        vm.prank(pharmacy2Kiosk);
        pharmacy.dispenseByToken(id, rxPatient(id), deadline, sealedDispense, s);
        PharmacyAccess.Prescription memory p = pharmacy.getPrescription(id);
        assertTrue(p.status == PharmacyAccess.Status.Completed);
        assertEq(p.dispensedBps, WHOLE);
        assertEq(hub.nonces(pid), 0, "no card nonce");
    }

    function test_dispenseByToken_revertsForWrongCaller() public {
        uint256 id = issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = tokenSig(TOKEN_PK, id, hospital, dispenseEnv(), deadline);
        vm.prank(hospitalKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, hospital, Role.Pharmacy, Role.Hospital)
        );
        pharmacy.dispenseByToken(id, rxPatient(id), deadline, dispenseEnv(), s);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        pharmacy.dispenseByToken(id, rxPatient(id), deadline, dispenseEnv(), s);
        vm.prank(pharmacyOrg);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, pharmacyOrg));
        pharmacy.dispenseByToken(id, rxPatient(id), deadline, dispenseEnv(), s);
        setActive(pharmacyOrg, false);
        s = tokenSig(TOKEN_PK, id, pharmacyOrg, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, pharmacyOrg));
        pharmacy.dispenseByToken(id, rxPatient(id), deadline, dispenseEnv(), s);
        assertTrue(_status(id) == PharmacyAccess.Status.Ready);
    }

    function test_dispenseByToken_revertsForInactiveIssuerExpiredSignatureOrMalformedDispense() public {
        uint256 id = issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = tokenSig(TOKEN_PK, id, pharmacyOrg, dispenseEnv(), deadline);
        vm.warp(deadline + 1);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.SignatureExpired.selector, deadline));
        pharmacy.dispenseByToken(id, rxPatient(id), deadline, dispenseEnv(), s);

        deadline = block.timestamp + 10 minutes;
        bytes memory bad = env(1);
        bad[0] = 0x01;
        s = tokenSig(TOKEN_PK, id, pharmacyOrg, bad, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, bad.length));
        pharmacy.dispenseByToken(id, rxPatient(id), deadline, bad, s);

        setActive(hospital, false);
        s = tokenSig(TOKEN_PK, id, pharmacyOrg, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.IssuerInactive.selector, id, hospitalId));
        pharmacy.dispenseByToken(id, rxPatient(id), deadline, dispenseEnv(), s);
        assertTrue(_status(id) == PharmacyAccess.Status.Ready);

        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.NoSuchPrescription.selector, id + 1));
        pharmacy.dispenseByToken(id + 1, rxPatient(id + 1), deadline, dispenseEnv(), s);
    }

    function test_dispenseByToken_signatureBindsIdContentDeadlineAndChain() public {
        uint256 id1 = issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        uint256 id2 = issueWithToken(pid, hospitalKiosk, TOKEN_PK); // the same key on two prescriptions
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = tokenSig(TOKEN_PK, id1, pharmacyOrg, dispenseEnv(), deadline);
        vm.startPrank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseByToken(id2, rxPatient(id2), deadline, dispenseEnv(), s);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseByToken(id1, rxPatient(id1), deadline + 1, dispenseEnv(), s);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseByToken(id1, rxPatient(id1), deadline, env(0xd15e02), s);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseByToken(id1, rxPatient(id1), deadline, dispenseEnv(), toHighS(s));
        uint256 chain = block.chainid;
        vm.chainId(44787);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseByToken(id1, rxPatient(id1), deadline, dispenseEnv(), s);
        vm.chainId(chain);
        pharmacy.dispenseByToken(id1, rxPatient(id1), deadline, dispenseEnv(), s);
        vm.stopPrank();
        assertTrue(_status(id1) == PharmacyAccess.Status.Completed);
        assertTrue(_status(id2) == PharmacyAccess.Status.Ready);
    }

    function test_getPrescription_revertsForUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.NoSuchPrescription.selector, 1));
        pharmacy.getPrescription(1);
    }

    // ================================================================ getPatientFullInfo

    struct FullInfo {
        bytes32 cardKeyHash;
        uint256 nonce;
        uint256[] ids;
        PharmacyAccess.Prescription[] page;
        uint256 total;
    }

    function _fullInfo(address kiosk, bytes32 patientId, uint256 offset, uint256 limit)
        internal
        returns (FullInfo memory f)
    {
        vm.prank(kiosk);
        (f.cardKeyHash, f.nonce, f.ids, f.page, f.total) = pharmacy.getPatientFullInfo(patientId, offset, limit);
    }

    function test_getPatientFullInfo_returnsAndPaginates() public {
        bytes32 other = registerPatient(OTHER_PK);
        grant(OTHER_PK, other, hospitalKiosk, HOSPITAL_ALL, 0);
        for (uint256 i; i < 5; ++i) {
            issue(pid, hospitalKiosk, 0); // ids 1, 3, 5, 7, 9
            issue(other, hospitalKiosk, 0); // ids 2, 4, 6, 8, 10
        }
        dispense(PATIENT_PK, 3, pharmacyKiosk);

        // Newest first: 9, 7, 5, then 3, 1.
        FullInfo memory f = _fullInfo(pharmacyKiosk, pid, 0, 3);
        assertEq(f.cardKeyHash, pid);
        assertEq(f.nonce, 1);
        assertEq(f.total, 5);
        assertEq(f.ids.length, 3);
        assertEq(f.page.length, 3);
        for (uint256 i; i < 3; ++i) {
            assertEq(f.ids[i], 9 - 2 * i);
            assertEq(f.page[i].patientPrefix, bytes12(pid));
            assertTrue(f.page[i].status == PharmacyAccess.Status.Ready);
        }

        f = _fullInfo(pharmacyKiosk, pid, 3, 10);
        assertEq(f.ids.length, 2);
        assertEq(f.ids[0], 3);
        assertEq(f.ids[1], 1);
        assertTrue(f.page[0].status == PharmacyAccess.Status.Completed);
        assertTrue(f.page[1].status == PharmacyAccess.Status.Ready);
        f = _fullInfo(pharmacyKiosk, pid, 5, 1);
        assertEq(f.ids.length, 0);
        assertEq(f.total, 5);
        f = _fullInfo(pharmacyKiosk, pid, type(uint256).max, type(uint256).max);
        assertEq(f.ids.length, 0);
        f = _fullInfo(pharmacyKiosk, pid, 2, 0);
        assertEq(f.ids.length, 0);
    }

    function test_getPatientFullInfo_capsPage() public {
        vm.startPrank(hospitalKiosk);
        for (uint256 i; i < 51; ++i) {
            pharmacy.issuePrescription(pid, 0, bytes32(0), env(0x01));
        }
        vm.stopPrank();
        FullInfo memory f = _fullInfo(pharmacyKiosk, pid, 0, 1000);
        assertEq(f.total, 51);
        assertEq(f.ids.length, 50);
        assertEq(f.page.length, 50);
        assertEq(f.ids[0], 51, "the newest first");
        assertEq(f.ids[49], 2);
        f = _fullInfo(pharmacyKiosk, pid, 50, 1000);
        assertEq(f.ids.length, 1);
        assertEq(f.ids[0], 1, "the oldest last");
    }

    /// @dev The patient's list lives in HospitalRecord's slot for the patient, beside the record chain: only the
    /// hub's PharmacyAccess links into it, ids and counts are range-checked, and it leaves the chain untouched.
    function test_prescriptionList_inTheRecordChainSlot_onlyTheHubsPharmacyAccess() public {
        addRecord(pid, hospitalKiosk, env(0x0c));
        bytes20 head = records.headOf(pid);
        uint256 first = issue(pid, hospitalKiosk, 0);
        uint256 second = issue(pid, hospitalKiosk, 0);
        (uint256 count, uint256 latest) = records.prescriptionsOf(pid);
        assertEq(count, 2);
        assertEq(latest, second);
        assertEq(pharmacy.getPrescription(second).patientPrefix, bytes12(pid));
        assertEq(records.recordCount(pid), 1, "the chain's count untouched");
        assertEq(records.headOf(pid), head, "the chain's head untouched");
        assertTrue(first != 0 && first < second);

        // A kiosk, the admin, another PharmacyAccess on the same hub: none links a prescription into the list.
        PharmacyAccess rogue = new PharmacyAccess(hub);
        address[3] memory callers = [hospitalKiosk, hub.admin(), address(rogue)];
        for (uint256 i; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NotModule.selector, callers[i]));
            records.linkPrescription(pid, 99);
        }
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NotModule.selector, address(rogue)));
        rogue.issuePrescription(pid, 0, bytes32(0), env(0x01));

        // The hub's PharmacyAccess: an id must fit the list's 40 bits, and be non-zero.
        vm.startPrank(address(pharmacy));
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.PrescriptionIdOutOfRange.selector, uint256(1) << 40));
        records.linkPrescription(pid, uint256(1) << 40);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.PrescriptionIdOutOfRange.selector, 0));
        records.linkPrescription(pid, 0);
        vm.stopPrank();

        // A count pushed to its maximum refuses the next prescription, with PharmacyAccess's error of that name.
        bytes32 slot = keccak256(abi.encode(pid, uint256(0))); // _chains[pid]: count 32, head 160, list 24 + 40
        uint256 word = uint256(vm.load(address(records), slot));
        assertEq(word >> 192, (uint256(second) << 24) | 2, "the list in the top 64 bits of the chain slot");
        vm.store(address(records), slot, bytes32(word | (uint256(type(uint24).max) << 192)));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.TooManyPrescriptions.selector, pid));
        pharmacy.issuePrescription(pid, 0, bytes32(0), env(0x01));
        assertEq(records.headOf(pid), head);
    }

    function test_getPatientFullInfo_needsReadConsent() public {
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, pharmacyOrg2));
        pharmacy.getPatientFullInfo(pid, 0, 10);
        grant(PATIENT_PK, pid, pharmacy2Kiosk, Scope.DISPENSE, 0);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.ScopeNotGranted.selector, pid, pharmacyOrg2, Scope.READ)
        );
        pharmacy.getPatientFullInfo(pid, 0, 10);
        vm.prank(hospitalKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, hospital, Role.Pharmacy, Role.Hospital)
        );
        pharmacy.getPatientFullInfo(pid, 0, 10);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        pharmacy.getPatientFullInfo(pid, 0, 10);
        // Consent to READ: fine.
        grant(PATIENT_PK, pid, pharmacy2Kiosk, Scope.READ, 0);
        FullInfo memory f = _fullInfo(pharmacy2Kiosk, pid, 0, 10);
        assertEq(f.cardKeyHash, pid);
        assertEq(f.total, 0);
    }

    // ================================================================ step functions

    function test_dispenseWithConsent_twoHalvesWithTheirConsents() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        revoke(PATIENT_PK, pid, pharmacyOrg);
        vm.warp(block.timestamp + 1);
        ConsentTerms memory t = termsFor(pid, pharmacyKiosk, PHARMACY_ALL);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseStepSig(PATIENT_PK, pharmacyKiosk, t, id, 5000, dispenseEnv(), deadline);
        (, uint64 revokedAt,,) = hub.consentOf(pid, pharmacyOrg);
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionDispensed(id, pid, pharmacyId, 5000, false, keccak256(dispenseEnv()));
        vm.recordLogs();
        vm.prank(pharmacyKiosk);
        pharmacy.dispenseWithConsent(id, rxPatient(id), 5000, deadline, dispenseEnv(), t, s);
        assertEq(vm.getRecordedLogs().length, 1, "only PrescriptionDispensed: the consent is not stored");
        assertTrue(_status(id) == PharmacyAccess.Status.Partial);
        assertEq(hub.nonces(pid), 1, "the card's nonce is used");
        (uint64 until, uint64 signedAt,, uint8 scope) = hub.consentOf(pid, pharmacyOrg);
        assertTrue(until == 0 && signedAt == revokedAt && scope == 0, "the revocation stands, nothing stored");
        // The pharmacy holds no standing consent: the READ view is refused.
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, pharmacyOrg));
        pharmacy.getPatientFullInfo(pid, 0, 10);
        // The second half at the next visit, with a fresh consent; DISPENSE alone is enough.
        vm.warp(block.timestamp + 1 days);
        dispenseStep(PATIENT_PK, id, pharmacyKiosk, 5000);
        assertTrue(_status(id) == PharmacyAccess.Status.Completed);
        assertEq(pharmacy.getPrescription(id).dispensedBps, WHOLE);
        assertEq(hub.nonces(pid), 2);
    }
}
