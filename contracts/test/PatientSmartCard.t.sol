// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./utils/Fixture.sol";
import {Role, CardSig, Scope, ConsentTerms} from "../src/CareTypes.sol";
import {PatientSmartCard} from "../src/PatientSmartCard.sol";
import {PharmacyAccess} from "../src/PharmacyAccess.sol";
import {HospitalRecord} from "../src/HospitalRecord.sol";

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
        PatientSmartCard h = new PatientSmartCard(stranger, 2 days, guardian);
        assertEq(h.admin(), stranger);
        assertEq(h.governanceDelay(), 2 days);
        assertEq(h.guardian(), guardian);
        assertEq(h.pendingAdmin(), address(0));
        assertEq(h.hospitalRecord(), address(0));
        assertEq(h.institutionCount(), 0);
    }

    function test_constructor_revertsOnZeroAdmin() public {
        vm.expectRevert(_err(PatientSmartCard.ZeroAddress.selector));
        new PatientSmartCard(address(0), 0, guardian);
    }

    function test_constants() public view {
        assertEq(hub.HOSPITAL_WINDOW(), 90 days);
        assertEq(hub.PHARMACY_WINDOW(), 3 days);
        assertEq(hub.INSURER_WINDOW(), 90 days);
        assertEq(hub.MAX_HOSPITAL_WINDOW(), 365 days);
        assertEq(hub.MAX_PHARMACY_WINDOW(), 30 days);
        assertEq(hub.MAX_INSURER_WINDOW(), 365 days);
        assertEq(hub.MAX_SIGNATURE_AGE(), 1 hours);
        assertEq(hub.MAX_CLOCK_SKEW(), 5 minutes);
        assertEq(hub.HOSPITAL_SCOPES(), 7);
        assertEq(hub.PHARMACY_SCOPES(), 9);
        assertEq(hub.INSURER_SCOPES(), 1);
        assertEq(
            hub.REGISTER_TYPEHASH(),
            keccak256(
                "RegisterPatient(bytes32 patientId,address hospital,bytes32 recoveryKeyHash,bytes32 keyBundleHash,uint256 deadline)"
            )
        );
        assertEq(
            hub.REPORT_LOST_TYPEHASH(), keccak256("ReportLost(bytes32 patientId,uint64 epoch,uint64 signedAt)")
        );
        assertEq(hub.MAX_KEY_BUNDLE(), 8192);
        assertEq(
            hub.CONSENT_TYPEHASH(),
            keccak256(
                "Consent(bytes32 patientId,address institution,uint8 scope,uint64 validUntil,uint64 epoch,uint64 signedAt)"
            )
        );
        assertEq(
            hub.REVOKE_TYPEHASH(), keccak256("RevokeConsent(bytes32 patientId,address institution,uint64 signedAt)")
        );
        assertEq(
            hub.REVOKE_ALL_TYPEHASH(), keccak256("RevokeAllConsents(bytes32 patientId,uint64 epoch,uint64 signedAt)")
        );
        assertEq(
            hub.REPLACE_TYPEHASH(),
            keccak256(
                "ReplaceCard(bytes32 patientId,bytes32 newCardKeyHash,address hospital,bytes32 newRecoveryKeyHash,bytes32 keyBundleHash,uint64 epoch,uint64 signedAt)"
            )
        );
    }

    function test_domainSeparator_isEip712OfThisDeployment() public view {
        bytes32 expected = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("carekiosk"),
                keccak256("2"),
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
        assertEq(hub.kioskOffer(insurerKiosk), address(0), "accepted offers are gone");
        assertEq(hub.institutionAddress(hospitalId), hospital);
        assertEq(hub.institutionAddress(insurer2Id), insurer2);
        assertEq(hub.institutionAddress(0), address(0));
        assertEq(hub.governanceDelay(), 0);
        assertEq(hub.guardian(), guardian);
        assertEq(address(records.hub()), address(hub));
        assertEq(address(pharmacy.hub()), address(hub));
        assertEq(address(insurance.hub()), address(hub));
    }

    // ================================================================ admin transfer

    function _transferAdmin(address next) internal {
        govern(address(hub), abi.encodeCall(PatientSmartCard.transferAdmin, (next)));
    }

    function test_transferAdmin_isTwoStep() public {
        scheduleGoverned(address(hub), abi.encodeCall(PatientSmartCard.transferAdmin, (stranger)));
        vm.expectEmit(address(hub));
        emit PatientSmartCard.AdminTransferStarted(admin, stranger);
        executeGoverned(address(hub), abi.encodeCall(PatientSmartCard.transferAdmin, (stranger)));
        assertEq(hub.pendingAdmin(), stranger);
        assertEq(hub.admin(), admin);

        vm.expectEmit(address(hub));
        emit PatientSmartCard.AdminTransferred(admin, stranger);
        vm.prank(stranger);
        hub.acceptAdmin();
        assertEq(hub.admin(), stranger);
        assertEq(hub.pendingAdmin(), address(0));

        // The old admin has lost its powers, the new one has them.
        bytes memory suspend = abi.encodeCall(PatientSmartCard.setInstitutionActive, (hospital, false));
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, admin));
        hub.schedule(address(hub), suspend);
        address newHospital = makeAddr("newHospital");
        bytes memory reg = abi.encodeCall(HospitalRecord.registerHospital, (newHospital));
        vm.startPrank(stranger);
        hub.schedule(address(records), reg);
        hub.execute(address(records), reg);
        vm.stopPrank();
        (,, uint32 id) = hub.institutions(newHospital);
        assertEq(id, 7);
    }

    function test_transferAdmin_revertsOutsideGovernance() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, stranger));
        hub.transferAdmin(stranger);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, admin));
        hub.transferAdmin(stranger);
        assertEq(hub.pendingAdmin(), address(0));
    }

    function test_acceptAdmin_revertsForOthers() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotPendingAdmin.selector, stranger));
        hub.acceptAdmin();

        _transferAdmin(stranger);
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotPendingAdmin.selector, hospital));
        hub.acceptAdmin();
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotPendingAdmin.selector, admin));
        hub.acceptAdmin();
    }

    function test_transferAdmin_canBeCancelled() public {
        _transferAdmin(stranger);
        _transferAdmin(address(0));
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
        PatientSmartCard h = new PatientSmartCard(admin, 0, guardian);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, stranger));
        h.wire(address(1), address(2), address(3));
    }

    function test_wire_rejectsZeroAndEmits() public {
        PatientSmartCard h = new PatientSmartCard(admin, 0, guardian);
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
        (address regTarget, bytes memory regCall) = registerCall(x, Role.Pharmacy);
        scheduleGoverned(regTarget, regCall);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.InstitutionRegistered(x, Role.Pharmacy, 7);
        executeGoverned(regTarget, regCall);
        (,, uint32 newId) = hub.institutions(x);
        assertEq(newId, 7);
        assertEq(hub.institutionAddress(7), x);
        (Role role, bool active, uint32 id) = hub.institutions(x);
        assertTrue(role == Role.Pharmacy && active && id == 7);
        assertEq(hub.institutionCount(), 7);
    }

    function test_registerInstitutionBy_revertsFromNonModule() public {
        address x = makeAddr("x");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, stranger));
        hub.registerInstitutionBy(address(hub), x, Role.Hospital);
        // Even the admin must go through the module.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, admin));
        hub.registerInstitutionBy(address(hub), x, Role.Insurer);
        // A module may only register its own role.
        vm.prank(address(pharmacy));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, address(pharmacy)));
        hub.registerInstitutionBy(address(hub), x, Role.Hospital);
        vm.prank(address(records));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, address(records)));
        hub.registerInstitutionBy(address(hub), x, Role.Insurer);
    }

    function test_registerInstitutionBy_revertsOutsideGovernance() public {
        address x = makeAddr("x");
        vm.startPrank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, stranger));
        records.registerHospital(x);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, stranger));
        pharmacy.registerPharmacy(x);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, stranger));
        insurance.registerInsurer(x);
        vm.stopPrank();
        // An institution is not governance, and neither is the admin acting directly.
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, hospital));
        records.registerHospital(x);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, admin));
        records.registerHospital(x);
    }

    function test_registerInstitutionBy_revertsForBadRole() public {
        vm.prank(address(records));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidRole.selector, Role.None));
        hub.registerInstitutionBy(address(hub), stranger, Role.None);
    }

    function test_registerInstitutionBy_revertsOnUnwiredHub() public {
        PatientSmartCard h = new PatientSmartCard(admin, 0, guardian);
        vm.prank(address(records));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidRole.selector, Role.Hospital));
        h.registerInstitutionBy(address(h), stranger, Role.Hospital);
    }

    /// @dev Schedules the registration, then expects its execution to revert with `err`.
    function _expectRegisterRevert(address institution, Role role, bytes memory err) internal {
        (address target, bytes memory data) = registerCall(institution, role);
        vm.startPrank(admin);
        hub.schedule(target, data);
        vm.expectRevert(err);
        hub.execute(target, data);
        vm.stopPrank();
    }

    function test_registerInstitutionBy_revertsForDuplicate() public {
        _expectRegisterRevert(
            hospital, Role.Hospital, abi.encodeWithSelector(PatientSmartCard.AlreadyRegistered.selector, hospital)
        );
        _expectRegisterRevert(
            hospital, Role.Pharmacy, abi.encodeWithSelector(PatientSmartCard.AlreadyRegistered.selector, hospital)
        );
        _expectRegisterRevert(
            pharmacyOrg, Role.Insurer, abi.encodeWithSelector(PatientSmartCard.AlreadyRegistered.selector, pharmacyOrg)
        );
        assertEq(hub.institutionCount(), 6);
    }

    function test_registerInstitutionBy_revertsForZeroInstitution() public {
        _expectRegisterRevert(address(0), Role.Hospital, _err(PatientSmartCard.ZeroAddress.selector));
    }

    // ================================================================ setInstitutionActive

    function test_setInstitutionActive_suspendsAllKiosks() public {
        scheduleGoverned(address(hub), abi.encodeCall(PatientSmartCard.setInstitutionActive, (hospital, false)));
        vm.expectEmit(address(hub));
        emit PatientSmartCard.InstitutionActiveSet(hospital, false);
        executeGoverned(address(hub), abi.encodeCall(PatientSmartCard.setInstitutionActive, (hospital, false)));
        (, bool active,) = hub.institutions(hospital);
        assertFalse(active);

        bytes memory inactive = abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, hospital);
        vm.expectRevert(inactive);
        hub.institutionOf(hospitalKiosk, Role.Hospital);

        vm.prank(hospitalKiosk);
        vm.expectRevert(inactive);
        records.addMedicalRecord(pid, env(0x01));

        vm.prank(hospitalKiosk);
        vm.expectRevert(inactive);
        pharmacy.issuePrescription(pid, 0, bytes32(0), env(0x01));

        address newKiosk = makeAddr("newKiosk");
        vm.prank(hospital);
        vm.expectRevert(inactive);
        hub.addKiosk(newKiosk);

        uint64 sAt = nextSignedAt(pid, hospital);
        CardSig memory s = consentSig(PATIENT_PK, pid, hospital, Scope.READ, sAt + 1 days, 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(inactive);
        hub.grantConsent(pid, Scope.READ, sAt + 1 days, 1, sAt, s);

        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory r = registerSig(OTHER_PK, hospital, deadline);
        vm.prank(hospitalKiosk);
        vm.expectRevert(inactive);
        registerWith(hub, deadline, r);

        // Reinstated, the kiosks work again.
        scheduleGoverned(address(hub), abi.encodeCall(PatientSmartCard.setInstitutionActive, (hospital, true)));
        vm.expectEmit(address(hub));
        emit PatientSmartCard.InstitutionActiveSet(hospital, true);
        executeGoverned(address(hub), abi.encodeCall(PatientSmartCard.setInstitutionActive, (hospital, true)));
        assertEq(addRecord(pid, hospitalKiosk, env(0x01)), 0);
    }

    function test_setInstitutionActive_suspendedPharmacyCannotDispense() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        setActive(pharmacyOrg, false);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, pharmacyOrg));
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
    }

    function test_setInstitutionActive_revertsOutsideGovernance() public {
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, hospital));
        hub.setInstitutionActive(hospital, false);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, admin));
        hub.setInstitutionActive(hospital, false);
        (, bool active,) = hub.institutions(hospital);
        assertTrue(active);
    }

    function test_setInstitutionActive_revertsForUnknown() public {
        bytes memory call_ = abi.encodeCall(PatientSmartCard.setInstitutionActive, (stranger, false));
        scheduleGoverned(address(hub), call_);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownInstitution.selector, stranger));
        hub.execute(address(hub), call_);
    }

    // ================================================================ governance: schedule / execute / cancel

    function _delayedHub() internal returns (PatientSmartCard h) {
        h = new PatientSmartCard(admin, 2 days, guardian);
        vm.prank(admin);
        h.wire(address(records), address(pharmacy), address(insurance));
    }

    function test_schedule_recordsEtaAndEmits() public {
        PatientSmartCard h = _delayedHub();
        bytes memory call_ = abi.encodeCall(PatientSmartCard.setGuardian, (stranger));
        bytes32 id = keccak256(abi.encode(address(h), call_));
        vm.expectEmit(address(h));
        emit PatientSmartCard.Scheduled(id, address(h), call_, block.timestamp + 2 days);
        vm.prank(admin);
        assertEq(h.schedule(address(h), call_), id);
        assertEq(h.etaOf(id), block.timestamp + 2 days);
        // The same call twice is refused while pending.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.AlreadyScheduled.selector, id));
        h.schedule(address(h), call_);
    }

    function test_schedule_onlyHubAndModulesAsTargets() public {
        bytes memory call_ = abi.encodeCall(TestTarget.poke, ());
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidTarget.selector, address(token)));
        hub.schedule(address(token), call_);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidTarget.selector, address(0)));
        hub.schedule(address(0), call_);
        hub.schedule(address(hub), call_);
        hub.schedule(address(records), call_);
        hub.schedule(address(pharmacy), call_);
        hub.schedule(address(insurance), call_);
        vm.stopPrank();
        // An unwired hub only governs itself.
        PatientSmartCard h = new PatientSmartCard(admin, 0, guardian);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidTarget.selector, address(0)));
        h.schedule(address(0), call_);
    }

    function test_execute_afterTheDelayOnly() public {
        PatientSmartCard h = _delayedHub();
        bytes memory call_ = abi.encodeCall(PatientSmartCard.setGuardian, (stranger));
        bytes32 id = keccak256(abi.encode(address(h), call_));
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotScheduled.selector, id));
        h.execute(address(h), call_);
        vm.prank(admin);
        h.schedule(address(h), call_);
        uint256 eta = block.timestamp + 2 days;
        vm.warp(eta - 1);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotReady.selector, id, eta));
        h.execute(address(h), call_);
        vm.warp(eta);
        vm.expectEmit(address(h));
        emit PatientSmartCard.GuardianSet(guardian, stranger);
        vm.expectEmit(address(h));
        emit PatientSmartCard.Executed(id);
        vm.prank(admin);
        h.execute(address(h), call_);
        assertEq(h.guardian(), stranger);
        assertEq(h.etaOf(id), 0, "executed calls are forgotten");
        // Once executed, the same call needs scheduling again.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotScheduled.selector, id));
        h.execute(address(h), call_);
    }

    function test_execute_bubblesTheRevertAndKeepsTheCallScheduled() public {
        bytes memory call_ = abi.encodeCall(PatientSmartCard.setInstitutionActive, (stranger, true));
        bytes32 id = keccak256(abi.encode(address(hub), call_));
        scheduleGoverned(address(hub), call_);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownInstitution.selector, stranger));
        hub.execute(address(hub), call_);
        assertEq(hub.etaOf(id), block.timestamp, "still scheduled");
        // Only the admin executes.
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, guardian));
        hub.execute(address(hub), call_);
    }

    function test_cancel_byAdminOrGuardianOnly() public {
        PatientSmartCard h = _delayedHub();
        bytes memory call_ = abi.encodeCall(PatientSmartCard.setGuardian, (stranger));
        bytes32 id = keccak256(abi.encode(address(h), call_));
        vm.prank(admin);
        h.schedule(address(h), call_);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGuardian.selector, stranger));
        h.cancel(id);
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGuardian.selector, hospital));
        h.cancel(id);
        vm.expectEmit(address(h));
        emit PatientSmartCard.Cancelled(id);
        vm.prank(guardian);
        h.cancel(id);
        assertEq(h.etaOf(id), 0);
        vm.warp(block.timestamp + 3 days);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotScheduled.selector, id));
        h.execute(address(h), call_);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotScheduled.selector, id));
        h.cancel(id);
        // The admin may cancel its own call too, and schedule it again.
        vm.startPrank(admin);
        h.schedule(address(h), call_);
        h.cancel(id);
        h.schedule(address(h), call_);
        vm.stopPrank();
        assertEq(h.etaOf(id), block.timestamp + 2 days);
    }

    function test_setGuardian_governedOnly() public {
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, admin));
        hub.setGuardian(stranger);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, guardian));
        hub.setGuardian(stranger);
        govern(address(hub), abi.encodeCall(PatientSmartCard.setGuardian, (stranger)));
        assertEq(hub.guardian(), stranger);
        // The old guardian can no longer cancel.
        scheduleGoverned(address(hub), abi.encodeCall(PatientSmartCard.setGuardian, (address(0))));
        bytes32 id = keccak256(abi.encode(address(hub), abi.encodeCall(PatientSmartCard.setGuardian, (address(0)))));
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGuardian.selector, guardian));
        hub.cancel(id);
        vm.prank(stranger);
        hub.cancel(id);
    }

    // ================================================================ kiosks

    function test_addKiosk_offersAndTheKioskAccepts() public {
        address k = makeAddr("k");
        vm.expectEmit(address(hub));
        emit PatientSmartCard.KioskOffered(hospital2, k);
        vm.prank(hospital2);
        hub.addKiosk(k);
        assertEq(hub.kioskOffer(k), hospital2);
        assertEq(hub.kioskInstitution(k), address(0), "not a kiosk before it accepts");
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, k));
        hub.institutionOf(k, Role.Hospital);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.KioskAdded(hospital2, k);
        vm.prank(k);
        hub.acceptKiosk(hospital2);
        assertEq(hub.kioskOffer(k), address(0), "offer used");
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

    function test_acceptKiosk_needsTheMatchingOffer() public {
        address k = makeAddr("k");
        vm.prank(k);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoKioskOffer.selector, k, hospital));
        hub.acceptKiosk(hospital);
        vm.prank(hospital);
        hub.addKiosk(k);
        vm.prank(k);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoKioskOffer.selector, k, hospital2));
        hub.acceptKiosk(hospital2);
        vm.prank(k);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoKioskOffer.selector, k, address(0)));
        hub.acceptKiosk(address(0));
        // Only the kiosk key itself accepts.
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoKioskOffer.selector, hospital, hospital));
        hub.acceptKiosk(hospital);
        // A later offer replaces an unaccepted one.
        vm.prank(hospital2);
        hub.addKiosk(k);
        assertEq(hub.kioskOffer(k), hospital2);
        vm.prank(k);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoKioskOffer.selector, k, hospital));
        hub.acceptKiosk(hospital);
        assertEq(hub.kioskInstitution(k), address(0));
    }

    function test_acceptKiosk_revertsWhenTheInstitutionWasSuspended() public {
        address k = makeAddr("k");
        vm.prank(hospital);
        hub.addKiosk(k);
        setActive(hospital, false);
        vm.prank(k);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, hospital));
        hub.acceptKiosk(hospital);
        setActive(hospital, true);
        vm.prank(k);
        hub.acceptKiosk(hospital);
        assertEq(hub.kioskInstitution(k), hospital);
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

        // The address is free again, e.g. for another institution, if the key accepts it.
        _addKiosk(hospital2, hospitalKiosk);
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
        records.addMedicalRecord(pid, env(0x01));
        uint64 sAt = nextSignedAt(pid, hospital);
        CardSig memory s = consentSig(PATIENT_PK, pid, hospital, Scope.READ, sAt + 1 days, 1, sAt);
        vm.prank(kiosk);
        vm.expectRevert(notKiosk);
        hub.grantConsent(pid, Scope.READ, sAt + 1 days, 1, sAt, s);
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
        assertEq(registerWith(hub, deadline, s), other);
        assertEq(hub.cardKeyOf(other), other);
        (bool registered, bytes32 keyHash, uint256 nonce, uint64 epoch) = hub.getPatientInfo(other);
        assertTrue(registered);
        assertEq(keyHash, other);
        assertEq(nonce, 0);
        assertEq(epoch, 1, "the epoch starts at 1");
        assertEq(hub.epochOf(other), 1);
        assertEq(hub.patientOfRecovery(recoveryHashOf(other)), other, "the recovery key hash");
        assertEq(hub.keyBundleOf(other), bundlePrefix(keyBundle()), "the key bundle hash");
        assertFalse(hub.cardLost(other));
        assertEq(hub.patientOfCard(other), other);
        // Registration grants no consent.
        (uint64 until,,,) = hub.consentOf(other, hospital2);
        assertEq(until, 0);
    }

    function test_registerPatient_acceptsDeadlineNow() public {
        uint256 deadline = block.timestamp;
        CardSig memory s = registerSig(OTHER_PK, hospital, deadline);
        vm.prank(hospitalKiosk);
        registerWith(hub, deadline, s);
        assertEq(hub.cardKeyOf(idOf(OTHER_PK)), idOf(OTHER_PK));
    }

    function test_getPatientInfo_unknownPatient() public view {
        (bool registered, bytes32 keyHash, uint256 nonce, uint64 epoch) = hub.getPatientInfo(idOf(OTHER_PK));
        assertFalse(registered);
        assertEq(keyHash, bytes32(0));
        assertEq(nonce, 0);
        assertEq(epoch, 0);
        (registered, keyHash, nonce, epoch) = hub.getPatientInfo(pid);
        assertEq(epoch, 1);
        assertTrue(registered);
        assertEq(keyHash, pid);
    }

    function test_registerPatient_revertsForZeroRecoveryKey() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 other = idOf(OTHER_PK);
        CardSig memory s = cardSig(OTHER_PK, registerHashWith(other, hospital, 0, keccak256(keyBundle()), deadline));
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidRecoveryKey.selector));
        hub.registerPatient(deadline, 0, keyBundle(), s);
    }

    function test_registerPatient_revertsForBadKeyBundle() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 other = idOf(OTHER_PK);
        bytes32 rk = recoveryHashOf(other);
        uint256 max = hub.MAX_KEY_BUNDLE();
        CardSig memory s = cardSig(OTHER_PK, registerHashWith(other, hospital, rk, keccak256(""), deadline));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidKeyBundle.selector, 0));
        hub.registerPatient(deadline, rk, "", s);
        bytes memory tooLong = new bytes(max + 1);
        s = cardSig(OTHER_PK, registerHashWith(other, hospital, rk, keccak256(tooLong), deadline));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidKeyBundle.selector, max + 1));
        hub.registerPatient(deadline, rk, tooLong, s);
        // The largest bundle is accepted.
        bytes memory largest = new bytes(max);
        s = cardSig(OTHER_PK, registerHashWith(other, hospital, rk, keccak256(largest), deadline));
        vm.prank(hospitalKiosk);
        hub.registerPatient(deadline, rk, largest, s);
        assertEq(hub.keyBundleOf(other), bundlePrefix(largest));
    }

    function test_registerPatient_revertsWhenExpired() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerSig(OTHER_PK, hospital, deadline);
        vm.warp(deadline + 1);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.SignatureExpired.selector, deadline));
        registerWith(hub, deadline, s);
    }

    function test_registerPatient_revertsForDuplicate() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerSig(PATIENT_PK, hospital2, deadline);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.PatientExists.selector, pid));
        registerWith(hub, deadline, s);
    }

    function test_registerPatient_revertsForForgedSignature() public {
        uint256 deadline = block.timestamp + 1 hours;
        // The stray key signs the other patient's registration, presented with the other patient's public key.
        CardSig memory s = cardSig(STRAY_PK, registerHash(idOf(OTHER_PK), hospital, deadline));
        (s.qx, s.qy) = cardKey(OTHER_PK);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        registerWith(hub, deadline, s);
        // Garbage r / s.
        s = registerSig(OTHER_PK, hospital, deadline);
        s.r = bytes32(uint256(s.r) ^ 1);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        registerWith(hub, deadline, s);
        s = registerSig(OTHER_PK, hospital, deadline);
        s.r = 0;
        s.s = 0;
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        registerWith(hub, deadline, s);
    }

    function test_registerPatient_revertsForHighS() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory low = registerSig(OTHER_PK, hospital, deadline);
        CardSig memory high = toHighS(low);
        assertTrue(uint256(high.s) > P256_HALF_N);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        registerWith(hub, deadline, high);
        // The same signature in low-s form is accepted.
        vm.prank(hospitalKiosk);
        registerWith(hub, deadline, low);
    }

    function test_registerPatient_revertsForTamperedTerms() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerSig(OTHER_PK, hospital, deadline);
        // Another deadline than the one signed.
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        registerWith(hub, deadline + 1, s);
        // Signed for hospital, submitted by hospital2's kiosk.
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        registerWith(hub, deadline, s);
    }

    function test_registerPatient_revertsForWrongRole() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerSig(OTHER_PK, pharmacyOrg, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        registerWith(hub, deadline, s);
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, insurer, Role.Hospital, Role.Insurer)
        );
        registerWith(hub, deadline, s);
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, hospital));
        registerWith(hub, deadline, s);
    }

    function test_registerPatient_revertsForOtherDeployment() public {
        PatientSmartCard hub2 = new PatientSmartCard(admin, 0, guardian);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = signFor(hub2, OTHER_PK, registerHash(idOf(OTHER_PK), hospital, deadline));
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        registerWith(hub, deadline, s);
    }

    function test_registerPatient_revertsForOtherChain() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 domainBefore = hub.domainSeparator();
        CardSig memory s = registerSig(OTHER_PK, hospital, deadline);
        vm.chainId(42220);
        assertNotEq(hub.domainSeparator(), domainBefore, "domain follows the chain id");
        vm.prank(hospitalKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        registerWith(hub, deadline, s);
        // Signed for this chain, it is accepted.
        s = registerSig(OTHER_PK, hospital, deadline);
        vm.prank(hospitalKiosk);
        registerWith(hub, deadline, s);
    }

    // ================================================================ replaceCard

    /// @dev The patient's recovery key and the new card `newPk` sign ReplaceCard for `hospital_`, now, in the
    /// current epoch, keeping the recovery key, with the key bundle `keyBundleOf(2)`.
    function _replaceSigs(uint256 newPk, address hospital_)
        internal
        view
        returns (uint64 sAt, CardSig memory rec, CardSig memory card)
    {
        return _replaceSigsWith(newPk, hospital_, 0, keyBundleOf(2));
    }

    /// @dev The same with the new recovery key hash and the key bundle the replaceCard call will carry.
    function _replaceSigsWith(uint256 newPk, address hospital_, bytes32 newRecoveryKeyHash, bytes memory bundle)
        internal
        view
        returns (uint64 sAt, CardSig memory rec, CardSig memory card)
    {
        sAt = uint64(block.timestamp);
        (rec, card) =
            replaceSigs(recoveryPkOf(pid), newPk, pid, hospital_, newRecoveryKeyHash, bundle, hub.epochOf(pid), sAt);
    }

    function test_replaceCard_swapsKeyAndEndsEveryConsent() public {
        bytes32 newHash = idOf(NEW_PK);
        (uint64 sAt, CardSig memory rec, CardSig memory card) = _replaceSigs(NEW_PK, hospital);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.CardReplaced(pid, pid, newHash, hospital);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.AllConsentsRevoked(pid, 2);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);

        (bool registered, bytes32 keyHash, uint256 nonce, uint64 epoch) = hub.getPatientInfo(pid);
        assertTrue(registered);
        assertEq(keyHash, newHash);
        assertEq(nonce, 0, "the dispense nonce is not the replacement's business");
        assertEq(epoch, 2, "the epoch moved");
        assertEq(hub.keyBundleOf(pid), bundlePrefix(keyBundleOf(2)), "the new key bundle");
        assertEq(hub.patientOfRecovery(recoveryHashOf(pid)), pid, "a zero new recovery key hash keeps the old one");
        assertFalse(hub.cardLost(pid));
        assertEq(hub.cardKeyOf(newHash), bytes32(0), "the new key is no patient id");
        // Consents obtained with the old card no longer authorize, the replacing hospital's included.
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital));
        hub.authorize(hospitalKiosk, pid, Role.Hospital, Scope.WRITE);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, pharmacyOrg));
        hub.authorize(pharmacyKiosk, pid, Role.Pharmacy, Scope.READ);
        grant(NEW_PK, pid, hospitalKiosk, HOSPITAL_ALL, 0);
        assertEq(addRecord(pid, hospitalKiosk, env(0x01)), 0);

        // The old card's signatures are no longer accepted.
        sAt = uint64(block.timestamp);
        CardSig memory old = consentSig(PATIENT_PK, pid, hospital2, Scope.READ, sAt + 1 days, 2, sAt);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        hub.grantConsent(pid, Scope.READ, sAt + 1 days, 2, sAt, old);
        // The new card's are.
        CardSig memory fresh = consentSig(NEW_PK, pid, hospital2, Scope.READ, sAt + 1 days, 2, sAt);
        vm.prank(hospital2Kiosk);
        hub.grantConsent(pid, Scope.READ, sAt + 1 days, 2, sAt, fresh);
        // The old card cannot come back as a new patient either.
        uint256 d2 = block.timestamp + 1 hours;
        CardSig memory reg = registerSig(PATIENT_PK, hospital, d2);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.PatientExists.selector, pid));
        registerWith(hub, d2, reg);
    }

    function test_replaceCard_rotatesTheRecoveryKey() public {
        bytes32 next = idOf(NEW2_PK);
        (uint64 sAt, CardSig memory rec, CardSig memory card) = _replaceSigsWith(NEW_PK, hospital, next, keyBundleOf(3));
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, sAt, next, keyBundleOf(3), rec, card);
        assertEq(hub.patientOfRecovery(next), pid);
        assertEq(hub.patientOfRecovery(recoveryHashOf(pid)), bytes32(0), "the old letter finds nobody");
        assertEq(hub.keyBundleOf(pid), bundlePrefix(keyBundleOf(3)));
    }

    function test_replaceCard_killsOldCardsPendingSignatures() public {
        grant(PATIENT_PK, pid, pharmacyKiosk, Scope.READ | Scope.DISPENSE, 0);
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory pendingDispense = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        uint64 sAt = uint64(block.timestamp + 1);
        CardSig memory pendingRevoke = revokeSig(PATIENT_PK, pid, hospital, sAt);

        replace(pid, NEW_PK);
        // The new card consents again at the pharmacy.
        grant(NEW_PK, pid, pharmacyKiosk, PHARMACY_ALL, 0);

        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), pendingDispense);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        hub.revokeConsent(pid, hospital, sAt, pendingRevoke);

        // Even with the old card's key swapped for the new one, the signature is not the new card's.
        (pendingDispense.qx, pendingDispense.qy) = cardKey(NEW_PK);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), pendingDispense);

        // The new card dispenses.
        dispense(NEW_PK, id, pharmacyKiosk);
        assertTrue(pharmacy.getPrescription(id).status == PharmacyAccess.Status.Completed);
    }

    function test_replaceCard_twice() public {
        replace(pid, NEW_PK);
        (uint64 sAt, CardSig memory rec, CardSig memory card) = _replaceSigsWith(NEW2_PK, hospital, 0, keyBundleOf(3));
        vm.expectEmit(address(hub));
        emit PatientSmartCard.CardReplaced(pid, idOf(NEW_PK), idOf(NEW2_PK), hospital);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(3), rec, card);
        assertEq(hub.cardKeyOf(pid), idOf(NEW2_PK));
        assertEq(hub.nonces(pid), 0);
        assertEq(hub.epochOf(pid), 3);
    }

    function test_replaceCard_keyNeverServesTwoPatients() public {
        replace(pid, NEW_PK);
        bytes32 newHash = idOf(NEW_PK);
        assertEq(hub.replacementOwner(newHash), pid);
        assertEq(hub.patientOfCard(newHash), pid, "the new card finds its patient");
        assertEq(hub.patientOfCard(pid), bytes32(0), "the retired original card finds nobody");
        // The replacement card cannot register as a new patient...
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory reg = registerSig(NEW_PK, hospital, deadline);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, newHash));
        registerWith(hub, deadline, reg);
        // ...nor become another patient's card, even once it is itself retired.
        bytes32 other = registerPatient(OTHER_PK);
        uint64 sAt = uint64(block.timestamp);
        (CardSig memory rec2, CardSig memory card2) =
            replaceSigs(recoveryPkOf(other), NEW_PK, other, hospital, 0, keyBundleOf(2), hub.epochOf(other), sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, newHash));
        hub.replaceCard(other, sAt, 0, keyBundleOf(2), rec2, card2);
        replace(pid, NEW2_PK);
        assertEq(hub.patientOfCard(newHash), bytes32(0), "retired");
        assertEq(hub.patientOfCard(idOf(NEW2_PK)), pid);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, newHash));
        hub.replaceCard(other, sAt, 0, keyBundleOf(2), rec2, card2);
        assertEq(hub.patientOfCard(other), other, "an original card finds its patient");
        assertEq(hub.patientOfCard(bytes32(uint256(1))), bytes32(0), "an unknown key finds nobody");
    }

    function test_replaceCard_needsNoConsentButAnActiveHospitalKiosk() public {
        // hospital2 holds no consent: the recovery key and the new card are enough.
        (uint64 sAt, CardSig memory rec, CardSig memory card) = _replaceSigs(NEW_PK, hospital2);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, insurer, Role.Hospital, Role.Insurer)
        );
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        vm.prank(hospital2);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, hospital2));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        setActive(hospital2, false);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, hospital2));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        setActive(hospital2, true);

        (uint64 until,,,) = hub.consentOf(pid, hospital2);
        assertEq(until, 0, "no consent");
        vm.prank(hospital2Kiosk);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        assertEq(hub.cardKeyOf(pid), idOf(NEW_PK));
    }

    function test_replaceCard_revertsForStaleOrFutureSignature() public {
        (uint64 sAt, CardSig memory rec, CardSig memory card) = _replaceSigs(NEW_PK, hospital);
        vm.warp(uint256(sAt) + hub.MAX_SIGNATURE_AGE() + 1);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.SignatureTooOld.selector, sAt));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        // Signed further ahead than the clock skew allows.
        uint64 future = uint64(block.timestamp) + hub.MAX_CLOCK_SKEW() + 1;
        (rec, card) = replaceSigs(recoveryPkOf(pid), NEW_PK, pid, hospital, 0, keyBundleOf(2), 1, future);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.SignatureFromFuture.selector, future));
        hub.replaceCard(pid, future, 0, keyBundleOf(2), rec, card);
        // On the edges of the window it is accepted.
        uint64 edge = uint64(block.timestamp) + hub.MAX_CLOCK_SKEW();
        (rec, card) = replaceSigs(recoveryPkOf(pid), NEW_PK, pid, hospital, 0, keyBundleOf(2), 1, edge);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, edge, 0, keyBundleOf(2), rec, card);
    }

    function test_replaceCard_revertsForKeyInUse() public {
        bytes32 other = registerPatient(OTHER_PK);
        (uint64 sAt, CardSig memory rec, CardSig memory card) = _replaceSigs(OTHER_PK, hospital);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, other));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        (sAt, rec, card) = _replaceSigs(PATIENT_PK, hospital);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, pid));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
    }

    function test_replaceCard_revertsForBadKeyBundle() public {
        uint256 max = hub.MAX_KEY_BUNDLE();
        (uint64 sAt, CardSig memory rec, CardSig memory card) = _replaceSigsWith(NEW_PK, hospital, 0, new bytes(max));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidKeyBundle.selector, 0));
        hub.replaceCard(pid, sAt, 0, "", rec, card);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidKeyBundle.selector, max + 1));
        hub.replaceCard(pid, sAt, 0, new bytes(max + 1), rec, card);
        // The largest bundle is accepted.
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, sAt, 0, new bytes(max), rec, card);
        assertEq(hub.keyBundleOf(pid), bundlePrefix(new bytes(max)));
    }

    function test_replaceCard_revertsForBadSignature() public {
        bytes memory invalid = _err(PatientSmartCard.InvalidCardSignature.selector);
        uint64 sAt = uint64(block.timestamp);
        uint256 rpk = recoveryPkOf(pid);
        // Wrong epoch.
        (CardSig memory rec, CardSig memory card) = replaceSigs(rpk, NEW_PK, pid, hospital, 0, keyBundleOf(2), 2, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(invalid);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        // Signed for another hospital.
        (rec, card) = replaceSigs(rpk, NEW_PK, pid, hospital2, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(invalid);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        // Another signing time than the one submitted.
        (rec, card) = replaceSigs(rpk, NEW_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt - 1);
        vm.prank(hospitalKiosk);
        vm.expectRevert(invalid);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        // The new card's signature made by the old card, presented with the new key.
        card = cardSig(PATIENT_PK, replaceHash(pid, idOf(NEW_PK), hospital, 0, keccak256(keyBundleOf(2)), 1, sAt));
        (card.qx, card.qy) = cardKey(NEW_PK);
        (rec,) = replaceSigs(rpk, NEW_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(invalid);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        // The recovery key's signature made by the new card, presented with the recovery key.
        (, card) = replaceSigs(rpk, NEW_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        // (A copy: `rec = card` would alias the two in memory and present the new card with the recovery key too.)
        (bytes32 rqx, bytes32 rqy) = cardKey(rpk);
        rec = CardSig({qx: rqx, qy: rqy, r: card.r, s: card.s});
        vm.prank(hospitalKiosk);
        vm.expectRevert(invalid);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        // High s on either signature.
        (rec, card) = replaceSigs(rpk, NEW_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(invalid);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), toHighS(rec), card);
        vm.prank(hospitalKiosk);
        vm.expectRevert(invalid);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, toHighS(card));
        // None of this changed anything.
        assertEq(hub.epochOf(pid), 1);
        assertEq(hub.cardKeyOf(pid), pid);
        assertEq(hub.keyBundleOf(pid), bundlePrefix(keyBundle()));
        // The honest pair works.
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        assertEq(hub.cardKeyOf(pid), idOf(NEW_PK));
    }

    function test_replaceCard_revertsWithoutTheRecoveryKey() public {
        uint64 sAt = uint64(block.timestamp);
        // The card itself (not lost, but not the recovery key) cannot stand in for the letter.
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(PATIENT_PK, NEW_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotRecoveryKey.selector, pid));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        // Nor a stranger's key.
        (rec, card) = replaceSigs(STRAY_PK, NEW_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotRecoveryKey.selector, pid));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
    }

    function test_replaceCard_revertsForUnknownPatient() public {
        bytes32 unknown = idOf(OTHER_PK);
        uint64 sAt = uint64(block.timestamp);
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPkOf(unknown), NEW_PK, unknown, hospital, 0, keyBundleOf(2), 0, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownPatient.selector, unknown));
        hub.replaceCard(unknown, sAt, 0, keyBundleOf(2), rec, card);
    }

    // ================================================================ grantConsent

    /// @dev The card signs a consent for `institution`, submitted by `kiosk`; returns the signature.
    function _consent(address kiosk, uint8 scope, uint64 validUntil, uint64 epoch, uint64 sAt)
        internal
        view
        returns (CardSig memory)
    {
        return consentSig(PATIENT_PK, pid, hub.kioskInstitution(kiosk), scope, validUntil, epoch, sAt);
    }

    function _grantAs(address kiosk, uint8 scope, uint64 validUntil, uint64 epoch, uint64 sAt) internal {
        CardSig memory s = _consent(kiosk, scope, validUntil, epoch, sAt);
        vm.prank(kiosk);
        hub.grantConsent(pid, scope, validUntil, epoch, sAt, s);
    }

    function _expectGrantRevert(
        address kiosk,
        uint8 scope,
        uint64 validUntil,
        uint64 epoch,
        uint64 sAt,
        bytes memory err
    ) internal {
        CardSig memory s = _consent(kiosk, scope, validUntil, epoch, sAt);
        vm.prank(kiosk);
        vm.expectRevert(err);
        hub.grantConsent(pid, scope, validUntil, epoch, sAt, s);
    }

    function test_grantConsent_fixtureDefaults() public view {
        (uint64 until, uint64 sAt, uint64 epoch, uint8 scope) = hub.consentOf(pid, hospital);
        assertEq(until, T0 + 90 days);
        assertEq(sAt, T0);
        assertEq(epoch, 1);
        assertEq(scope, HOSPITAL_ALL);
        (until, sAt, epoch, scope) = hub.consentOf(pid, pharmacyOrg);
        assertEq(until, T0 + 3 days);
        assertEq(sAt, T0);
        assertEq(epoch, 1);
        assertEq(scope, Scope.READ | Scope.DISPENSE);
        (until,,, scope) = hub.consentOf(pid, insurer);
        assertEq(until, T0 + 90 days);
        assertEq(scope, Scope.READ);
    }

    function test_grantConsent_storesAndEmits() public {
        vm.warp(T0 + 1000);
        uint64 now_ = uint64(block.timestamp);
        CardSig memory s = _consent(hospital2Kiosk, Scope.WRITE, now_ + 90 days, 1, now_);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.ConsentGranted(pid, hospital2, Scope.WRITE, now_ + 90 days);
        vm.prank(hospital2Kiosk);
        hub.grantConsent(pid, Scope.WRITE, now_ + 90 days, 1, now_, s);
        (uint64 until, uint64 sAt, uint64 epoch, uint8 scope) = hub.consentOf(pid, hospital2);
        assertTrue(until == now_ + 90 days && sAt == now_ && epoch == 1 && scope == Scope.WRITE);

        s = _consent(pharmacy2Kiosk, PHARMACY_ALL, now_ + 3 days, 1, now_);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.ConsentGranted(pid, pharmacyOrg2, PHARMACY_ALL, now_ + 3 days);
        vm.prank(pharmacy2Kiosk);
        hub.grantConsent(pid, PHARMACY_ALL, now_ + 3 days, 1, now_, s);

        s = _consent(insurer2Kiosk, Scope.READ, now_ + 90 days, 1, now_);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.ConsentGranted(pid, insurer2, Scope.READ, now_ + 90 days);
        vm.prank(insurer2Kiosk);
        hub.grantConsent(pid, Scope.READ, now_ + 90 days, 1, now_, s);
    }

    function test_grantConsent_longestWindowPerRole() public {
        uint64 now_ = uint64(block.timestamp);
        // Each role's longest window is accepted exactly, one second more is not.
        _expectGrantRevert(
            hospital2Kiosk,
            Scope.READ,
            now_ + 365 days + 1,
            1,
            now_,
            abi.encodeWithSelector(PatientSmartCard.InvalidWindow.selector, now_ + 365 days + 1)
        );
        _grantAs(hospital2Kiosk, Scope.READ, now_ + 365 days, 1, now_);
        _expectGrantRevert(
            pharmacy2Kiosk,
            Scope.READ,
            now_ + 30 days + 1,
            1,
            now_,
            abi.encodeWithSelector(PatientSmartCard.InvalidWindow.selector, now_ + 30 days + 1)
        );
        _grantAs(pharmacy2Kiosk, Scope.READ, now_ + 30 days, 1, now_);
        _expectGrantRevert(
            insurer2Kiosk,
            Scope.READ,
            now_ + 365 days + 1,
            1,
            now_,
            abi.encodeWithSelector(PatientSmartCard.InvalidWindow.selector, now_ + 365 days + 1)
        );
        _grantAs(insurer2Kiosk, Scope.READ, now_ + 365 days, 1, now_);
        vm.warp(now_ + 365 days);
        hub.authorize(hospital2Kiosk, pid, Role.Hospital, Scope.READ);
        // The window counts from the signing time: signed 30 minutes ago, it ends 30 minutes earlier.
        vm.warp(T0 + 400 days);
        uint64 earlier = uint64(block.timestamp - 30 minutes);
        _expectGrantRevert(
            hospital2Kiosk,
            Scope.READ,
            uint64(block.timestamp) + 365 days,
            1,
            earlier,
            abi.encodeWithSelector(PatientSmartCard.InvalidWindow.selector, uint64(block.timestamp) + 365 days)
        );
        _grantAs(hospital2Kiosk, Scope.READ, earlier + 365 days, 1, earlier);
    }

    function test_grantConsent_revertsForInvalidWindow() public {
        uint64 now_ = uint64(block.timestamp);
        uint64[3] memory bad = [now_, now_ - 1, now_ + 365 days + 1];
        for (uint256 i; i < bad.length; ++i) {
            _expectGrantRevert(
                hospital2Kiosk,
                Scope.READ,
                bad[i],
                1,
                now_,
                abi.encodeWithSelector(PatientSmartCard.InvalidWindow.selector, bad[i])
            );
        }
        // validUntil must also lie after the signing time (a card clock ahead of the chain).
        _expectGrantRevert(
            hospital2Kiosk,
            Scope.READ,
            now_ + 60,
            1,
            now_ + 120,
            abi.encodeWithSelector(PatientSmartCard.InvalidWindow.selector, now_ + 60)
        );
    }

    function test_grantConsent_revertsForInvalidScope() public {
        uint64 now_ = uint64(block.timestamp);
        // Zero, bits beyond ALL, and bits beyond each role's ceiling.
        uint8[4] memory badHospital = [uint8(0), Scope.DISPENSE, Scope.ALL, 255];
        for (uint256 i; i < badHospital.length; ++i) {
            _expectGrantRevert(
                hospital2Kiosk,
                badHospital[i],
                now_ + 1 days,
                1,
                now_,
                abi.encodeWithSelector(PatientSmartCard.InvalidScope.selector, badHospital[i])
            );
        }
        uint8[3] memory badPharmacy = [Scope.WRITE, Scope.PRESCRIBE, Scope.ALL];
        for (uint256 i; i < badPharmacy.length; ++i) {
            _expectGrantRevert(
                pharmacy2Kiosk,
                badPharmacy[i],
                now_ + 1 days,
                1,
                now_,
                abi.encodeWithSelector(PatientSmartCard.InvalidScope.selector, badPharmacy[i])
            );
        }
        uint8[3] memory badInsurer = [Scope.WRITE, Scope.DISPENSE, Scope.READ | Scope.WRITE];
        for (uint256 i; i < badInsurer.length; ++i) {
            _expectGrantRevert(
                insurer2Kiosk,
                badInsurer[i],
                now_ + 1 days,
                1,
                now_,
                abi.encodeWithSelector(PatientSmartCard.InvalidScope.selector, badInsurer[i])
            );
        }
    }

    function test_grantConsent_revertsForStaleOrReplayedSignature() public {
        uint64 t0 = uint64(T0);
        // The fixture's consent was signed at T0: the same time again, or earlier, is stale.
        _expectGrantRevert(
            hospitalKiosk,
            Scope.READ,
            t0 + 1 days,
            1,
            t0,
            abi.encodeWithSelector(PatientSmartCard.StaleSignature.selector, t0, t0)
        );
        _expectGrantRevert(
            hospitalKiosk,
            Scope.READ,
            t0 + 1 days,
            1,
            t0 - 1,
            abi.encodeWithSelector(PatientSmartCard.StaleSignature.selector, t0 - 1, t0)
        );

        // A replay of a used signature.
        CardSig memory s = _consent(hospital2Kiosk, Scope.READ, t0 + 1 days, 1, t0);
        vm.prank(hospital2Kiosk);
        hub.grantConsent(pid, Scope.READ, t0 + 1 days, 1, t0, s);
        vm.warp(block.timestamp + 10 minutes);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleSignature.selector, t0, t0));
        hub.grantConsent(pid, Scope.READ, t0 + 1 days, 1, t0, s);
    }

    function test_grantConsent_laterSignatureReplacesAnEarlierOne() public {
        uint64 now_ = uint64(block.timestamp);
        CardSig memory first = _consent(hospital2Kiosk, HOSPITAL_ALL, now_ + 90 days, 1, now_);
        CardSig memory second = _consent(hospital2Kiosk, Scope.READ, now_ + 10 days, 1, now_ + 60);
        // The later one lands first: the earlier one can no longer overwrite it.
        vm.prank(hospital2Kiosk);
        hub.grantConsent(pid, Scope.READ, now_ + 10 days, 1, now_ + 60, second);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleSignature.selector, now_, now_ + 60));
        hub.grantConsent(pid, HOSPITAL_ALL, now_ + 90 days, 1, now_, first);
        (uint64 until,,, uint8 scope) = hub.consentOf(pid, hospital2);
        assertEq(until, now_ + 10 days);
        assertEq(scope, Scope.READ);
    }

    function test_grantConsent_revertsForOldOrFutureSignature() public {
        vm.warp(T0 + 1 days);
        uint64 now_ = uint64(block.timestamp);
        // Exactly an hour old and five minutes ahead are accepted; one second beyond either is not.
        _expectGrantRevert(
            hospital2Kiosk,
            Scope.READ,
            now_ + 1 days,
            1,
            now_ - 1 hours - 1,
            abi.encodeWithSelector(PatientSmartCard.SignatureTooOld.selector, now_ - 1 hours - 1)
        );
        _expectGrantRevert(
            hospital2Kiosk,
            Scope.READ,
            now_ + 1 days,
            1,
            now_ + 5 minutes + 1,
            abi.encodeWithSelector(PatientSmartCard.SignatureFromFuture.selector, now_ + 5 minutes + 1)
        );
        _grantAs(hospital2Kiosk, Scope.READ, now_ + 1 days, 1, now_ - 1 hours);
        _grantAs(hospital2Kiosk, Scope.READ, now_ + 1 days, 1, now_ + 5 minutes);
    }

    function test_grantConsent_revertsForWrongEpoch() public {
        uint64 now_ = uint64(block.timestamp);
        _expectGrantRevert(
            hospital2Kiosk,
            Scope.READ,
            now_ + 1 days,
            2,
            now_,
            abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 2, 1)
        );
        _expectGrantRevert(
            hospital2Kiosk,
            Scope.READ,
            now_ + 1 days,
            0,
            now_,
            abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 0, 1)
        );
        revokeAll(PATIENT_PK, pid);
        _expectGrantRevert(
            hospital2Kiosk,
            Scope.READ,
            now_ + 1 days,
            1,
            now_,
            abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 1, 2)
        );
        _grantAs(hospital2Kiosk, Scope.READ, now_ + 1 days, 2, now_);
        hub.authorize(hospital2Kiosk, pid, Role.Hospital, Scope.READ);
    }

    function test_grantConsent_revertsForWrongKey() public {
        registerPatient(OTHER_PK);
        uint64 now_ = uint64(block.timestamp);
        // Another registered patient's card signs for this patient.
        CardSig memory s = consentSig(OTHER_PK, pid, hospital2, Scope.READ, now_ + 1 days, 1, now_);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        hub.grantConsent(pid, Scope.READ, now_ + 1 days, 1, now_, s);
        // Another key signs, presenting this patient's public key.
        s.qx = qx;
        s.qy = qy;
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.grantConsent(pid, Scope.READ, now_ + 1 days, 1, now_, s);
    }

    function test_grantConsent_revertsForUnknownPatient() public {
        bytes32 unknown = idOf(OTHER_PK);
        uint64 now_ = uint64(block.timestamp);
        CardSig memory s = consentSig(OTHER_PK, unknown, hospital2, Scope.READ, now_ + 1 days, 1, now_);
        // An unknown patient has epoch 0, so no consent of epoch 1 can be given.
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 1, 0));
        hub.grantConsent(unknown, Scope.READ, now_ + 1 days, 1, now_, s);
        s = consentSig(OTHER_PK, unknown, hospital2, Scope.READ, now_ + 1 days, 0, now_);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownPatient.selector, unknown));
        hub.grantConsent(unknown, Scope.READ, now_ + 1 days, 0, now_, s);
    }

    function test_grantConsent_revertsForNonKiosk() public {
        uint64 now_ = uint64(block.timestamp);
        CardSig memory s = consentSig(PATIENT_PK, pid, hospital2, Scope.READ, now_ + 1 days, 1, now_);
        vm.prank(hospital2);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, hospital2));
        hub.grantConsent(pid, Scope.READ, now_ + 1 days, 1, now_, s);
    }

    function test_grantConsent_signatureBindsInstitutionAndTerms() public {
        bytes memory invalid = _err(PatientSmartCard.InvalidCardSignature.selector);
        uint64 now_ = uint64(block.timestamp);
        uint64 until = now_ + 1 days;
        // Signed for hospital2, submitted by hospital's kiosk.
        CardSig memory s = consentSig(PATIENT_PK, pid, hospital2, HOSPITAL_ALL, until, 1, now_ + 1);
        vm.prank(hospitalKiosk);
        vm.expectRevert(invalid);
        hub.grantConsent(pid, HOSPITAL_ALL, until, 1, now_ + 1, s);
        // Scope, window, epoch or signing time other than signed.
        s = consentSig(PATIENT_PK, pid, hospital2, Scope.READ, until, 1, now_);
        vm.startPrank(hospital2Kiosk);
        vm.expectRevert(invalid);
        hub.grantConsent(pid, HOSPITAL_ALL, until, 1, now_, s);
        vm.expectRevert(invalid);
        hub.grantConsent(pid, Scope.READ, until + 1, 1, now_, s);
        vm.expectRevert(invalid);
        hub.grantConsent(pid, Scope.READ, until, 1, now_ + 1, s);
        // High s.
        vm.expectRevert(invalid);
        hub.grantConsent(pid, Scope.READ, until, 1, now_, toHighS(s));
        vm.stopPrank();
        (uint64 got,,,) = hub.consentOf(pid, hospital2);
        assertEq(got, 0);
    }

    function test_grantConsent_revertsForOtherDeploymentOrChain() public {
        PatientSmartCard hub2 = new PatientSmartCard(admin, 0, guardian);
        uint64 now_ = uint64(block.timestamp);
        CardSig memory s = signFor(hub2, PATIENT_PK, consentHash(pid, hospital2, Scope.READ, now_ + 1 days, 1, now_));
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.grantConsent(pid, Scope.READ, now_ + 1 days, 1, now_, s);

        s = consentSig(PATIENT_PK, pid, hospital2, Scope.READ, now_ + 1 days, 1, now_);
        vm.chainId(11142220);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.grantConsent(pid, Scope.READ, now_ + 1 days, 1, now_, s);
    }

    function test_grantConsent_narrowsScope() public {
        grant(PATIENT_PK, pid, hospitalKiosk, Scope.READ, 0);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.ScopeNotGranted.selector, pid, hospital, Scope.WRITE));
        records.addMedicalRecord(pid, env(0x01));
    }

    // ================================================================ revokeConsent

    function test_revokeConsent_endsAccessAtOnce() public {
        uint64 sAt = uint64(block.timestamp + 1);
        CardSig memory s = revokeSig(PATIENT_PK, pid, hospital, sAt);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.ConsentRevoked(pid, hospital);
        vm.prank(stranger); // anyone may submit the card's revocation
        hub.revokeConsent(pid, hospital, sAt, s);
        (uint64 until, uint64 signedAt,, uint8 scope) = hub.consentOf(pid, hospital);
        assertTrue(until == 0 && signedAt == sAt && scope == 0);

        bytes memory noConsent = abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital);
        vm.prank(hospitalKiosk);
        vm.expectRevert(noConsent);
        records.addMedicalRecord(pid, env(0x01));
        vm.prank(hospitalKiosk);
        vm.expectRevert(noConsent);
        pharmacy.issuePrescription(pid, 0, bytes32(0), env(0x01));
        vm.expectRevert(noConsent);
        hub.authorize(hospitalKiosk, pid, Role.Hospital, Scope.READ);

        // A fresh consent (signed later) restores access.
        grant(PATIENT_PK, pid, hospitalKiosk, Scope.WRITE, 0);
        (, signedAt,,) = hub.consentOf(pid, hospital);
        assertEq(signedAt, sAt + 1);
        assertEq(addRecord(pid, hospitalKiosk, env(0x01)), 0);
    }

    function test_revokeConsent_pharmacyLosesFullInfo() public {
        revoke(PATIENT_PK, pid, pharmacyOrg);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, pharmacyOrg));
        pharmacy.getPatientFullInfo(pid, 0, 10);
    }

    function test_revokeConsent_revertsForStaleSignature() public {
        uint64 t0 = uint64(T0);
        CardSig memory s = revokeSig(PATIENT_PK, pid, hospital, t0);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleSignature.selector, t0, t0));
        hub.revokeConsent(pid, hospital, t0, s);
        // A replayed revocation.
        s = revokeSig(PATIENT_PK, pid, hospital, t0 + 1);
        hub.revokeConsent(pid, hospital, t0 + 1, s);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleSignature.selector, t0 + 1, t0 + 1));
        hub.revokeConsent(pid, hospital, t0 + 1, s);
        // A grant's signing time cannot be reused for a revocation.
        grant(PATIENT_PK, pid, hospitalKiosk, Scope.READ, 0); // signed at T0 + 2
        s = revokeSig(PATIENT_PK, pid, hospital, t0 + 2);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleSignature.selector, t0 + 2, t0 + 2));
        hub.revokeConsent(pid, hospital, t0 + 2, s);
    }

    function test_revokeConsent_revertsForOldOrFutureSignature() public {
        vm.warp(T0 + 1 days);
        uint64 now_ = uint64(block.timestamp);
        CardSig memory s = revokeSig(PATIENT_PK, pid, hospital, now_ - 1 hours - 1);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.SignatureTooOld.selector, now_ - 1 hours - 1));
        hub.revokeConsent(pid, hospital, now_ - 1 hours - 1, s);
        s = revokeSig(PATIENT_PK, pid, hospital, now_ + 5 minutes + 1);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.SignatureFromFuture.selector, now_ + 5 minutes + 1));
        hub.revokeConsent(pid, hospital, now_ + 5 minutes + 1, s);
        (uint64 until,,,) = hub.consentOf(pid, hospital);
        assertEq(until, T0 + 90 days, "still granted");
    }

    function test_revokeConsent_revertsForBadSignature() public {
        bytes memory invalid = _err(PatientSmartCard.InvalidCardSignature.selector);
        uint64 sAt = uint64(block.timestamp + 1);
        CardSig memory s = revokeSig(PATIENT_PK, pid, hospital2, sAt);
        vm.expectRevert(invalid);
        hub.revokeConsent(pid, hospital, sAt, s);
        s = revokeSig(PATIENT_PK, pid, hospital, sAt);
        vm.expectRevert(invalid);
        hub.revokeConsent(pid, hospital, sAt + 1, s);
        vm.expectRevert(invalid);
        hub.revokeConsent(pid, hospital, sAt, toHighS(s));
        registerPatient(OTHER_PK);
        s = revokeSig(OTHER_PK, pid, hospital, sAt);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        hub.revokeConsent(pid, hospital, sAt, s);
        (uint64 until,,,) = hub.consentOf(pid, hospital);
        assertEq(until, T0 + 90 days);
    }

    function test_revokeConsent_revertsForUnknownPatient() public {
        bytes32 unknown = idOf(OTHER_PK);
        uint64 sAt = uint64(block.timestamp);
        CardSig memory s = revokeSig(OTHER_PK, unknown, hospital, sAt);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownPatient.selector, unknown));
        hub.revokeConsent(unknown, hospital, sAt, s);
    }

    // ================================================================ revokeAllConsents

    function test_revokeAllConsents_endsEveryConsentAndEmitsTheNewEpoch() public {
        uint64 sAt = uint64(block.timestamp);
        CardSig memory s = revokeAllSig(PATIENT_PK, pid, 1, sAt);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.AllConsentsRevoked(pid, 2);
        vm.prank(stranger); // anyone may submit it
        hub.revokeAllConsents(pid, 1, sAt, s);
        assertEq(hub.epochOf(pid), 2);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital));
        hub.authorize(hospitalKiosk, pid, Role.Hospital, Scope.READ);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, pharmacyOrg));
        hub.authorize(pharmacyKiosk, pid, Role.Pharmacy, Scope.READ);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, insurer));
        hub.authorize(insurerKiosk, pid, Role.Insurer, Scope.READ);
        // The same signature again names the old epoch.
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 1, 2));
        hub.revokeAllConsents(pid, 1, sAt, s);
        // A new consent in the new epoch works.
        grant(PATIENT_PK, pid, hospitalKiosk, HOSPITAL_ALL, 0);
        hub.authorize(hospitalKiosk, pid, Role.Hospital, Scope.WRITE);
    }

    function test_revokeAllConsents_reverts() public {
        uint64 now_ = uint64(block.timestamp);
        CardSig memory s = revokeAllSig(PATIENT_PK, pid, 2, now_);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 2, 1));
        hub.revokeAllConsents(pid, 2, now_, s);
        vm.warp(T0 + 1 days);
        now_ = uint64(block.timestamp);
        s = revokeAllSig(PATIENT_PK, pid, 1, now_ - 1 hours - 1);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.SignatureTooOld.selector, now_ - 1 hours - 1));
        hub.revokeAllConsents(pid, 1, now_ - 1 hours - 1, s);
        s = revokeAllSig(PATIENT_PK, pid, 1, now_ + 5 minutes + 1);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.SignatureFromFuture.selector, now_ + 5 minutes + 1));
        hub.revokeAllConsents(pid, 1, now_ + 5 minutes + 1, s);
        s = revokeAllSig(PATIENT_PK, pid, 1, now_);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.revokeAllConsents(pid, 1, now_ + 1, s);
        registerPatient(OTHER_PK);
        s = revokeAllSig(OTHER_PK, pid, 1, now_);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        hub.revokeAllConsents(pid, 1, now_, s);
        bytes32 unknown = idOf(0xDEAD);
        s = revokeAllSig(0xDEAD, unknown, 0, now_);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownPatient.selector, unknown));
        hub.revokeAllConsents(unknown, 0, now_, s);
        assertEq(hub.epochOf(pid), 1, "nothing moved the epoch");
    }

    // ================================================================ expiry

    function test_consent_expiresAfterWindow() public {
        uint256 until = T0 + 90 days;
        vm.warp(until);
        hub.authorize(hospitalKiosk, pid, Role.Hospital, Scope.WRITE);
        assertEq(addRecord(pid, hospitalKiosk, env(0x01)), 0);
        vm.warp(until + 1);
        bytes memory noConsent = abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital);
        vm.expectRevert(noConsent);
        hub.authorize(hospitalKiosk, pid, Role.Hospital, Scope.WRITE);
        vm.prank(hospitalKiosk);
        vm.expectRevert(noConsent);
        records.addMedicalRecord(pid, env(0x01));
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

    // ================================================================ verifyCardSignature / verifyKeySignature / useNonce

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

    function test_verifyKeySignature_anyKeyUnderTheCardDomain() public {
        bytes32 structHash = keccak256("anything");
        CardSig memory s = cardSig(TOKEN_PK, structHash);
        hub.verifyKeySignature(idOf(TOKEN_PK), structHash, s);
        // The signature is made under the hub's EIP-712 domain.
        CardSig memory raw = signDigest(TOKEN_PK, structHash);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.verifyKeySignature(idOf(TOKEN_PK), structHash, raw);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.verifyKeySignature(idOf(TOKEN_PK), keccak256("something else"), s);
        vm.expectRevert(_err(PatientSmartCard.InvalidCardSignature.selector));
        hub.verifyKeySignature(idOf(TOKEN_PK), structHash, toHighS(s));
        // Another key than named.
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.KeyMismatch.selector, pid));
        hub.verifyKeySignature(pid, structHash, s);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.KeyMismatch.selector, bytes32(0)));
        hub.verifyKeySignature(bytes32(0), structHash, s);
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

    // ================================================================ step functions

    function test_stepTypehashes_areTheDocumentedTypeStrings() public view {
        assertEq(
            hub.REGISTER_WITH_CONSENT_TYPEHASH(),
            keccak256(
                "RegisterWithConsent(RegisterPatient registration,Consent consent)Consent(bytes32 patientId,address institution,uint8 scope,uint64 validUntil,uint64 epoch,uint64 signedAt)RegisterPatient(bytes32 patientId,address hospital,bytes32 recoveryKeyHash,bytes32 keyBundleHash,uint256 deadline)"
            )
        );
        assertEq(
            hub.DISPENSE_WITH_CONSENT_TYPEHASH(),
            keccak256(
                "DispenseWithConsent(Consent consent,Dispense dispense)Consent(bytes32 patientId,address institution,uint8 scope,uint64 validUntil,uint64 epoch,uint64 signedAt)Dispense(uint256 prescriptionId,address pharmacy,uint16 part,bytes32 contentHash,uint256 nonce,uint256 deadline)"
            )
        );
        assertEq(hub.DISPENSE_WITH_CONSENT_TYPEHASH(), pharmacy.DISPENSE_WITH_CONSENT_TYPEHASH());
    }

    function test_checkConsentFor_runsGrantConsentsChecksWithTheRole() public {
        ConsentTerms memory t = termsFor(pid, pharmacyKiosk, PHARMACY_ALL);
        (address inst, uint32 id) = hub.checkConsentFor(pharmacyKiosk, pid, Role.Pharmacy, t);
        assertEq(inst, pharmacyOrg);
        assertEq(id, pharmacyId);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Insurer, Role.Pharmacy)
        );
        hub.checkConsentFor(pharmacyKiosk, pid, Role.Insurer, t);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidRole.selector, Role.None));
        hub.checkConsentFor(pharmacyKiosk, pid, Role.None, t);
        t.scope = Scope.WRITE;
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidScope.selector, Scope.WRITE));
        hub.checkConsentFor(pharmacyKiosk, pid, Role.Pharmacy, t);
    }

    function test_useConsentFor_modulesOnly() public {
        // The fixture's patient holds consents from setUp; a new one holds none.
        uint256 pk = 0x05E_C0;
        bytes32 id = registerPatient(pk);
        ConsentTerms memory t = termsFor(id, insurerKiosk, Scope.READ);
        CardSig memory s = cardSig(pk, consentHashOf(id, insurer, t));
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, insurerKiosk));
        hub.useConsentFor(insurerKiosk, id, t, bytes32(0), s);
        vm.prank(address(insurance));
        (address inst,) = hub.useConsentFor(insurerKiosk, id, t, bytes32(0), s);
        assertEq(inst, insurer);
        // A step's consent authorises its step and is not stored.
        (uint64 validUntil, uint64 signedAt,,) = hub.consentOf(id, insurer);
        assertEq(validUntil, 0);
        assertEq(signedAt, 0);
    }
}

/// @notice A function any contract could be asked to run (schedule only checks the target, not the call).
interface TestTarget {
    function poke() external;
}
