// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./utils/Fixture.sol";
import {Role, CardSig, Scope} from "../src/CareTypes.sol";
import {PatientSmartCard} from "../src/PatientSmartCard.sol";
import {PharmacyAccess} from "../src/PharmacyAccess.sol";

contract PatientSmartCardTest is Fixture {
    uint256 internal constant NEW_PK = 0x5EC0DCA4D;
    uint256 internal constant NEW2_PK = 0x7E1DCA4D;
    uint256 internal constant STRAY_PK = 0x57A7;

    function _err(bytes4 selector) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(selector);
    }

    // ================================================================ constructor, constants, wiring

    function test_constructor_setsAdminAndEmits() public {
        vm.expectEmit();
        emit PatientSmartCard.AdminTransferred(address(0), stranger);
        PatientSmartCard h = new PatientSmartCard(stranger);
        assertEq(h.admin(), stranger);
        assertEq(h.pendingAdmin(), address(0));
        assertEq(h.hospitalRecord(), address(0));
        assertEq(h.institutionCount(), 0);
    }

    function test_constructor_revertsOnZeroAdmin() public {
        vm.expectRevert(_err(PatientSmartCard.ZeroAddress.selector));
        new PatientSmartCard(address(0));
    }

    function test_constants() public view {
        assertEq(hub.HOSPITAL_WINDOW(), 90 days);
        assertEq(hub.PHARMACY_WINDOW(), 3 days);
        assertEq(hub.INSURER_WINDOW(), 90 days);
        assertEq(hub.MAX_WINDOW(), 730 days);
        assertEq(hub.REGISTER_TYPEHASH(), keccak256("RegisterPatient(bytes32 patientId,address hospital,uint256 deadline)"));
        assertEq(
            hub.CONSENT_TYPEHASH(),
            keccak256("Consent(bytes32 patientId,address institution,uint8 scope,uint64 validUntil,uint64 nonce)")
        );
        assertEq(hub.REVOKE_TYPEHASH(), keccak256("RevokeConsent(bytes32 patientId,address institution,uint64 nonce)"));
        assertEq(
            hub.REPLACE_TYPEHASH(),
            keccak256(
                "ReplaceCard(bytes32 patientId,bytes32 newCardKeyHash,address hospital,uint256 nonce,uint256 deadline)"
            )
        );
    }

    function test_domainSeparator_isEip712OfThisDeployment() public view {
        bytes32 expected = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("carekiosk"),
                keccak256("1"),
                block.chainid,
                address(hub)
            )
        );
        assertEq(hub.domainSeparator(), expected);
    }

    function test_fixture_isWired() public view {
        assertEq(hub.admin(), admin);
        assertEq(hub.hospitalRecord(), address(records));
        assertEq(hub.pharmacyAccess(), address(pharmacy));
        assertEq(hub.insuranceProvider(), address(insurance));
        assertEq(hub.institutionCount(), 6);
        (Role role, bool active, uint32 id) = hub.institutions(hospital);
        assertTrue(role == Role.Hospital && active && id == hospitalId && id == 1);
        (role, active, id) = hub.institutions(pharmacyOrg);
        assertTrue(role == Role.Pharmacy && active && id == pharmacyId && id == 2);
        (role, active, id) = hub.institutions(insurer);
        assertTrue(role == Role.Insurer && active && id == insurerId && id == 3);
        assertEq(hub.kioskInstitution(hospitalKiosk), hospital);
        assertEq(hub.kioskInstitution(pharmacyKiosk), pharmacyOrg);
        assertEq(hub.kioskInstitution(insurerKiosk), insurer);
        assertEq(address(records.hub()), address(hub));
        assertEq(address(pharmacy.hub()), address(hub));
        assertEq(address(insurance.hub()), address(hub));
    }

    // ================================================================ admin transfer

    function test_transferAdmin_isTwoStep() public {
        vm.expectEmit(address(hub));
        emit PatientSmartCard.AdminTransferStarted(admin, stranger);
        vm.prank(admin);
        hub.transferAdmin(stranger);
        assertEq(hub.pendingAdmin(), stranger);
        assertEq(hub.admin(), admin);

        vm.expectEmit(address(hub));
        emit PatientSmartCard.AdminTransferred(admin, stranger);
        vm.prank(stranger);
        hub.acceptAdmin();
        assertEq(hub.admin(), stranger);
        assertEq(hub.pendingAdmin(), address(0));

        // The old admin has lost its powers, the new one has them.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, admin));
        hub.setInstitutionActive(hospital, false);
        address newHospital = makeAddr("newHospital");
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, admin));
        records.registerHospital(newHospital);
        vm.prank(stranger);
        assertEq(records.registerHospital(newHospital), 7);
    }

    function test_transferAdmin_revertsForNonAdmin() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, stranger));
        hub.transferAdmin(stranger);
    }

    function test_acceptAdmin_revertsForOthers() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotPendingAdmin.selector, stranger));
        hub.acceptAdmin();

        vm.prank(admin);
        hub.transferAdmin(stranger);
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotPendingAdmin.selector, hospital));
        hub.acceptAdmin();
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotPendingAdmin.selector, admin));
        hub.acceptAdmin();
    }

    function test_transferAdmin_canBeCancelled() public {
        vm.prank(admin);
        hub.transferAdmin(stranger);
        vm.prank(admin);
        hub.transferAdmin(address(0));
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotPendingAdmin.selector, stranger));
        hub.acceptAdmin();
        assertEq(hub.admin(), admin);
    }

    // ================================================================ wire

    function test_wire_onlyOnce() public {
        vm.prank(admin);
        vm.expectRevert(_err(PatientSmartCard.AlreadyWired.selector));
        hub.wire(address(1), address(2), address(3));
        assertEq(hub.hospitalRecord(), address(records));
    }

    function test_wire_revertsForNonAdmin() public {
        PatientSmartCard h = new PatientSmartCard(admin);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, stranger));
        h.wire(address(1), address(2), address(3));
    }

    function test_wire_rejectsZeroAndEmits() public {
        PatientSmartCard h = new PatientSmartCard(admin);
        vm.startPrank(admin);
        vm.expectRevert(_err(PatientSmartCard.ZeroAddress.selector));
        h.wire(address(0), address(2), address(3));
        vm.expectRevert(_err(PatientSmartCard.ZeroAddress.selector));
        h.wire(address(1), address(0), address(3));
        vm.expectRevert(_err(PatientSmartCard.ZeroAddress.selector));
        h.wire(address(1), address(2), address(0));
        vm.expectEmit(address(h));
        emit PatientSmartCard.ModulesWired(address(1), address(2), address(3));
        h.wire(address(1), address(2), address(3));
        vm.stopPrank();
        assertEq(h.hospitalRecord(), address(1));
        assertEq(h.pharmacyAccess(), address(2));
        assertEq(h.insuranceProvider(), address(3));
    }

    // ================================================================ registerInstitutionBy

    function test_registerInstitutionBy_registersWithNextId() public {
        address x = makeAddr("newPharmacy");
        vm.expectEmit(address(hub));
        emit PatientSmartCard.InstitutionRegistered(x, Role.Pharmacy, 7);
        vm.prank(admin);
        assertEq(pharmacy.registerPharmacy(x), 7);
        (Role role, bool active, uint32 id) = hub.institutions(x);
        assertTrue(role == Role.Pharmacy && active && id == 7);
        assertEq(hub.institutionCount(), 7);
    }

    function test_registerInstitutionBy_revertsFromNonModule() public {
        address x = makeAddr("x");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, stranger));
        hub.registerInstitutionBy(admin, x, Role.Hospital);
        // Even the admin must go through the module.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, admin));
        hub.registerInstitutionBy(admin, x, Role.Insurer);
        // A module may only register its own role.
        vm.prank(address(pharmacy));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, address(pharmacy)));
        hub.registerInstitutionBy(admin, x, Role.Hospital);
        vm.prank(address(records));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, address(records)));
        hub.registerInstitutionBy(admin, x, Role.Insurer);
    }

    function test_registerInstitutionBy_revertsForNonAdminOperator() public {
        address x = makeAddr("x");
        vm.startPrank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, stranger));
        records.registerHospital(x);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, stranger));
        pharmacy.registerPharmacy(x);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, stranger));
        insurance.registerInsurer(x);
        vm.stopPrank();
        // An institution is not the admin either.
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, hospital));
        records.registerHospital(x);
    }

    function test_registerInstitutionBy_revertsForBadRole() public {
        vm.prank(address(records));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidRole.selector, Role.None));
        hub.registerInstitutionBy(admin, stranger, Role.None);
    }

    function test_registerInstitutionBy_revertsOnUnwiredHub() public {
        PatientSmartCard h = new PatientSmartCard(admin);
        vm.prank(address(records));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidRole.selector, Role.Hospital));
        h.registerInstitutionBy(admin, stranger, Role.Hospital);
    }

    function test_registerInstitutionBy_revertsForDuplicate() public {
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.AlreadyRegistered.selector, hospital));
        records.registerHospital(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.AlreadyRegistered.selector, hospital));
        pharmacy.registerPharmacy(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.AlreadyRegistered.selector, pharmacyOrg));
        insurance.registerInsurer(pharmacyOrg);
        vm.stopPrank();
        assertEq(hub.institutionCount(), 6);
    }

    function test_registerInstitutionBy_revertsForZeroInstitution() public {
        vm.prank(admin);
        vm.expectRevert(_err(PatientSmartCard.ZeroAddress.selector));
        records.registerHospital(address(0));
    }

    // ================================================================ setInstitutionActive

    function test_setInstitutionActive_suspendsAllKiosks() public {
        vm.expectEmit(address(hub));
        emit PatientSmartCard.InstitutionActiveSet(hospital, false);
        vm.prank(admin);
        hub.setInstitutionActive(hospital, false);
        (, bool active,) = hub.institutions(hospital);
        assertFalse(active);

        bytes memory inactive = abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, hospital);
        vm.expectRevert(inactive);
        hub.institutionOf(hospitalKiosk, Role.Hospital);

        vm.prank(hospitalKiosk);
        vm.expectRevert(inactive);
        records.addMedicalRecord(pid, 1, hex"01");

        vm.prank(hospitalKiosk);
        vm.expectRevert(inactive);
        pharmacy.issuePrescription(pid, 0, hex"01");

        address newKiosk = makeAddr("newKiosk");
        vm.prank(hospital);
        vm.expectRevert(inactive);
        hub.addKiosk(newKiosk);

        CardSig memory s = consentSig(PATIENT_PK, pid, hospital, Scope.READ, 0, 2);
        vm.prank(hospitalKiosk);
        vm.expectRevert(inactive);
        hub.grantConsent(pid, Scope.READ, 0, 2, s);

        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory r = registerSig(OTHER_PK, hospital, deadline);
        vm.prank(hospitalKiosk);
        vm.expectRevert(inactive);
        hub.registerPatient(deadline, r);

        // Reinstated, the kiosks work again.
        vm.expectEmit(address(hub));
        emit PatientSmartCard.InstitutionActiveSet(hospital, true);
        vm.prank(admin);
        hub.setInstitutionActive(hospital, true);
        assertEq(addRecord(pid, hospitalKiosk, hex"01"), 0);
    }

    function test_setInstitutionActive_suspendedPharmacyCannotDispense() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        vm.prank(admin);
        hub.setInstitutionActive(pharmacyOrg, false);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, pharmacyOrg));
        pharmacy.dispensePrescription(id, deadline, s);
    }

    function test_setInstitutionActive_revertsForNonAdmin() public {
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, hospital));
        hub.setInstitutionActive(hospital, false);
    }

    function test_setInstitutionActive_revertsForUnknown() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownInstitution.selector, stranger));
        hub.setInstitutionActive(stranger, false);
    }

    // ================================================================ kiosks

    function test_addKiosk_emitsAndMaps() public {
        address k = makeAddr("k");
        vm.expectEmit(address(hub));
        emit PatientSmartCard.KioskAdded(hospital2, k);
        vm.prank(hospital2);
        hub.addKiosk(k);
        assertEq(hub.kioskInstitution(k), hospital2);
        (address inst, uint32 id) = hub.institutionOf(k, Role.Hospital);
        assertEq(inst, hospital2);
        assertEq(id, hospital2Id);
    }

    function test_addKiosk_revertsForUnknownInstitution() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownInstitution.selector, stranger));
        hub.addKiosk(stranger);
        // A kiosk cannot add kiosks.
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownInstitution.selector, hospitalKiosk));
        hub.addKiosk(stranger);
    }

    function test_addKiosk_revertsForZero() public {
        vm.prank(hospital);
        vm.expectRevert(_err(PatientSmartCard.ZeroAddress.selector));
        hub.addKiosk(address(0));
    }

    function test_addKiosk_revertsWhenTaken() public {
        vm.prank(hospital2);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.KioskTaken.selector, hospitalKiosk, hospital));
        hub.addKiosk(hospitalKiosk);
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.KioskTaken.selector, hospitalKiosk, hospital));
        hub.addKiosk(hospitalKiosk);
    }

    function test_removeKiosk_byOwner_refusesKiosk() public {
        vm.expectEmit(address(hub));
        emit PatientSmartCard.KioskRemoved(hospital, hospitalKiosk);
        vm.prank(hospital);
        hub.removeKiosk(hospitalKiosk);
        assertEq(hub.kioskInstitution(hospitalKiosk), address(0));
        _assertKioskRefused(hospitalKiosk);

        // The address is free again, e.g. for another institution.
        vm.prank(hospital2);
        hub.addKiosk(hospitalKiosk);
        assertEq(hub.kioskInstitution(hospitalKiosk), hospital2);
    }

    function test_removeKiosk_byAdmin_refusesKiosk() public {
        vm.expectEmit(address(hub));
        emit PatientSmartCard.KioskRemoved(pharmacyOrg, pharmacyKiosk);
        vm.prank(admin);
        hub.removeKiosk(pharmacyKiosk);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, pharmacyKiosk));
        pharmacy.getPatientFullInfo(pid, 0, 10);
        _assertKioskRefused(pharmacyKiosk);
    }

    function _assertKioskRefused(address kiosk) internal {
        bytes memory notKiosk = abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, kiosk);
        vm.expectRevert(notKiosk);
        hub.institutionOf(kiosk, Role.Hospital);
        vm.prank(kiosk);
        vm.expectRevert(notKiosk);
        records.addMedicalRecord(pid, 1, hex"01");
        CardSig memory s = consentSig(PATIENT_PK, pid, hospital, Scope.READ, 0, 9);
        vm.prank(kiosk);
        vm.expectRevert(notKiosk);
        hub.grantConsent(pid, Scope.READ, 0, 9, s);
    }

    function test_removeKiosk_revertsForOthers() public {
        vm.prank(hospital2);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotKioskOwner.selector, hospital2, hospitalKiosk));
        hub.removeKiosk(hospitalKiosk);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotKioskOwner.selector, stranger, hospitalKiosk));
        hub.removeKiosk(hospitalKiosk);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotKioskOwner.selector, hospitalKiosk, hospitalKiosk));
        hub.removeKiosk(hospitalKiosk);
        assertEq(hub.kioskInstitution(hospitalKiosk), hospital);
    }

    function test_removeKiosk_revertsForNonKiosk() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        hub.removeKiosk(stranger);
    }

    // ================================================================ institutionOf / authorize

    function test_institutionOf() public {
        (address inst, uint32 id) = hub.institutionOf(insurerKiosk, Role.Insurer);
        assertEq(inst, insurer);
        assertEq(id, insurerId);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        hub.institutionOf(pharmacyKiosk, Role.Hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        hub.institutionOf(stranger, Role.Hospital);
        // The institution address itself is not a kiosk.
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, hospital));
        hub.institutionOf(hospital, Role.Hospital);
    }

    function test_authorize() public {
        (address inst, uint32 id) = hub.authorize(hospitalKiosk, pid, Role.Hospital, Scope.WRITE | Scope.READ);
        assertEq(inst, hospital);
        assertEq(id, hospitalId);
        hub.authorize(pharmacyKiosk, pid, Role.Pharmacy, Scope.DISPENSE);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.ScopeNotGranted.selector, pid, pharmacyOrg, Scope.WRITE)
        );
        hub.authorize(pharmacyKiosk, pid, Role.Pharmacy, Scope.WRITE);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital2));
        hub.authorize(hospital2Kiosk, pid, Role.Hospital, Scope.READ);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, hospital, Role.Pharmacy, Role.Hospital)
        );
        hub.authorize(hospitalKiosk, pid, Role.Pharmacy, Scope.READ);
    }

    // ================================================================ registerPatient

    function test_registerPatient_emitsAndStoresKey() public {
        bytes32 other = idOf(OTHER_PK);
        (bytes32 x, bytes32 y) = cardKey(OTHER_PK);
        assertEq(other, keccak256(abi.encode(x, y)));
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerSig(OTHER_PK, hospital2, deadline);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.PatientRegistered(other, hospital2);
        vm.prank(hospital2Kiosk);
        assertEq(hub.registerPatient(deadline, s), other);
        assertEq(hub.cardKeyOf(other), other);
        (bool registered, bytes32 keyHash, uint256 nonce) = hub.getPatientInfo(other);
        assertTrue(registered);
        assertEq(keyHash, other);
        assertEq(nonce, 0);
        // Registration grants no consent.
        (uint64 until,,) = hub.consentOf(other, hospital2);
        assertEq(until, 0);
    }

    function test_registerPatient_acceptsDeadlineNow() public {
        uint256 deadline = block.timestamp;
        CardSig memory s = registerSig(OTHER_PK, hospital, deadline);
        vm.prank(hospitalKiosk);
        hub.registerPatient(deadline, s);
        assertEq(hub.cardKeyOf(idOf(OTHER_PK)), idOf(OTHER_PK));
    }

    function test_getPatientInfo_unknownPatient() public view {
        (bool registered, bytes32 keyHash, uint256 nonce) = hub.getPatientInfo(idOf(OTHER_PK));
        assertFalse(registered);
        assertEq(keyHash, bytes32(0));
        assertEq(nonce, 0);
        (registered, keyHash, nonce) = hub.getPatientInfo(pid);
        assertTrue(registered);
        assertEq(keyHash, pid);
    }

    function test_registerPatient_revertsWhenExpired() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerSig(OTHER_PK, hospital, deadline);
        vm.warp(deadline + 1);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.SignatureExpired.selector, deadline));
        hub.registerPatient(deadline, s);
    }

    function test_registerPatient_revertsForDuplicate() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerSig(PATIENT_PK, hospital2, deadline);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.PatientExists.selector, pid));
        hub.registerPatient(deadline, s);
    }

    function test_registerPatient_revertsForForgedSignature() public {
        uint256 deadline = block.timestamp + 1 hours;
        // The stray key signs the other patient's registration, presented with the other patient's public key.
        CardSig memory s = cardSig(STRAY_PK, registerHash(idOf(OTHER_PK), hospital, deadline));
        (s.qx, s.qy) = cardKey(OTHER_PK);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.registerPatient(deadline, s);
        // Garbage r / s.
        s = registerSig(OTHER_PK, hospital, deadline);
        s.r = bytes32(uint256(s.r) ^ 1);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.registerPatient(deadline, s);
        s = registerSig(OTHER_PK, hospital, deadline);
        s.r = 0;
        s.s = 0;
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.registerPatient(deadline, s);
    }

    function test_registerPatient_revertsForHighS() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory low = registerSig(OTHER_PK, hospital, deadline);
        CardSig memory high = toHighS(low);
        assertTrue(uint256(high.s) > P256_HALF_N);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.registerPatient(deadline, high);
        // The same signature in low-s form is accepted.
        vm.prank(hospitalKiosk);
        hub.registerPatient(deadline, low);
    }

    function test_registerPatient_revertsForTamperedTerms() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerSig(OTHER_PK, hospital, deadline);
        // Another deadline than the one signed.
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.registerPatient(deadline + 1, s);
        // Signed for hospital, submitted by hospital2's kiosk.
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.registerPatient(deadline, s);
    }

    function test_registerPatient_revertsForWrongRole() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerSig(OTHER_PK, pharmacyOrg, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        hub.registerPatient(deadline, s);
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, insurer, Role.Hospital, Role.Insurer)
        );
        hub.registerPatient(deadline, s);
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, hospital));
        hub.registerPatient(deadline, s);
    }

    function test_registerPatient_revertsForOtherDeployment() public {
        PatientSmartCard hub2 = new PatientSmartCard(admin);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = signFor(hub2, OTHER_PK, registerHash(idOf(OTHER_PK), hospital, deadline));
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.registerPatient(deadline, s);
    }

    function test_registerPatient_revertsForOtherChain() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 domainBefore = hub.domainSeparator();
        CardSig memory s = registerSig(OTHER_PK, hospital, deadline);
        vm.chainId(42220);
        assertNotEq(hub.domainSeparator(), domainBefore, "domain follows the chain id");
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.registerPatient(deadline, s);
        // Signed for this chain, it is accepted.
        s = registerSig(OTHER_PK, hospital, deadline);
        vm.prank(hospitalKiosk);
        hub.registerPatient(deadline, s);
    }

    // ================================================================ replaceCard

    function _replaceSig(uint256 newPk, address hospital_, uint256 nonce, uint256 deadline)
        internal
        view
        returns (CardSig memory)
    {
        return cardSig(newPk, replaceHash(pid, idOf(newPk), hospital_, nonce, deadline));
    }

    function test_replaceCard_swapsKeyAndKeepsConsent() public {
        (uint64 untilBefore, uint64 nonceBefore, uint8 scopeBefore) = hub.consentOf(pid, hospital);
        bytes32 newHash = idOf(NEW_PK);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = _replaceSig(NEW_PK, hospital, 0, deadline);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.CardReplaced(pid, pid, newHash, hospital);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, deadline, s);

        (bool registered, bytes32 keyHash, uint256 nonce) = hub.getPatientInfo(pid);
        assertTrue(registered);
        assertEq(keyHash, newHash);
        assertEq(nonce, 1);
        assertEq(hub.cardKeyOf(newHash), bytes32(0), "the new key is no patient id");
        (uint64 until, uint64 n, uint8 scope) = hub.consentOf(pid, hospital);
        assertTrue(until == untilBefore && n == nonceBefore && scope == scopeBefore, "consent kept");
        assertEq(addRecord(pid, hospitalKiosk, hex"01"), 0);

        // The old card's signatures are no longer accepted.
        CardSig memory old = consentSig(PATIENT_PK, pid, hospital2, Scope.READ, 0, 1);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        hub.grantConsent(pid, Scope.READ, 0, 1, old);
        // The new card's are.
        CardSig memory fresh = consentSig(NEW_PK, pid, hospital2, Scope.READ, 0, 1);
        vm.prank(hospital2Kiosk);
        hub.grantConsent(pid, Scope.READ, 0, 1, fresh);
        // The old card cannot come back as a new patient either.
        uint256 d2 = block.timestamp + 1 hours;
        CardSig memory reg = registerSig(PATIENT_PK, hospital, d2);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.PatientExists.selector, pid));
        hub.registerPatient(d2, reg);
    }

    function test_replaceCard_killsOldCardsPendingSignatures() public {
        grant(PATIENT_PK, pid, pharmacyKiosk, Scope.READ | Scope.DISPENSE, 0);
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory pendingDispense = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        CardSig memory pendingRevoke = revokeSig(PATIENT_PK, pid, hospital, 5);

        CardSig memory s = _replaceSig(NEW_PK, hospital, 0, deadline);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, deadline, s);

        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        pharmacy.dispensePrescription(id, deadline, pendingDispense);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        hub.revokeConsent(pid, hospital, 5, pendingRevoke);

        // Even with the old card's key swapped for the new one, the signature is not the new card's.
        (pendingDispense.qx, pendingDispense.qy) = cardKey(NEW_PK);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        pharmacy.dispensePrescription(id, deadline, pendingDispense);

        // The new card dispenses (its nonce is now 1).
        dispense(NEW_PK, id, pharmacyKiosk);
        assertTrue(pharmacy.getPrescription(id).status == PharmacyAccess.Status.Completed);
    }

    function test_replaceCard_twice() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = _replaceSig(NEW_PK, hospital, 0, deadline);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, deadline, s);
        s = _replaceSig(NEW2_PK, hospital, 1, deadline);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.CardReplaced(pid, idOf(NEW_PK), idOf(NEW2_PK), hospital);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, deadline, s);
        assertEq(hub.cardKeyOf(pid), idOf(NEW2_PK));
        assertEq(hub.nonces(pid), 2);
    }

    function test_replaceCard_keyNeverServesTwoPatients() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = _replaceSig(NEW_PK, hospital, 0, deadline);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, deadline, s);
        bytes32 newHash = idOf(NEW_PK);
        assertEq(hub.replacementOwner(newHash), pid);
        assertEq(hub.patientOfCard(newHash), pid, "the new card finds its patient");
        assertEq(hub.patientOfCard(pid), bytes32(0), "the retired original card finds nobody");
        // The replacement card cannot register as a new patient...
        CardSig memory reg = registerSig(NEW_PK, hospital, deadline);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, newHash));
        hub.registerPatient(deadline, reg);
        // ...nor become another patient's card, even once it is itself retired.
        bytes32 other = registerPatient(OTHER_PK);
        grant(OTHER_PK, other, hospitalKiosk, Scope.ALL, 0);
        CardSig memory s2 = cardSig(NEW_PK, replaceHash(other, newHash, hospital, 0, deadline));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, newHash));
        hub.replaceCard(other, deadline, s2);
        s = _replaceSig(NEW2_PK, hospital, 1, deadline);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, deadline, s);
        assertEq(hub.patientOfCard(newHash), bytes32(0), "retired");
        assertEq(hub.patientOfCard(idOf(NEW2_PK)), pid);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, newHash));
        hub.replaceCard(other, deadline, s2);
        assertEq(hub.patientOfCard(other), other, "an original card finds its patient");
        assertEq(hub.patientOfCard(bytes32(uint256(1))), bytes32(0), "an unknown key finds nobody");
    }

    function test_replaceCard_needsWriteConsent() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = _replaceSig(NEW_PK, hospital2, 0, deadline);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital2));
        hub.replaceCard(pid, deadline, s);

        grant(PATIENT_PK, pid, hospital2Kiosk, Scope.READ, 0);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.ScopeNotGranted.selector, pid, hospital2, Scope.WRITE)
        );
        hub.replaceCard(pid, deadline, s);

        vm.prank(pharmacyKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        hub.replaceCard(pid, deadline, s);

        grant(PATIENT_PK, pid, hospital2Kiosk, Scope.WRITE, 0);
        vm.prank(hospital2Kiosk);
        hub.replaceCard(pid, deadline, s);
        assertEq(hub.cardKeyOf(pid), idOf(NEW_PK));
    }

    function test_replaceCard_revertsWhenExpired() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = _replaceSig(NEW_PK, hospital, 0, deadline);
        vm.warp(deadline + 1);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.SignatureExpired.selector, deadline));
        hub.replaceCard(pid, deadline, s);
    }

    function test_replaceCard_revertsForKeyInUse() public {
        bytes32 other = registerPatient(OTHER_PK);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = _replaceSig(OTHER_PK, hospital, 0, deadline);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, other));
        hub.replaceCard(pid, deadline, s);
        s = _replaceSig(PATIENT_PK, hospital, 0, deadline);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, pid));
        hub.replaceCard(pid, deadline, s);
    }

    function test_replaceCard_revertsForBadSignature() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory invalid = _err(PatientSmartCard.InvalidCardSignature.selector);
        // Wrong nonce.
        CardSig memory s = _replaceSig(NEW_PK, hospital, 1, deadline);
        vm.prank(hospitalKiosk);
        vm.expectRevert(invalid);
        hub.replaceCard(pid, deadline, s);
        // Signed for another hospital.
        s = _replaceSig(NEW_PK, hospital2, 0, deadline);
        vm.prank(hospitalKiosk);
        vm.expectRevert(invalid);
        hub.replaceCard(pid, deadline, s);
        // Signed by the old card, presented with the new key.
        s = cardSig(PATIENT_PK, replaceHash(pid, idOf(NEW_PK), hospital, 0, deadline));
        (s.qx, s.qy) = cardKey(NEW_PK);
        vm.prank(hospitalKiosk);
        vm.expectRevert(invalid);
        hub.replaceCard(pid, deadline, s);
        // High s.
        s = toHighS(_replaceSig(NEW_PK, hospital, 0, deadline));
        vm.prank(hospitalKiosk);
        vm.expectRevert(invalid);
        hub.replaceCard(pid, deadline, s);
        // None of this moved the nonce.
        assertEq(hub.nonces(pid), 0);
        assertEq(hub.cardKeyOf(pid), pid);
    }

    function test_replaceCard_revertsForUnknownPatient() public {
        bytes32 unknown = idOf(OTHER_PK);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = cardSig(NEW_PK, replaceHash(unknown, idOf(NEW_PK), hospital, 0, deadline));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, unknown, hospital));
        hub.replaceCard(unknown, deadline, s);
    }

    // ================================================================ grantConsent

    function test_grantConsent_fixtureDefaults() public view {
        (uint64 until, uint64 n, uint8 scope) = hub.consentOf(pid, hospital);
        assertEq(until, T0 + 90 days);
        assertEq(n, 1);
        assertEq(scope, Scope.ALL);
        (until, n, scope) = hub.consentOf(pid, pharmacyOrg);
        assertEq(until, T0 + 3 days);
        assertEq(n, 1);
        assertEq(scope, Scope.READ | Scope.DISPENSE);
    }

    function test_grantConsent_defaultWindows() public {
        vm.warp(T0 + 1000);
        uint256 now_ = block.timestamp;
        CardSig memory s = consentSig(PATIENT_PK, pid, hospital2, Scope.WRITE, 0, 1);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.ConsentGranted(pid, hospital2, Scope.WRITE, uint64(now_ + 90 days));
        vm.prank(hospital2Kiosk);
        assertEq(hub.grantConsent(pid, Scope.WRITE, 0, 1, s), now_ + 90 days);
        (uint64 until, uint64 n, uint8 scope) = hub.consentOf(pid, hospital2);
        assertTrue(until == now_ + 90 days && n == 1 && scope == Scope.WRITE);

        s = consentSig(PATIENT_PK, pid, pharmacyOrg2, Scope.READ | Scope.DISPENSE, 0, 1);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.ConsentGranted(pid, pharmacyOrg2, Scope.READ | Scope.DISPENSE, uint64(now_ + 3 days));
        vm.prank(pharmacy2Kiosk);
        assertEq(hub.grantConsent(pid, Scope.READ | Scope.DISPENSE, 0, 1, s), now_ + 3 days);

        s = consentSig(PATIENT_PK, pid, insurer, Scope.READ, 0, 1);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.ConsentGranted(pid, insurer, Scope.READ, uint64(now_ + 90 days));
        vm.prank(insurerKiosk);
        assertEq(hub.grantConsent(pid, Scope.READ, 0, 1, s), now_ + 90 days);
    }

    function test_grantConsent_explicitWindow() public {
        uint64 validUntil = uint64(block.timestamp + 10 days);
        CardSig memory s = consentSig(PATIENT_PK, pid, pharmacyOrg2, Scope.READ, validUntil, 1);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.ConsentGranted(pid, pharmacyOrg2, Scope.READ, validUntil);
        vm.prank(pharmacy2Kiosk);
        assertEq(hub.grantConsent(pid, Scope.READ, validUntil, 1, s), validUntil);
        (uint64 until,,) = hub.consentOf(pid, pharmacyOrg2);
        assertEq(until, validUntil);

        // The longest window is accepted exactly.
        validUntil = uint64(block.timestamp + 730 days);
        s = consentSig(PATIENT_PK, pid, hospital2, Scope.READ, validUntil, 1);
        vm.prank(hospital2Kiosk);
        assertEq(hub.grantConsent(pid, Scope.READ, validUntil, 1, s), validUntil);
        vm.warp(validUntil);
        hub.authorize(hospital2Kiosk, pid, Role.Hospital, Scope.READ);
    }

    function test_grantConsent_revertsForInvalidWindow() public {
        uint64[3] memory bad =
            [uint64(block.timestamp), uint64(block.timestamp - 1), uint64(block.timestamp + 730 days + 1)];
        for (uint256 i; i < bad.length; ++i) {
            CardSig memory s = consentSig(PATIENT_PK, pid, hospital2, Scope.READ, bad[i], 1);
            vm.prank(hospital2Kiosk);
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidWindow.selector, bad[i]));
            hub.grantConsent(pid, Scope.READ, bad[i], 1, s);
        }
    }

    function test_grantConsent_revertsForInvalidScope() public {
        uint8[3] memory bad = [uint8(0), 16, 255];
        for (uint256 i; i < bad.length; ++i) {
            CardSig memory s = consentSig(PATIENT_PK, pid, hospital2, bad[i], 0, 1);
            vm.prank(hospital2Kiosk);
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidScope.selector, bad[i]));
            hub.grantConsent(pid, bad[i], 0, 1, s);
        }
    }

    function test_grantConsent_revertsForStaleOrReplayedNonce() public {
        // The fixture used nonce 1 for the hospital.
        CardSig memory s = consentSig(PATIENT_PK, pid, hospital, Scope.READ, 0, 1);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleNonce.selector, 1, 1));
        hub.grantConsent(pid, Scope.READ, 0, 1, s);
        s = consentSig(PATIENT_PK, pid, hospital, Scope.READ, 0, 0);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleNonce.selector, 0, 1));
        hub.grantConsent(pid, Scope.READ, 0, 0, s);

        // A replay of a used signature.
        s = consentSig(PATIENT_PK, pid, hospital2, Scope.READ, 0, 1);
        vm.prank(hospital2Kiosk);
        hub.grantConsent(pid, Scope.READ, 0, 1, s);
        vm.warp(block.timestamp + 100 days); // even once the consent it granted has lapsed
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleNonce.selector, 1, 1));
        hub.grantConsent(pid, Scope.READ, 0, 1, s);
    }

    function test_grantConsent_allowsNonceGaps() public {
        CardSig memory s = consentSig(PATIENT_PK, pid, hospital2, Scope.READ, 0, 7);
        vm.prank(hospital2Kiosk);
        hub.grantConsent(pid, Scope.READ, 0, 7, s);
        (, uint64 n,) = hub.consentOf(pid, hospital2);
        assertEq(n, 7);
        s = consentSig(PATIENT_PK, pid, hospital2, Scope.ALL, 0, 5);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleNonce.selector, 5, 7));
        hub.grantConsent(pid, Scope.ALL, 0, 5, s);
    }

    function test_grantConsent_revertsForWrongKey() public {
        registerPatient(OTHER_PK);
        // Another registered patient's card signs for this patient.
        CardSig memory s = consentSig(OTHER_PK, pid, hospital2, Scope.READ, 0, 1);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        hub.grantConsent(pid, Scope.READ, 0, 1, s);
        // Another key signs, presenting this patient's public key.
        s.qx = qx;
        s.qy = qy;
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.grantConsent(pid, Scope.READ, 0, 1, s);
    }

    function test_grantConsent_revertsForUnknownPatient() public {
        bytes32 unknown = idOf(OTHER_PK);
        CardSig memory s = consentSig(OTHER_PK, unknown, hospital2, Scope.READ, 0, 1);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownPatient.selector, unknown));
        hub.grantConsent(unknown, Scope.READ, 0, 1, s);
    }

    function test_grantConsent_revertsForNonKiosk() public {
        CardSig memory s = consentSig(PATIENT_PK, pid, hospital2, Scope.READ, 0, 1);
        vm.prank(hospital2);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, hospital2));
        hub.grantConsent(pid, Scope.READ, 0, 1, s);
    }

    function test_grantConsent_signatureBindsInstitutionAndTerms() public {
        bytes memory invalid = _err(PatientSmartCard.InvalidCardSignature.selector);
        // Signed for hospital2, submitted by hospital's kiosk.
        CardSig memory s = consentSig(PATIENT_PK, pid, hospital2, Scope.ALL, 0, 2);
        vm.prank(hospitalKiosk);
        vm.expectRevert(invalid);
        hub.grantConsent(pid, Scope.ALL, 0, 2, s);
        // Scope, window or nonce other than signed.
        s = consentSig(PATIENT_PK, pid, hospital2, Scope.READ, 0, 1);
        vm.startPrank(hospital2Kiosk);
        vm.expectRevert(invalid);
        hub.grantConsent(pid, Scope.ALL, 0, 1, s);
        vm.expectRevert(invalid);
        hub.grantConsent(pid, Scope.READ, uint64(block.timestamp + 1 days), 1, s);
        vm.expectRevert(invalid);
        hub.grantConsent(pid, Scope.READ, 0, 2, s);
        // High s.
        vm.expectRevert(invalid);
        hub.grantConsent(pid, Scope.READ, 0, 1, toHighS(s));
        vm.stopPrank();
        (uint64 until,,) = hub.consentOf(pid, hospital2);
        assertEq(until, 0);
    }

    function test_grantConsent_revertsForOtherDeploymentOrChain() public {
        PatientSmartCard hub2 = new PatientSmartCard(admin);
        CardSig memory s = signFor(hub2, PATIENT_PK, consentHash(pid, hospital2, Scope.READ, 0, 1));
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.grantConsent(pid, Scope.READ, 0, 1, s);

        s = consentSig(PATIENT_PK, pid, hospital2, Scope.READ, 0, 1);
        vm.chainId(11142220);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.grantConsent(pid, Scope.READ, 0, 1, s);
    }

    function test_grantConsent_narrowsScope() public {
        grant(PATIENT_PK, pid, hospitalKiosk, Scope.READ, 0);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.ScopeNotGranted.selector, pid, hospital, Scope.WRITE));
        records.addMedicalRecord(pid, 1, hex"01");
    }

    // ================================================================ revokeConsent

    function test_revokeConsent_endsAccessAtOnce() public {
        CardSig memory s = revokeSig(PATIENT_PK, pid, hospital, 2);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.ConsentRevoked(pid, hospital);
        vm.prank(stranger); // anyone may submit the card's revocation
        hub.revokeConsent(pid, hospital, 2, s);
        (uint64 until, uint64 n, uint8 scope) = hub.consentOf(pid, hospital);
        assertTrue(until == 0 && n == 2 && scope == 0);

        bytes memory noConsent = abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital);
        vm.prank(hospitalKiosk);
        vm.expectRevert(noConsent);
        records.addMedicalRecord(pid, 1, hex"01");
        vm.prank(hospitalKiosk);
        vm.expectRevert(noConsent);
        pharmacy.issuePrescription(pid, 0, hex"01");
        vm.expectRevert(noConsent);
        hub.authorize(hospitalKiosk, pid, Role.Hospital, Scope.READ);

        // A fresh consent (higher nonce) restores access.
        grant(PATIENT_PK, pid, hospitalKiosk, Scope.WRITE, 0);
        (, n,) = hub.consentOf(pid, hospital);
        assertEq(n, 3);
        assertEq(addRecord(pid, hospitalKiosk, hex"01"), 0);
    }

    function test_revokeConsent_pharmacyLosesFullInfo() public {
        revoke(PATIENT_PK, pid, pharmacyOrg);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, pharmacyOrg));
        pharmacy.getPatientFullInfo(pid, 0, 10);
    }

    function test_revokeConsent_revertsForStaleNonce() public {
        CardSig memory s = revokeSig(PATIENT_PK, pid, hospital, 1);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleNonce.selector, 1, 1));
        hub.revokeConsent(pid, hospital, 1, s);
        // A replayed revocation.
        s = revokeSig(PATIENT_PK, pid, hospital, 2);
        hub.revokeConsent(pid, hospital, 2, s);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleNonce.selector, 2, 2));
        hub.revokeConsent(pid, hospital, 2, s);
        // A used grant nonce cannot be reused for a revocation and vice versa.
        grant(PATIENT_PK, pid, hospitalKiosk, Scope.READ, 0); // nonce 3
        s = revokeSig(PATIENT_PK, pid, hospital, 3);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleNonce.selector, 3, 3));
        hub.revokeConsent(pid, hospital, 3, s);
    }

    function test_revokeConsent_revertsForBadSignature() public {
        bytes memory invalid = _err(PatientSmartCard.InvalidCardSignature.selector);
        CardSig memory s = revokeSig(PATIENT_PK, pid, hospital2, 2);
        vm.expectRevert(invalid);
        hub.revokeConsent(pid, hospital, 2, s);
        s = revokeSig(PATIENT_PK, pid, hospital, 2);
        vm.expectRevert(invalid);
        hub.revokeConsent(pid, hospital, 3, s);
        vm.expectRevert(invalid);
        hub.revokeConsent(pid, hospital, 2, toHighS(s));
        registerPatient(OTHER_PK);
        s = revokeSig(OTHER_PK, pid, hospital, 2);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        hub.revokeConsent(pid, hospital, 2, s);
        (uint64 until,,) = hub.consentOf(pid, hospital);
        assertEq(until, T0 + 90 days);
    }

    function test_revokeConsent_revertsForUnknownPatient() public {
        bytes32 unknown = idOf(OTHER_PK);
        CardSig memory s = revokeSig(OTHER_PK, unknown, hospital, 1);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownPatient.selector, unknown));
        hub.revokeConsent(unknown, hospital, 1, s);
    }

    // ================================================================ expiry

    function test_consent_expiresAfterWindow() public {
        uint256 until = T0 + 90 days;
        vm.warp(until);
        hub.authorize(hospitalKiosk, pid, Role.Hospital, Scope.WRITE);
        assertEq(addRecord(pid, hospitalKiosk, hex"01"), 0);
        vm.warp(until + 1);
        bytes memory noConsent = abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital);
        vm.expectRevert(noConsent);
        hub.authorize(hospitalKiosk, pid, Role.Hospital, Scope.WRITE);
        vm.prank(hospitalKiosk);
        vm.expectRevert(noConsent);
        records.addMedicalRecord(pid, 1, hex"01");
    }

    function test_consent_pharmacyWindowIsThreeDays() public {
        vm.warp(T0 + 3 days);
        vm.prank(pharmacyKiosk);
        pharmacy.getPatientFullInfo(pid, 0, 1);
        vm.warp(T0 + 3 days + 1);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, pharmacyOrg));
        pharmacy.getPatientFullInfo(pid, 0, 1);
    }

    // ================================================================ verifyCardSignature / useNonce

    function test_verifyCardSignature() public {
        bytes32 structHash = keccak256("anything");
        CardSig memory s = cardSig(PATIENT_PK, structHash);
        hub.verifyCardSignature(pid, structHash, s);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.verifyCardSignature(pid, keccak256("something else"), s);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.verifyCardSignature(pid, structHash, toHighS(s));
        bytes32 unknown = idOf(OTHER_PK);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownPatient.selector, unknown));
        hub.verifyCardSignature(unknown, structHash, s);
        registerPatient(OTHER_PK);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, unknown));
        hub.verifyCardSignature(unknown, structHash, s);
    }

    function test_useNonce_onlyModules() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, stranger));
        hub.useNonce(pid);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, admin));
        hub.useNonce(pid);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, pharmacyKiosk));
        hub.useNonce(pid);

        vm.prank(address(pharmacy));
        assertEq(hub.useNonce(pid), 0);
        vm.prank(address(records));
        assertEq(hub.useNonce(pid), 1);
        vm.prank(address(insurance));
        assertEq(hub.useNonce(pid), 2);
        assertEq(hub.nonces(pid), 3);
    }
}
