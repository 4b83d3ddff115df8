// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {Role, Scope, CardSig} from "../../src/CareTypes.sol";
import {PatientSmartCard} from "../../src/PatientSmartCard.sol";
import {HospitalRecord} from "../../src/HospitalRecord.sol";
import {PharmacyAccess} from "../../src/PharmacyAccess.sol";
import {InsuranceProvider} from "../../src/InsuranceProvider.sol";

/// @notice Attacks on who may call what: an unregistered address, a revoked kiosk key, a kiosk of the wrong role,
/// the institution address itself instead of a kiosk, a hospital without the patient's consent or after it
/// expired or was revoked. Every state-changing entry point is tried; each test then checks that nothing changed.
contract AccessAttacks is Fixture {
    /// @dev A snapshot of what the attacks could change.
    struct State {
        uint256 records;
        uint256 prescriptions;
        uint256 claims;
        uint256 nonce;
        uint256 escrow;
        bytes20 head;
    }

    function _state() internal view returns (State memory s) {
        s.records = records.recordCount(pid);
        s.prescriptions = pharmacy.prescriptionCount();
        s.claims = insurance.claimCount();
        s.nonce = hub.nonces(pid);
        s.escrow = insurance.escrowOf(insurer);
        s.head = records.headOf(pid);
    }

    function _assertUnchanged(State memory a) internal view {
        State memory b = _state();
        assertEq(b.records, a.records, "records");
        assertEq(b.prescriptions, a.prescriptions, "prescriptions");
        assertEq(b.claims, a.claims, "claims");
        assertEq(b.nonce, a.nonce, "card nonce");
        assertEq(b.escrow, a.escrow, "escrow");
        assertTrue(b.head == a.head, "record chain head");
    }

    function _notAKiosk(address a) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, a);
    }

    function _wrongRole(address institution, Role expected, Role actual) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, institution, expected, actual);
    }

    /// @dev A prescription, an approved claim, and a record, to aim the attacks at.
    function _targets() internal returns (uint256 rx, uint256 claimId, uint256 recordIndex) {
        rx = issue(pid, hospitalKiosk, 0);
        enroll(pid, insurerKiosk, 8_000, 10_000e18);
        claimId = recordAndClaim(pid, 100e18);
        recordIndex = records.recordCount(pid) - 1;
    }

    /// @dev Every kiosk-only entry point called by `caller`, each expected to revert with `err(role)`.
    function _everyKioskCall(address caller, function(Role) internal view returns (bytes memory) err) internal {
        (uint256 rx, uint256 claimId, uint256 recordIndex) = _targets();
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory reg = registerSig(OTHER_PK, hospital, deadline);
        CardSig memory dis = dispenseSig(PATIENT_PK, rx, pharmacyOrg, deadline);
        // The recovery key and a new card sign a replacement at `hospital`: only the caller's role is wrong.
        (CardSig memory rec, CardSig memory rep) =
            replaceSigs(recoveryPkOf(pid), 0x5EC0DCA4D, pid, hospital, 0, keyBundleOf(2), 1, uint64(block.timestamp));
        State memory before = _state();

        vm.startPrank(caller);
        vm.expectRevert(err(Role.Hospital));
        registerWith(hub, deadline, reg);
        vm.expectRevert(err(Role.Hospital));
        hub.replaceCard(pid, uint64(block.timestamp), 0, keyBundleOf(2), rec, rep);
        vm.expectRevert(err(Role.Hospital));
        records.addMedicalRecord(pid, env(0x0bad));
        vm.expectRevert(err(Role.Hospital));
        records.updateMedicalHistory(pid, recordIndex, env(0x0bad));
        vm.expectRevert(err(Role.Hospital));
        pharmacy.issuePrescription(pid, 0, bytes32(0), env(0x5ea1ed));
        vm.expectRevert(err(Role.Hospital));
        pharmacy.cancelPrescription(rx, rxPatient(rx), bytes32(0));
        vm.expectRevert(err(Role.Pharmacy));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), dis);
        vm.expectRevert(err(Role.Pharmacy));
        pharmacy.getPatientFullInfo(pid, 0, 10);
        vm.expectRevert(err(Role.Insurer));
        insurance.enrollPatient(pid, 10_000, 1e30);
        vm.expectRevert(err(Role.Hospital));
        insurance.submitClaim(pid, recordIndex, 1e18, env(0xc1a1));
        vm.expectRevert(err(Role.Insurer));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 1e18, responseEnv());
        vm.expectRevert(err(Role.Insurer));
        insurance.denyClaim(claimId, bytes32(0), 1, responseEnv());
        vm.stopPrank();

        _assertUnchanged(before);
        assertEq(hub.cardKeyOf(pid), pid, "card not replaced");
        assertTrue(pharmacy.getPrescription(rx).status == PharmacyAccess.Status.Ready, "prescription still ready");
        (InsuranceProvider.ClaimStatus st,,,,) = insurance.getClaimStatus(claimId);
        assertTrue(st == InsuranceProvider.ClaimStatus.Submitted, "claim still pending");
        InsuranceProvider.Coverage memory cov = _coverage();
        assertEq(cov.bps, 8_000, "coverage terms unchanged");
    }

    function _coverage() internal view returns (InsuranceProvider.Coverage memory c) {
        (c,) = insurance.coverageOf(pid);
    }

    // ================================================================ unregistered addresses

    address internal attacker;

    function _errNotAKiosk(Role) internal view returns (bytes memory) {
        return _notAKiosk(attacker);
    }

    function test_unregistered_everyKioskEntryPointRefused() public {
        attacker = stranger;
        _everyKioskCall(stranger, _errNotAKiosk);
    }

    function test_unregistered_institutionAddressItselfIsNotAKiosk() public {
        // The hospital's institution key (cold, governance of its kiosks) is not a kiosk key.
        attacker = hospital;
        _everyKioskCall(hospital, _errNotAKiosk);
    }

    function test_unregistered_governanceAndModuleHooksRefused() public {
        State memory before = _state();
        vm.startPrank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, stranger));
        records.registerHospital(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, stranger));
        pharmacy.registerPharmacy(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, stranger));
        insurance.registerInsurer(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, stranger));
        hub.registerInstitutionBy(admin, stranger, Role.Hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, stranger));
        hub.useNonce(pid);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, stranger));
        hub.setInstitutionActive(hospital, false);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, stranger));
        hub.transferAdmin(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, stranger));
        hub.setGuardian(stranger);
        bytes memory suspend = abi.encodeCall(PatientSmartCard.setInstitutionActive, (hospital, false));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, stranger));
        hub.schedule(address(hub), suspend);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, stranger));
        hub.execute(address(hub), suspend);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGuardian.selector, stranger));
        hub.cancel(keccak256(abi.encode(address(hub), suspend)));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoKioskOffer.selector, stranger, hospital));
        hub.acceptKiosk(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotPendingAdmin.selector, stranger));
        hub.acceptAdmin();
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, stranger));
        hub.wire(stranger, stranger, stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownInstitution.selector, stranger));
        hub.addKiosk(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotKioskOwner.selector, stranger, hospitalKiosk));
        hub.removeKiosk(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, stranger));
        insurance.withdrawEscrow(1, stranger);
        vm.stopPrank();
        _assertUnchanged(before);
        (Role role,,) = hub.institutions(stranger);
        assertTrue(role == Role.None, "stranger not registered");
        assertEq(hub.admin(), admin, "admin unchanged");
        assertEq(hub.kioskInstitution(hospitalKiosk), hospital, "kiosk still the hospital's");
    }

    function test_unregistered_anotherInstitutionCannotTakeOrRemoveAKiosk() public {
        vm.prank(pharmacyOrg);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.KioskTaken.selector, hospitalKiosk, hospital));
        hub.addKiosk(hospitalKiosk);
        vm.prank(pharmacyOrg);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotKioskOwner.selector, pharmacyOrg, hospitalKiosk));
        hub.removeKiosk(hospitalKiosk);
        vm.prank(insurer);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotKioskOwner.selector, insurer, hospitalKiosk));
        hub.removeKiosk(hospitalKiosk);
        assertEq(hub.kioskInstitution(hospitalKiosk), hospital);
    }

    // ================================================================ revoked kiosk keys

    function _revoke(address kiosk, address by) internal {
        vm.prank(by);
        hub.removeKiosk(kiosk);
        assertEq(hub.kioskInstitution(kiosk), address(0), "revoked");
    }

    function test_revokedKiosk_byItsInstitution_everyCallRefused() public {
        // The targets are made while the keys are good; then every kiosk of the three roles is revoked.
        (uint256 rx, uint256 claimId, uint256 recordIndex) = _targets();
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory dis = dispenseSig(PATIENT_PK, rx, pharmacyOrg, deadline);
        CardSig memory reg = registerSig(OTHER_PK, hospital, deadline);
        uint64 sAt = nextSignedAt(pid, hospital);
        uint64 until = sAt + 1 days;
        CardSig memory con = consentSig(PATIENT_PK, pid, hospital, HOSPITAL_ALL, until, 1, sAt);
        _revoke(hospitalKiosk, hospital);
        _revoke(pharmacyKiosk, pharmacyOrg);
        _revoke(insurerKiosk, insurer);
        State memory before = _state();

        vm.startPrank(hospitalKiosk);
        vm.expectRevert(_notAKiosk(hospitalKiosk));
        registerWith(hub, deadline, reg);
        vm.expectRevert(_notAKiosk(hospitalKiosk));
        hub.grantConsent(pid, HOSPITAL_ALL, until, 1, sAt, con);
        vm.expectRevert(_notAKiosk(hospitalKiosk));
        records.addMedicalRecord(pid, env(0x0bad));
        vm.expectRevert(_notAKiosk(hospitalKiosk));
        records.updateMedicalHistory(pid, recordIndex, env(0x0bad));
        vm.expectRevert(_notAKiosk(hospitalKiosk));
        pharmacy.issuePrescription(pid, 0, bytes32(0), env(0x5ea1ed));
        vm.expectRevert(_notAKiosk(hospitalKiosk));
        pharmacy.cancelPrescription(rx, rxPatient(rx), bytes32(0));
        vm.expectRevert(_notAKiosk(hospitalKiosk));
        insurance.submitClaim(pid, recordIndex, 1e18, env(0xc1a1));
        vm.stopPrank();
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_notAKiosk(pharmacyKiosk));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), dis);
        vm.startPrank(insurerKiosk);
        vm.expectRevert(_notAKiosk(insurerKiosk));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 1e18, responseEnv());
        vm.expectRevert(_notAKiosk(insurerKiosk));
        insurance.denyClaim(claimId, bytes32(0), 1, responseEnv());
        vm.expectRevert(_notAKiosk(insurerKiosk));
        insurance.enrollPatient(pid, 10_000, 1e30);
        vm.stopPrank();

        _assertUnchanged(before);
        assertTrue(pharmacy.getPrescription(rx).status == PharmacyAccess.Status.Ready);
        // The card's signatures made for the revoked kiosk still work from a good kiosk of the same institution.
        address fresh = makeAddr("freshPharmacyKiosk");
        _addKiosk(pharmacyOrg, fresh);
        vm.prank(fresh);
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), dis);
    }

    function test_revokedKiosk_byAdmin_stolenKioskLocksOutAtOnce() public {
        _revoke(hospitalKiosk, admin);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_notAKiosk(hospitalKiosk));
        records.addMedicalRecord(pid, env(0x0bad));
        // The institution's other kiosks and its consents are untouched.
        address other = makeAddr("hospitalKiosk2");
        _addKiosk(hospital, other);
        vm.prank(other);
        assertEq(records.addMedicalRecord(pid, env(0x0bad)), 0, "a good kiosk of the hospital still writes");
    }

    function test_revokedKiosk_cannotReAddItself() public {
        _revoke(hospitalKiosk, hospital);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownInstitution.selector, hospitalKiosk));
        hub.addKiosk(hospitalKiosk);
        assertEq(hub.kioskInstitution(hospitalKiosk), address(0));
    }

    // ================================================================ the wrong role

    function _errPharmacyKiosk(Role expected) internal view returns (bytes memory) {
        return _wrongRole(pharmacyOrg, expected, Role.Pharmacy);
    }

    function _errInsurerKiosk(Role expected) internal view returns (bytes memory) {
        return _wrongRole(insurer, expected, Role.Insurer);
    }

    function test_wrongRole_pharmacyKioskRefusedOutsideItsRole() public {
        // Even with a consent of every scope a pharmacy may hold, it cannot write records, prescribe, bill or enrol.
        grant(PATIENT_PK, pid, pharmacyKiosk, PHARMACY_ALL, 0);
        (uint256 rx,, uint256 recordIndex) = _targets();
        State memory before = _state();
        vm.startPrank(pharmacyKiosk);
        vm.expectRevert(_errPharmacyKiosk(Role.Hospital));
        records.addMedicalRecord(pid, env(0x0bad));
        vm.expectRevert(_errPharmacyKiosk(Role.Hospital));
        records.updateMedicalHistory(pid, recordIndex, env(0x0bad));
        vm.expectRevert(_errPharmacyKiosk(Role.Hospital));
        pharmacy.issuePrescription(pid, 0, bytes32(0), env(0x5ea1ed));
        vm.expectRevert(_errPharmacyKiosk(Role.Hospital));
        pharmacy.cancelPrescription(rx, rxPatient(rx), bytes32(0));
        vm.expectRevert(_errPharmacyKiosk(Role.Hospital));
        insurance.submitClaim(pid, recordIndex, 1e18, env(0xc1a1));
        vm.expectRevert(_errPharmacyKiosk(Role.Insurer));
        insurance.enrollPatient(pid, 10_000, 1e30);
        vm.stopPrank();
        _assertUnchanged(before);
    }

    function test_wrongRole_insurerKioskRefusedOutsideItsRole() public {
        grant(PATIENT_PK, pid, insurerKiosk, Scope.READ, 0);
        (uint256 rx,, uint256 recordIndex) = _targets();
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory dis = dispenseSig(PATIENT_PK, rx, insurer, deadline);
        CardSig memory reg = registerSig(OTHER_PK, insurer, deadline);
        State memory before = _state();
        vm.startPrank(insurerKiosk);
        vm.expectRevert(_errInsurerKiosk(Role.Hospital));
        registerWith(hub, deadline, reg);
        vm.expectRevert(_errInsurerKiosk(Role.Hospital));
        records.addMedicalRecord(pid, env(0x0bad));
        vm.expectRevert(_errInsurerKiosk(Role.Hospital));
        pharmacy.issuePrescription(pid, 0, bytes32(0), env(0x5ea1ed));
        vm.expectRevert(_errInsurerKiosk(Role.Pharmacy));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), dis);
        vm.expectRevert(_errInsurerKiosk(Role.Hospital));
        insurance.submitClaim(pid, recordIndex, 1e18, env(0xc1a1));
        vm.stopPrank();
        _assertUnchanged(before);
    }

    function test_wrongRole_hospitalKioskCannotDispenseOrDecideClaims() public {
        (uint256 rx, uint256 claimId,) = _targets();
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory dis = dispenseSig(PATIENT_PK, rx, hospital, deadline);
        State memory before = _state();
        vm.startPrank(hospitalKiosk);
        vm.expectRevert(_wrongRole(hospital, Role.Pharmacy, Role.Hospital));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), dis);
        vm.expectRevert(_wrongRole(hospital, Role.Pharmacy, Role.Hospital));
        pharmacy.getPatientFullInfo(pid, 0, 10);
        vm.expectRevert(_wrongRole(hospital, Role.Insurer, Role.Hospital));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 1e18, responseEnv());
        vm.expectRevert(_wrongRole(hospital, Role.Insurer, Role.Hospital));
        insurance.denyClaim(claimId, bytes32(0), 1, responseEnv());
        // The claim's hospital may send the payment of an approved claim, never of one still pending.
        vm.expectRevert(
            abi.encodeWithSelector(
                InsuranceProvider.ClaimNotApproved.selector, claimId, InsuranceProvider.ClaimStatus.Submitted
            )
        );
        insurance.processPayment(claimId, bytes32(0));
        vm.expectRevert(_wrongRole(hospital, Role.Insurer, Role.Hospital));
        insurance.enrollPatient(pid, 10_000, 1e30);
        vm.stopPrank();
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, hospital));
        insurance.withdrawEscrow(1, hospital);
        _assertUnchanged(before);
    }

    function test_wrongRole_aModuleCannotRegisterAnotherRole() public {
        // The admin cannot get a pharmacy registered through the hospital module (roles are fixed per module).
        vm.prank(address(records));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, address(records)));
        hub.registerInstitutionBy(admin, stranger, Role.Pharmacy);
        vm.prank(address(records));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidRole.selector, Role.None));
        hub.registerInstitutionBy(admin, stranger, Role.None);
    }

    // ================================================================ consent: none, too narrow, expired, revoked

    function test_noConsent_otherHospitalCannotWriteOrPrescribeOrReplaceTheCard() public {
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        // Replacing needs no consent, but the patient's recovery key: a hospital's own key for it does not do.
        uint64 sAt = uint64(block.timestamp);
        (CardSig memory rec, CardSig memory rep) =
            replaceSigs(OTHER_PK, OTHER_PK, pid, hospital2, 0, keyBundleOf(2), 1, sAt);
        State memory before = _state();
        bytes memory noConsent = abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital2);
        vm.startPrank(hospital2Kiosk);
        vm.expectRevert(noConsent);
        records.addMedicalRecord(pid, env(0x0bad));
        vm.expectRevert(noConsent);
        records.updateMedicalHistory(pid, index, env(0x0bad));
        vm.expectRevert(noConsent);
        pharmacy.issuePrescription(pid, 0, bytes32(0), env(0x5ea1ed));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotRecoveryKey.selector, pid));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, rep);
        vm.stopPrank();
        _assertUnchanged(before);
        assertEq(hub.cardKeyOf(pid), pid, "card not taken over");
    }

    function test_noConsent_readOnlyConsentDoesNotAllowWriting() public {
        grant(PATIENT_PK, pid, hospital2Kiosk, Scope.READ, 0);
        State memory before = _state();
        vm.startPrank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.ScopeNotGranted.selector, pid, hospital2, Scope.WRITE));
        records.addMedicalRecord(pid, env(0x0bad));
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.ScopeNotGranted.selector, pid, hospital2, Scope.PRESCRIBE)
        );
        pharmacy.issuePrescription(pid, 0, bytes32(0), env(0x5ea1ed));
        vm.stopPrank();
        _assertUnchanged(before);
    }

    function test_noConsent_unregisteredPatientCannotBeWritten() public {
        bytes32 ghost = idOf(OTHER_PK);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, ghost, hospital));
        records.addMedicalRecord(ghost, env(0x0bad));
        assertEq(records.recordCount(ghost), 0);
    }

    function testFuzz_expiredConsent_hospitalLocksOutAfterTheWindow(uint256 late) public {
        (uint64 until,,,) = hub.consentOf(pid, hospital);
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        // On the window's last second the hospital still writes.
        vm.warp(until);
        vm.prank(hospitalKiosk);
        records.addMedicalRecord(pid, env(0x0bad));
        late = bound(late, 1, 10 * 365 days);
        vm.warp(uint256(until) + late);
        uint64 sAt = uint64(block.timestamp);
        (CardSig memory rec, CardSig memory rep) =
            replaceSigs(OTHER_PK, OTHER_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        State memory before = _state();
        bytes memory noConsent = abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital);
        vm.startPrank(hospitalKiosk);
        vm.expectRevert(noConsent);
        records.addMedicalRecord(pid, env(0x0bad));
        vm.expectRevert(noConsent);
        records.updateMedicalHistory(pid, index, env(0x0bad));
        vm.expectRevert(noConsent);
        pharmacy.issuePrescription(pid, 0, bytes32(0), env(0x5ea1ed));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotRecoveryKey.selector, pid));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, rep);
        vm.stopPrank();
        _assertUnchanged(before);
    }

    function test_expiredConsent_pharmacyLocksOutAfterThreeDays() public {
        uint256 rx = issue(pid, hospitalKiosk, 0);
        (uint64 until,,,) = hub.consentOf(pid, pharmacyOrg);
        vm.warp(uint256(until) + 1);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory dis = dispenseSig(PATIENT_PK, rx, pharmacyOrg, deadline);
        bytes memory noConsent = abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, pharmacyOrg);
        vm.startPrank(pharmacyKiosk);
        vm.expectRevert(noConsent);
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), dis);
        vm.expectRevert(noConsent);
        pharmacy.getPatientFullInfo(pid, 0, 10);
        vm.stopPrank();
        assertTrue(pharmacy.getPrescription(rx).status == PharmacyAccess.Status.Ready);
    }

    function test_revokedConsent_hospitalLocksOutAtOnce() public {
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        revoke(PATIENT_PK, pid, hospital);
        State memory before = _state();
        bytes memory noConsent = abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital);
        vm.startPrank(hospitalKiosk);
        vm.expectRevert(noConsent);
        records.addMedicalRecord(pid, env(0x0bad));
        vm.expectRevert(noConsent);
        records.updateMedicalHistory(pid, index, env(0x0bad));
        vm.expectRevert(noConsent);
        pharmacy.issuePrescription(pid, 0, bytes32(0), env(0x5ea1ed));
        vm.stopPrank();
        _assertUnchanged(before);
    }

    function test_suspendedInstitution_consentAndKiosksUseless() public {
        setActive(hospital, false);
        State memory before = _state();
        bytes memory inactive = abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, hospital);
        vm.startPrank(hospitalKiosk);
        vm.expectRevert(inactive);
        records.addMedicalRecord(pid, env(0x0bad));
        vm.expectRevert(inactive);
        pharmacy.issuePrescription(pid, 0, bytes32(0), env(0x5ea1ed));
        vm.stopPrank();
        vm.prank(hospital);
        vm.expectRevert(inactive);
        hub.addKiosk(makeAddr("newKiosk"));
        _assertUnchanged(before);
    }
}
