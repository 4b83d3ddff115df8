// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {Role, Scope, CardSig, ConsentTerms, MalformedEnvelope, PrescriptionOrder} from "../../src/CareTypes.sol";
import {PatientSmartCard} from "../../src/PatientSmartCard.sol";
import {HospitalRecord} from "../../src/HospitalRecord.sol";
import {PharmacyAccess} from "../../src/PharmacyAccess.sol";
import {InsuranceProvider} from "../../src/InsuranceProvider.sol";

/// @notice Attacks on the step functions: a batched step must never let one part succeed where its single
/// call would have refused. Every part's refusal reverts the whole transaction (nothing registered, consented,
/// appended, dispensed or paid), and every bound of the single calls holds: the role's scope ceiling and window,
/// signing-time freshness, the epoch, the deadline, anti-replay, the caller's kiosk and role, four eyes.
contract StepAttacks is Fixture {
    uint256 internal constant NEW_PK = 0x57E9_CA4D;
    bytes32 internal newId;

    function setUp() public override {
        super.setUp();
        newId = idOf(NEW_PK);
    }

    function _invalidSig() internal pure returns (bytes memory) {
        return abi.encodeWithSelector(PatientSmartCard.InvalidCardSignature.selector);
    }

    // ================================================================ registration step

    /// @dev The registration step for NEW_PK at hospitalKiosk with terms `t` and record `rec`, signed over `t`
    /// unless `signed` differs (then the card signed `signed`).
    function _register(ConsentTerms memory t, ConsentTerms memory signed, bytes memory rec, uint256 deadline) internal {
        _register(hospitalKiosk, t, signed, rec, deadline, "");
    }

    /// @dev As above, sent by `kiosk`; `err` not empty: the revert expected.
    function _register(
        address kiosk,
        ConsentTerms memory t,
        ConsentTerms memory signed,
        bytes memory rec,
        uint256 deadline,
        bytes memory err
    ) internal {
        CardSig memory s = registerStepSig(NEW_PK, hospital, deadline, signed);
        bytes32 recovery = recoveryHashOf(newId);
        bytes memory bundle = keyBundle();
        vm.prank(kiosk);
        if (err.length != 0) vm.expectRevert(err);
        records.registerAndConsent(deadline, recovery, bundle, t, rec, s);
    }

    function _terms(uint8 scope) internal view returns (ConsentTerms memory) {
        return termsOf(scope, uint64(block.timestamp + 90 days), 1, uint64(block.timestamp));
    }

    function _assertNotRegistered() internal view {
        assertEq(hub.cardKeyOf(newId), bytes32(0), "no patient");
        assertEq(hub.epochOf(newId), 0, "no epoch");
        assertEq(hub.patientOfRecovery(recoveryHashOf(newId)), bytes32(0), "recovery key unused");
        (uint64 until,,,) = hub.consentOf(newId, hospital);
        assertEq(until, 0, "no consent");
        assertEq(records.recordCount(newId), 0, "no record");
    }

    function test_register_malformedRecordRevertsTheWholeStep() public {
        ConsentTerms memory t = _terms(HOSPITAL_ALL);
        bytes memory bad = env(1);
        bad[0] = 0x01; // a v1 envelope
        _register(
            hospitalKiosk,
            t,
            t,
            bad,
            block.timestamp + 1 hours,
            abi.encodeWithSelector(MalformedEnvelope.selector, bad.length)
        );
        _register(
            hospitalKiosk,
            t,
            t,
            new bytes(100),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(MalformedEnvelope.selector, 100)
        );
        _assertNotRegistered();
        // The honest step lands.
        _register(t, t, env(1), block.timestamp + 1 hours);
        assertEq(hub.cardKeyOf(newId), newId);
        assertEq(records.recordCount(newId), 1);
        assertEq(records.recordAuthor(newId, 0), hospitalId);
    }

    function test_register_consentWithoutWriteCannotWriteTheRecord() public {
        ConsentTerms memory t = _terms(Scope.READ | Scope.PRESCRIBE);
        _register(
            hospitalKiosk,
            t,
            t,
            env(1),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(HospitalRecord.ScopeNotGranted.selector, newId, hospital, Scope.WRITE)
        );
        _assertNotRegistered();
    }

    function test_register_scopeAboveTheHospitalsCeilingRefused() public {
        ConsentTerms memory t = _terms(HOSPITAL_ALL | Scope.DISPENSE);
        _register(
            hospitalKiosk,
            t,
            t,
            env(1),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(PatientSmartCard.InvalidScope.selector, t.scope)
        );
        t.scope = 0;
        _register(
            hospitalKiosk,
            t,
            t,
            env(1),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(PatientSmartCard.InvalidScope.selector, 0)
        );
        _assertNotRegistered();
    }

    function test_register_wrongEpochRefused() public {
        ConsentTerms memory t = _terms(HOSPITAL_ALL);
        t.epoch = 2;
        _register(
            hospitalKiosk,
            t,
            t,
            env(1),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 2, 1)
        );
        t.epoch = 0;
        _register(
            hospitalKiosk,
            t,
            t,
            env(1),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 0, 1)
        );
        _assertNotRegistered();
    }

    function test_register_expiredDeadlineOrStaleOrFutureSigningTimeRefused() public {
        ConsentTerms memory t = _terms(HOSPITAL_ALL);
        uint256 deadline = block.timestamp - 1;
        _register(
            hospitalKiosk,
            t,
            t,
            env(1),
            deadline,
            abi.encodeWithSelector(PatientSmartCard.SignatureExpired.selector, deadline)
        );
        // A signing time more than an hour old (the window still in the future).
        t = termsOf(HOSPITAL_ALL, uint64(block.timestamp + 30 days), 1, uint64(block.timestamp - 1 hours - 1));
        _register(
            hospitalKiosk,
            t,
            t,
            env(1),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(PatientSmartCard.SignatureTooOld.selector, t.signedAt)
        );
        t = termsOf(HOSPITAL_ALL, uint64(block.timestamp + 30 days), 1, uint64(block.timestamp + 6 minutes));
        _register(
            hospitalKiosk,
            t,
            t,
            env(1),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(PatientSmartCard.SignatureFromFuture.selector, t.signedAt)
        );
        _assertNotRegistered();
    }

    function test_register_windowAboveTheCeilingRefused() public {
        ConsentTerms memory t = _terms(HOSPITAL_ALL);
        t.validUntil = uint64(block.timestamp + 365 days + 1);
        _register(
            hospitalKiosk,
            t,
            t,
            env(1),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(PatientSmartCard.InvalidWindow.selector, t.validUntil)
        );
        t.validUntil = uint64(block.timestamp);
        _register(
            hospitalKiosk,
            t,
            t,
            env(1),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(PatientSmartCard.InvalidWindow.selector, t.validUntil)
        );
        _assertNotRegistered();
    }

    function test_register_callerNotAKioskOfAnActiveHospitalRefused() public {
        ConsentTerms memory t = _terms(HOSPITAL_ALL);
        _register(
            pharmacyKiosk,
            t,
            t,
            env(1),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        _register(
            stranger,
            t,
            t,
            env(1),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger)
        );
        _register(
            hospital,
            t,
            t,
            env(1),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, hospital)
        );
        setActive(hospital, false);
        _register(
            hospitalKiosk,
            t,
            t,
            env(1),
            block.timestamp + 1 hours,
            abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, hospital)
        );
        _assertNotRegistered();
    }

    function test_register_stepSignatureForOneHospitalRefusedAtAnother() public {
        ConsentTerms memory t = _terms(HOSPITAL_ALL);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerStepSig(NEW_PK, hospital, deadline, t);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_invalidSig());
        records.registerAndConsent(deadline, recoveryHashOf(newId), keyBundle(), t, env(1), s);
        _assertNotRegistered();
    }

    function test_register_tamperedTermsBundleOrRecoveryKeyRefused() public {
        ConsentTerms memory signed = _terms(Scope.READ | Scope.WRITE);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerStepSig(NEW_PK, hospital, deadline, signed);
        // The kiosk widens the scope, lengthens the window, or moves the signing time.
        ConsentTerms memory t = _terms(HOSPITAL_ALL);
        t.validUntil = signed.validUntil;
        vm.prank(hospitalKiosk);
        vm.expectRevert(_invalidSig());
        records.registerAndConsent(deadline, recoveryHashOf(newId), keyBundle(), t, env(1), s);
        t = _terms(signed.scope);
        t.validUntil = signed.validUntil + 1;
        vm.prank(hospitalKiosk);
        vm.expectRevert(_invalidSig());
        records.registerAndConsent(deadline, recoveryHashOf(newId), keyBundle(), t, env(1), s);
        t = _terms(signed.scope);
        t.signedAt = signed.signedAt - 1;
        vm.prank(hospitalKiosk);
        vm.expectRevert(_invalidSig());
        records.registerAndConsent(deadline, recoveryHashOf(newId), keyBundle(), t, env(1), s);
        // Another key bundle, another recovery key, another deadline.
        vm.prank(hospitalKiosk);
        vm.expectRevert(_invalidSig());
        records.registerAndConsent(deadline, recoveryHashOf(newId), keyBundleOf(7), signed, env(1), s);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_invalidSig());
        records.registerAndConsent(deadline, idOf(0x0DD), keyBundle(), signed, env(1), s);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_invalidSig());
        records.registerAndConsent(deadline + 1, recoveryHashOf(newId), keyBundle(), signed, env(1), s);
        _assertNotRegistered();
        vm.prank(hospitalKiosk);
        records.registerAndConsent(deadline, recoveryHashOf(newId), keyBundle(), signed, env(1), s);
        (uint64 until,,, uint8 scope) = hub.consentOf(newId, hospital);
        assertEq(until, signed.validUntil);
        assertEq(scope, signed.scope);
    }

    function test_register_singleCallSignaturesAreNoStepSignatureAndViceVersa() public {
        ConsentTerms memory t = _terms(HOSPITAL_ALL);
        uint256 deadline = block.timestamp + 1 hours;
        // The two signatures of today's calls, each alone, cannot register with consent.
        CardSig memory reg = registerSig(NEW_PK, hospital, deadline);
        CardSig memory con = cardSig(NEW_PK, consentHash(newId, hospital, t.scope, t.validUntil, t.epoch, t.signedAt));
        vm.startPrank(hospitalKiosk);
        vm.expectRevert(_invalidSig());
        records.registerAndConsent(deadline, recoveryHashOf(newId), keyBundle(), t, env(1), reg);
        vm.expectRevert(_invalidSig());
        records.registerAndConsent(deadline, recoveryHashOf(newId), keyBundle(), t, env(1), con);
        // The step's signature does not register alone.
        CardSig memory step = registerStepSig(NEW_PK, hospital, deadline, t);
        vm.expectRevert(_invalidSig());
        hub.registerPatient(deadline, recoveryHashOf(newId), keyBundle(), step);
        vm.stopPrank();
        _assertNotRegistered();
    }

    function test_register_replayedStepRefused() public {
        ConsentTerms memory t = _terms(HOSPITAL_ALL);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerStepSig(NEW_PK, hospital, deadline, t);
        vm.prank(hospitalKiosk);
        records.registerAndConsent(deadline, recoveryHashOf(newId), keyBundle(), t, env(1), s);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.PatientExists.selector, newId));
        records.registerAndConsent(deadline, recoveryHashOf(newId), keyBundle(), t, env(2), s);
        assertEq(records.recordCount(newId), 1, "one record");
    }

    function test_register_onlyHospitalRecordReachesTheHubsStepHook() public {
        ConsentTerms memory t = _terms(HOSPITAL_ALL);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerStepSig(NEW_PK, hospital, deadline, t);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, hospitalKiosk));
        hub.registerWithConsentFor(
            hospitalKiosk, deadline, recoveryHashOf(newId), keccak256(keyBundle()), keyBundle().length, t, s
        );
        vm.prank(address(pharmacy));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, address(pharmacy)));
        hub.registerWithConsentFor(
            hospitalKiosk, deadline, recoveryHashOf(newId), keccak256(keyBundle()), keyBundle().length, t, s
        );
        _assertNotRegistered();
    }

    // ================================================================ diagnosis step

    function test_visit_oneMalformedRecordAppendsNone() public {
        bytes[] memory recs = new bytes[](2);
        recs[0] = env(1);
        recs[1] = new bytes(700);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, 700));
        records.recordVisit(pid, recs);
        recs[0] = envOf(131072, 1); // above the largest bucket
        recs[1] = env(2);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, recs[0].length));
        records.recordVisit(pid, recs);
        assertEq(records.recordCount(pid), 0);
        assertEq(records.headOf(pid), bytes20(0));
    }

    function test_visit_needsWriteConsentAndAHospitalKiosk() public {
        bytes[] memory recs = new bytes[](2);
        recs[0] = env(1);
        recs[1] = env(2);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital2));
        records.recordVisit(pid, recs);
        grant(PATIENT_PK, pid, hospital2Kiosk, Scope.READ, 0);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.ScopeNotGranted.selector, pid, hospital2, Scope.WRITE));
        records.recordVisit(pid, recs);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        records.recordVisit(pid, recs);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        records.recordVisit(pid, recs);
        revokeAll(PATIENT_PK, pid);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital));
        records.recordVisit(pid, recs);
        assertEq(records.recordCount(pid), 0);
    }

    function test_visit_recordCountBounded() public {
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.InvalidRecordCount.selector, 0));
        records.recordVisit(pid, new bytes[](0));
        bytes[] memory many = new bytes[](9);
        for (uint256 i; i < 9; ++i) {
            many[i] = env(i);
        }
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.InvalidRecordCount.selector, 9));
        records.recordVisit(pid, many);
        assertEq(records.recordCount(pid), 0);
    }

    // ================================================================ consultation step

    function _visitRecords() internal pure returns (bytes[] memory recs) {
        recs = new bytes[](2);
        recs[0] = env(0xd1a9);
        recs[1] = env(0xca7e);
    }

    function _orders(uint256 n) internal pure returns (PrescriptionOrder[] memory o) {
        o = new PrescriptionOrder[](n);
        for (uint256 i; i < n; ++i) {
            o[i] = PrescriptionOrder({validUntil: 0, tokenKeyHash: bytes32(0), sealedPrescription: env(0x5ea1 + i)});
        }
    }

    function _consult(address kiosk, PrescriptionOrder[] memory o, uint256 amount, bytes memory claim, bytes memory err)
        internal
        returns (uint256 firstIndex, uint256 firstRx, uint256 claimId)
    {
        bytes[] memory recs = _visitRecords();
        vm.prank(kiosk);
        if (err.length != 0) vm.expectRevert(err);
        return records.consult(pid, recs, o, amount, claim);
    }

    /// @dev Nothing of a consultation landed: no record, no prescription, no claim.
    function _assertNothingConsulted(uint256 rxBefore, uint256 claimsBefore) internal view {
        assertEq(records.recordCount(pid), 0, "no record");
        assertEq(pharmacy.prescriptionCount(), rxBefore, "no prescription");
        assertEq(insurance.claimCount(), claimsBefore, "no claim");
    }

    function test_consult_recordsPrescribesAndBillsInOneCall() public {
        enroll(pid, insurerKiosk, 8000, 1000e18);
        (uint256 first, uint256 rx, uint256 c) = _consult(hospitalKiosk, _orders(2), 120e18, env(0xc1a1), "");
        assertEq(first, 0);
        assertEq(records.recordCount(pid), 2);
        assertEq(records.recordAuthor(pid, 1), hospitalId);
        assertEq(rx, 1);
        assertEq(pharmacy.prescriptionCount(), 2);
        for (uint256 id = 1; id <= 2; ++id) {
            PharmacyAccess.Prescription memory p = pharmacy.getPrescription(id);
            assertEq(p.patientPrefix, bytes12(pid));
            assertEq(p.issuer, hospitalId, "issued by the kiosk's hospital, not by HospitalRecord");
            assertEq(p.contentHashPrefix, bytes4(keccak256(env(0x5ea1 + id - 1))));
        }
        assertEq(c, 1);
        InsuranceProvider.Claim memory cl = insurance.getClaim(c);
        assertEq(cl.hospital, hospital, "billed by the kiosk's hospital");
        assertEq(cl.recordIndex, first, "the claim bills the visit's diagnosis");
        assertEq(cl.claimed, 120e18);
        assertEq(insurance.claimOfRecord(pid, first), c);
        // Without prescriptions or a claim it is the diagnosis step.
        (first, rx, c) = _consult(hospitalKiosk, _orders(0), 0, "", "");
        assertEq(first, 2);
        assertEq(rx, 0);
        assertEq(c, 0);
        assertEq(pharmacy.prescriptionCount(), 2);
        assertEq(insurance.claimCount(), 1);
    }

    function test_consult_aRefusedPrescriptionRevertsTheRecordsAndTheClaim() public {
        enroll(pid, insurerKiosk, 8000, 1000e18);
        // A consent without PRESCRIBE at another hospital: the records and the claim alone would pass.
        grant(PATIENT_PK, pid, hospital2Kiosk, Scope.READ | Scope.WRITE, 0);
        _consult(
            hospital2Kiosk,
            _orders(1),
            120e18,
            env(0xc1a1),
            abi.encodeWithSelector(PatientSmartCard.ScopeNotGranted.selector, pid, hospital2, Scope.PRESCRIBE)
        );
        _assertNothingConsulted(0, 0);
        // A malformed prescription, the second of two.
        PrescriptionOrder[] memory o = _orders(2);
        o[1].sealedPrescription = new bytes(700);
        _consult(hospitalKiosk, o, 120e18, env(0xc1a1), abi.encodeWithSelector(MalformedEnvelope.selector, 700));
        // A validity beyond the longest.
        o = _orders(1);
        o[0].validUntil = uint40(block.timestamp + 366 days);
        _consult(
            hospitalKiosk,
            o,
            0,
            "",
            abi.encodeWithSelector(PharmacyAccess.InvalidValidity.selector, uint40(block.timestamp + 366 days))
        );
        // More than the bound.
        _consult(
            hospitalKiosk, _orders(9), 0, "", abi.encodeWithSelector(HospitalRecord.InvalidPrescriptionCount.selector, 9)
        );
        _assertNothingConsulted(0, 0);
    }

    function test_consult_aRefusedClaimRevertsTheRecordsAndPrescriptions() public {
        // Not covered.
        _consult(hospitalKiosk, _orders(1), 120e18, env(0xc1a1), abi.encodeWithSelector(InsuranceProvider.NotCovered.selector, pid));
        _assertNothingConsulted(0, 0);
        enroll(pid, insurerKiosk, 8000, 1000e18);
        // A claim without an amount, an amount beyond uint88, a claim without its sealed details.
        _consult(hospitalKiosk, _orders(1), 0, env(0xc1a1), abi.encodeWithSelector(InsuranceProvider.ZeroAmount.selector));
        uint256 huge = uint256(type(uint88).max) + 1;
        _consult(
            hospitalKiosk, _orders(1), huge, env(0xc1a1), abi.encodeWithSelector(InsuranceProvider.AmountTooLarge.selector, huge)
        );
        _consult(hospitalKiosk, _orders(1), 120e18, "", abi.encodeWithSelector(MalformedEnvelope.selector, 0));
        _assertNothingConsulted(0, 0);
        // A patient who revoked every consent: no part passes.
        revokeAll(PATIENT_PK, pid);
        _consult(
            hospitalKiosk,
            _orders(1),
            120e18,
            env(0xc1a1),
            abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital)
        );
        _assertNothingConsulted(0, 0);
    }

    /// @dev Every value the kiosk chooses at its extremes: the most records and prescriptions, the largest claim, a
    /// token key, the longest validity; one past each bound refused, nothing of it kept.
    function test_consult_valuesAtTheirExtremes() public {
        enroll(pid, insurerKiosk, 8000, 1000e18);
        uint256 maxClaim = type(uint88).max;
        PrescriptionOrder[] memory o = _orders(8);
        o[0].tokenKeyHash = keccak256("token");
        o[1].validUntil = uint40(block.timestamp + 365 days);
        // Validity now (not in the future), and a prescription above the largest bucket: refused.
        PrescriptionOrder[] memory bad = _orders(1);
        bad[0].validUntil = uint40(block.timestamp);
        _consult(
            hospitalKiosk,
            bad,
            0,
            "",
            abi.encodeWithSelector(PharmacyAccess.InvalidValidity.selector, uint40(block.timestamp))
        );
        bad[0] = PrescriptionOrder({validUntil: 0, tokenKeyHash: bytes32(0), sealedPrescription: envOf(32768, 1)});
        _consult(hospitalKiosk, bad, 0, "", abi.encodeWithSelector(MalformedEnvelope.selector, bad[0].sealedPrescription.length));
        _assertNothingConsulted(0, 0);
        // Eight records, eight prescriptions and the largest claim: all kept.
        bytes[] memory recs = new bytes[](8);
        for (uint256 i; i < 8; ++i) {
            recs[i] = env(0xd1a9 + i);
        }
        vm.prank(hospitalKiosk);
        (uint256 first, uint256 rx, uint256 c) = records.consult(pid, recs, o, maxClaim, env(0xc1a1));
        assertEq(first, 0);
        assertEq(records.recordCount(pid), 8);
        assertEq(rx, 1);
        assertEq(pharmacy.prescriptionCount(), 8);
        assertEq(pharmacy.getPrescription(1).tokenKeyHash, keccak256("token"));
        assertEq(pharmacy.getPrescription(2).validUntil, uint40(block.timestamp + 365 days));
        assertEq(insurance.getClaim(c).claimed, maxClaim);
        // Billed once: a second claim on the same diagnosis through a single call is refused.
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.RecordAlreadyClaimed.selector, pid, first, c));
        insurance.submitClaim(pid, first, 1, env(0xc1a2));
    }

    function test_consult_callerNotAHospitalKioskRefused() public {
        enroll(pid, insurerKiosk, 8000, 1000e18);
        _consult(
            pharmacyKiosk,
            _orders(1),
            120e18,
            env(0xc1a1),
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        _consult(
            stranger, _orders(1), 120e18, env(0xc1a1), abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger)
        );
        // Another hospital's kiosk, without the patient's consent.
        _consult(
            hospital2Kiosk,
            _orders(1),
            120e18,
            env(0xc1a1),
            abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital2)
        );
        _assertNothingConsulted(0, 0);
    }

    function test_consult_partsAreReachableOnlyThroughHospitalRecord() public {
        enroll(pid, insurerKiosk, 8000, 1000e18);
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        // A kiosk naming itself, or another hospital's kiosk, as the caller: refused, even with every consent.
        address[3] memory callers = [hospitalKiosk, stranger, address(hub)];
        for (uint256 i; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.NotModule.selector, callers[i]));
            pharmacy.issuePrescriptionFor(hospitalKiosk, pid, 0, bytes32(0), env(1));
            vm.prank(callers[i]);
            vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotModule.selector, callers[i]));
            insurance.submitClaimFor(hospitalKiosk, pid, index, 1e18, env(2));
        }
        // Another HospitalRecord (not the wired one) cannot reach them either.
        HospitalRecord rogue = new HospitalRecord(hub);
        bytes[] memory recs = _visitRecords();
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.NotModule.selector, address(rogue)));
        rogue.consult(pid, recs, _orders(1), 0, "");
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotModule.selector, address(rogue)));
        rogue.consult(pid, recs, _orders(0), 1e18, env(2));
        assertEq(pharmacy.prescriptionCount(), 0);
        assertEq(insurance.claimCount(), 0);
    }

    // ================================================================ pharmacy step

    function _dispenseTerms(uint8 scope) internal view returns (ConsentTerms memory t) {
        t = termsFor(pid, pharmacyKiosk, scope);
    }

    /// @dev The pharmacy step by `kiosk`, the card signing `signed` and Dispense(id, signedPharmacy, part, env).
    function _dispenseStep(
        address kiosk,
        uint256 id,
        uint16 part,
        ConsentTerms memory t,
        ConsentTerms memory signed,
        bytes memory sealedDispense
    ) internal {
        _dispenseStep(kiosk, id, part, t, signed, sealedDispense, "");
    }

    /// @dev As above; `err` not empty: the revert expected.
    function _dispenseStep(
        address kiosk,
        uint256 id,
        uint16 part,
        ConsentTerms memory t,
        ConsentTerms memory signed,
        bytes memory sealedDispense,
        bytes memory err
    ) internal {
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseStepSig(PATIENT_PK, pharmacyKiosk, signed, id, part, dispenseEnv(), deadline);
        vm.prank(kiosk);
        if (err.length != 0) vm.expectRevert(err);
        pharmacy.dispenseWithConsent(id, rxPatient(id), part, deadline, sealedDispense, t, s);
    }

    function _assertNothingDispensed(uint256 id, uint256 nonce, uint64 consentSignedAt) internal view {
        PharmacyAccess.Prescription memory p = pharmacy.getPrescription(id);
        assertTrue(p.status == PharmacyAccess.Status.Ready, "still ready");
        assertEq(p.dispensedBps, 0);
        assertEq(hub.nonces(pid), nonce, "nonce unused");
        (, uint64 signedAt,,) = hub.consentOf(pid, pharmacyOrg);
        assertEq(signedAt, consentSignedAt, "consent unchanged");
    }

    function test_dispense_writeScopeRefused() public {
        uint256 rx = issue(pid, hospitalKiosk, 0);
        (, uint64 before,,) = hub.consentOf(pid, pharmacyOrg);
        vm.warp(block.timestamp + 1);
        ConsentTerms memory t = _dispenseTerms(Scope.READ | Scope.WRITE | Scope.DISPENSE);
        _dispenseStep(
            pharmacyKiosk,
            rx,
            WHOLE,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PatientSmartCard.InvalidScope.selector, t.scope)
        );
        t = _dispenseTerms(Scope.WRITE);
        _dispenseStep(
            pharmacyKiosk,
            rx,
            WHOLE,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PatientSmartCard.InvalidScope.selector, Scope.WRITE)
        );
        // READ alone: a consent, but not to dispense.
        t = _dispenseTerms(Scope.READ);
        _dispenseStep(
            pharmacyKiosk,
            rx,
            WHOLE,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PharmacyAccess.ScopeNotGranted.selector, pid, pharmacyOrg, Scope.DISPENSE)
        );
        _assertNothingDispensed(rx, 0, before);
    }

    function test_dispense_malformedDispenseRevertsTheConsentToo() public {
        uint256 rx = issue(pid, hospitalKiosk, 0);
        revoke(PATIENT_PK, pid, pharmacyOrg);
        (, uint64 before,,) = hub.consentOf(pid, pharmacyOrg);
        vm.warp(block.timestamp + 1);
        ConsentTerms memory t = _dispenseTerms(PHARMACY_ALL);
        _dispenseStep(
            pharmacyKiosk, rx, WHOLE, t, t, new bytes(10), abi.encodeWithSelector(MalformedEnvelope.selector, 10)
        );
        _assertNothingDispensed(rx, 0, before);
        (uint64 until,,,) = hub.consentOf(pid, pharmacyOrg);
        assertEq(until, 0, "still revoked");
    }

    function test_dispense_partBeyondTheRestOrOnAnUnusablePrescriptionRefused() public {
        uint256 rx = issue(pid, hospitalKiosk, 0);
        vm.warp(block.timestamp + 1);
        ConsentTerms memory t = _dispenseTerms(PHARMACY_ALL);
        _dispenseStep(
            pharmacyKiosk,
            rx,
            WHOLE + 1,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PharmacyAccess.InvalidPart.selector, rx, WHOLE + 1, 0)
        );
        _dispenseStep(
            pharmacyKiosk,
            rx,
            0,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PharmacyAccess.InvalidPart.selector, rx, 0, 0)
        );
        // Half, then more than the other half.
        _dispenseStep(pharmacyKiosk, rx, 5000, t, t, dispenseEnv());
        vm.warp(block.timestamp + 1);
        t = _dispenseTerms(PHARMACY_ALL);
        _dispenseStep(
            pharmacyKiosk,
            rx,
            6000,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PharmacyAccess.InvalidPart.selector, rx, 6000, 5000)
        );
        // The rest completes; nothing more after that.
        _dispenseStep(pharmacyKiosk, rx, 5000, t, t, dispenseEnv());
        assertTrue(pharmacy.getPrescription(rx).status == PharmacyAccess.Status.Completed);
        vm.warp(block.timestamp + 1);
        t = _dispenseTerms(PHARMACY_ALL);
        _dispenseStep(
            pharmacyKiosk,
            rx,
            1,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, rx)
        );
        // Cancelled and expired prescriptions.
        uint256 rx2 = issue(pid, hospitalKiosk, 0);
        vm.prank(hospitalKiosk);
        pharmacy.cancelPrescription(rx2, rxPatient(rx2), bytes32(0));
        _dispenseStep(
            pharmacyKiosk,
            rx2,
            WHOLE,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PharmacyAccess.AlreadyCancelled.selector, rx2)
        );
        uint256 rx3 = issue(pid, hospitalKiosk, uint40(block.timestamp + 1 days));
        vm.warp(block.timestamp + 1 days + 1);
        t = _dispenseTerms(PHARMACY_ALL);
        _dispenseStep(
            pharmacyKiosk,
            rx3,
            WHOLE,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(
                PharmacyAccess.PrescriptionExpired.selector, rx3, pharmacy.getPrescription(rx3).validUntil
            )
        );
    }

    function test_dispense_replayedStepRefused() public {
        uint256 rx = issue(pid, hospitalKiosk, 0);
        vm.warp(block.timestamp + 1);
        ConsentTerms memory t = _dispenseTerms(PHARMACY_ALL);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseStepSig(PATIENT_PK, pharmacyKiosk, t, rx, 2500, dispenseEnv(), deadline);
        (, uint64 heldSignedAt,,) = hub.consentOf(pid, pharmacyOrg);
        vm.prank(pharmacyKiosk);
        pharmacy.dispenseWithConsent(rx, rxPatient(rx), 2500, deadline, dispenseEnv(), t, s);
        // The step's consent is not stored; the same transaction again fails on the card's nonce, which the signed
        // Dispense carried and the first dispense used.
        (, uint64 signedAtAfter,,) = hub.consentOf(pid, pharmacyOrg);
        assertEq(signedAtAfter, heldSignedAt, "the step stored no consent");
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseWithConsent(rx, rxPatient(rx), 2500, deadline, dispenseEnv(), t, s);
        assertEq(pharmacy.getPrescription(rx).dispensedBps, 2500, "a quarter, once");
        assertEq(hub.nonces(pid), 1);
    }

    function test_dispense_withheldStepDiesWithTheNonce() public {
        uint256 rx = issue(pid, hospitalKiosk, 0);
        vm.warp(block.timestamp + 1);
        ConsentTerms memory t = _dispenseTerms(PHARMACY_ALL);
        uint256 deadline = block.timestamp + 10 minutes;
        // Signed and kept back; another dispense uses the nonce meanwhile.
        CardSig memory kept = dispenseStepSig(PATIENT_PK, pharmacyKiosk, t, rx, 2500, dispenseEnv(), deadline);
        dispensePart(PATIENT_PK, rx, pharmacyKiosk, 2500);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseWithConsent(rx, rxPatient(rx), 2500, deadline, dispenseEnv(), t, kept);
        assertEq(pharmacy.getPrescription(rx).dispensedBps, 2500);
    }

    function test_dispense_wrongEpochExpiredOrStaleSigningTimeRefused() public {
        uint256 rx = issue(pid, hospitalKiosk, 0);
        (, uint64 before,,) = hub.consentOf(pid, pharmacyOrg);
        vm.warp(block.timestamp + 1);
        ConsentTerms memory t = _dispenseTerms(PHARMACY_ALL);
        t.epoch = 2;
        _dispenseStep(
            pharmacyKiosk,
            rx,
            WHOLE,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 2, 1)
        );
        // Older than the pharmacy's last grant.
        t = _dispenseTerms(PHARMACY_ALL);
        t.signedAt = before;
        _dispenseStep(
            pharmacyKiosk,
            rx,
            WHOLE,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PatientSmartCard.StaleSignature.selector, before, before)
        );
        // More than an hour old.
        vm.warp(block.timestamp + 2 hours);
        t = _dispenseTerms(PHARMACY_ALL);
        t.signedAt = uint64(block.timestamp - 1 hours - 1);
        _dispenseStep(
            pharmacyKiosk,
            rx,
            WHOLE,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PatientSmartCard.SignatureTooOld.selector, t.signedAt)
        );
        // The dispense's deadline passed.
        t = _dispenseTerms(PHARMACY_ALL);
        uint256 deadline = block.timestamp - 1;
        CardSig memory s = dispenseStepSig(PATIENT_PK, pharmacyKiosk, t, rx, WHOLE, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.SignatureExpired.selector, deadline));
        pharmacy.dispenseWithConsent(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), t, s);
        // A window beyond the pharmacy's 30 days.
        t = _dispenseTerms(PHARMACY_ALL);
        t.validUntil = t.signedAt + 30 days + 1;
        _dispenseStep(
            pharmacyKiosk,
            rx,
            WHOLE,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PatientSmartCard.InvalidWindow.selector, t.validUntil)
        );
        _assertNothingDispensed(rx, 0, before);
    }

    function test_dispense_callerNotAPharmacyKioskOrAnotherPharmacyRefused() public {
        uint256 rx = issue(pid, hospitalKiosk, 0);
        (, uint64 before,,) = hub.consentOf(pid, pharmacyOrg);
        vm.warp(block.timestamp + 1);
        ConsentTerms memory t = _dispenseTerms(PHARMACY_ALL);
        _dispenseStep(
            hospitalKiosk,
            rx,
            WHOLE,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, hospital, Role.Pharmacy, Role.Hospital)
        );
        _dispenseStep(
            stranger,
            rx,
            WHOLE,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger)
        );
        // Pharmacy 2 submits pharmacy 1's step signature.
        _dispenseStep(pharmacy2Kiosk, rx, WHOLE, t, t, dispenseEnv(), _invalidSig());
        setActive(pharmacyOrg, false);
        _dispenseStep(
            pharmacyKiosk,
            rx,
            WHOLE,
            t,
            t,
            dispenseEnv(),
            abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, pharmacyOrg)
        );
        _assertNothingDispensed(rx, 0, before);
    }

    function test_dispense_tamperedTermsOrSingleCallSignaturesRefused() public {
        uint256 rx = issue(pid, hospitalKiosk, 0);
        (, uint64 before,,) = hub.consentOf(pid, pharmacyOrg);
        vm.warp(block.timestamp + 1);
        ConsentTerms memory signed = _dispenseTerms(Scope.DISPENSE);
        ConsentTerms memory t = _dispenseTerms(PHARMACY_ALL);
        _dispenseStep(pharmacyKiosk, rx, WHOLE, t, signed, dispenseEnv(), _invalidSig());
        // Another part than signed, another sealed dispense than signed.
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseStepSig(PATIENT_PK, pharmacyKiosk, signed, rx, 2500, dispenseEnv(), deadline);
        vm.startPrank(pharmacyKiosk);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseWithConsent(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), signed, s);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseWithConsent(rx, rxPatient(rx), 2500, deadline, env(0xbad), signed, s);
        // Today's two signatures, each alone.
        CardSig memory dispOnly = partSig(PATIENT_PK, rx, pharmacyOrg, WHOLE, dispenseEnv(), deadline);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseWithConsent(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), signed, dispOnly);
        CardSig memory consentOnly = termsSig(PATIENT_PK, pid, pharmacyOrg, signed);
        vm.expectRevert(_invalidSig());
        pharmacy.dispenseWithConsent(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), signed, consentOnly);
        // The step's signature is no consent signature.
        CardSig memory step = dispenseStepSig(PATIENT_PK, pharmacyKiosk, signed, rx, WHOLE, dispenseEnv(), deadline);
        vm.expectRevert(_invalidSig());
        hub.grantConsent(pid, signed.scope, signed.validUntil, signed.epoch, signed.signedAt, step);
        // Nor may a kiosk reach the hub's step hook itself.
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, pharmacyKiosk));
        hub.useConsentFor(pharmacyKiosk, pid, signed, bytes32(uint256(1)), step);
        vm.stopPrank();
        _assertNothingDispensed(rx, 0, before);
        // The insurer's module cannot have the hub check a two-struct signature.
        ConsentTerms memory it = termsFor(pid, insurerKiosk, Scope.READ);
        vm.prank(address(insurance));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotModule.selector, address(insurance)));
        hub.useConsentFor(insurerKiosk, pid, it, bytes32(uint256(1)), step);
    }

    function test_dispense_lostCardRefused() public {
        uint256 rx = issue(pid, hospitalKiosk, 0);
        vm.warp(block.timestamp + 1);
        ConsentTerms memory t = _dispenseTerms(PHARMACY_ALL);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseStepSig(PATIENT_PK, pharmacyKiosk, t, rx, WHOLE, dispenseEnv(), deadline);
        reportLost(recoveryPkOf(pid), pid);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 1, 2));
        pharmacy.dispenseWithConsent(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), t, s);
        t.epoch = 2; // even re-signed in the new epoch, the lost card is refused
        s = dispenseStepSig(PATIENT_PK, pharmacyKiosk, t, rx, WHOLE, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardReported.selector, pid));
        pharmacy.dispenseWithConsent(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), t, s);
    }

    // ================================================================ enrolment step

    function test_enrol_invalidCoverageRevertsTheConsent() public {
        revoke(PATIENT_PK, pid, insurer);
        vm.warp(block.timestamp + 1);
        ConsentTerms memory t = termsFor(pid, insurerKiosk, Scope.READ);
        CardSig memory s = termsSig(PATIENT_PK, pid, insurer, t);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.InvalidCoverage.selector, 0, 1e18));
        insurance.enrollWithConsent(pid, 0, 1e18, t, s);
        (uint64 until,,,) = hub.consentOf(pid, insurer);
        assertEq(until, 0, "still revoked");
        (InsuranceProvider.Coverage memory c,) = insurance.coverageOf(pid);
        assertEq(c.insurer, address(0), "not enrolled");
        vm.prank(insurerKiosk);
        insurance.enrollWithConsent(pid, 8000, 1e18, t, s);
        (c,) = insurance.coverageOf(pid);
        assertEq(c.insurer, insurer);
    }

    function test_enrol_scopeRoleReplayAndEpochRefused() public {
        vm.warp(block.timestamp + 1);
        ConsentTerms memory t = termsFor(pid, insurerKiosk, Scope.READ | Scope.WRITE);
        CardSig memory s = termsSig(PATIENT_PK, pid, insurer, t);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidScope.selector, t.scope));
        insurance.enrollWithConsent(pid, 8000, 1e18, t, s);
        // A hospital kiosk holding a consent signature for its hospital.
        t = termsFor(pid, hospitalKiosk, Scope.READ);
        s = termsSig(PATIENT_PK, pid, hospital, t);
        vm.prank(hospitalKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, hospital, Role.Insurer, Role.Hospital)
        );
        insurance.enrollWithConsent(pid, 8000, 1e18, t, s);
        // Insurer 2 with insurer 1's consent signature.
        t = termsFor(pid, insurerKiosk, Scope.READ);
        s = termsSig(PATIENT_PK, pid, insurer, t);
        vm.prank(insurer2Kiosk);
        vm.expectRevert(_invalidSig());
        insurance.enrollWithConsent(pid, 8000, 1e18, t, s);
        // The step's consent is not stored: the insurer holds none after it.
        (, uint64 heldSignedAt,,) = hub.consentOf(pid, insurer);
        vm.prank(insurerKiosk);
        insurance.enrollWithConsent(pid, 8000, 1e18, t, s);
        (, uint64 signedAtAfter,,) = hub.consentOf(pid, insurer);
        assertEq(signedAtAfter, heldSignedAt, "the step stored no consent");
        // Replayed by the same insurer within the hour: it restates its own enrolment (the card signs no terms).
        vm.prank(insurerKiosk);
        insurance.enrollWithConsent(pid, 8000, 1e18, t, s);
        // Once another insurer enrolled the patient, the first one's signature cannot take the patient back.
        vm.warp(block.timestamp + 1);
        ConsentTerms memory t2 = termsFor(pid, insurer2Kiosk, Scope.READ);
        CardSig memory s2 = termsSig(PATIENT_PK, pid, insurer2, t2);
        vm.prank(insurer2Kiosk);
        insurance.enrollWithConsent(pid, 5000, 1e18, t2, s2);
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(InsuranceProvider.StaleSignature.selector, t.signedAt, uint64(block.timestamp))
        );
        insurance.enrollWithConsent(pid, 9000, 2e18, t, s);
        (InsuranceProvider.Coverage memory now2,) = insurance.coverageOf(pid);
        assertEq(now2.insurer, insurer2, "the patient stays with the insurer they moved to");
        // The boundary: signed in the very second the other coverage began is not after it.
        ConsentTerms memory same = termsFor(pid, insurerKiosk, Scope.READ);
        same.signedAt = uint64(block.timestamp);
        CardSig memory sameSig = termsSig(PATIENT_PK, pid, insurer, same);
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(InsuranceProvider.StaleSignature.selector, same.signedAt, uint64(block.timestamp))
        );
        insurance.enrollWithConsent(pid, 9000, 2e18, same, sameSig);
        // Signed after that, the first insurer takes the patient over again.
        vm.warp(block.timestamp + 1);
        t = termsFor(pid, insurerKiosk, Scope.READ);
        s = termsSig(PATIENT_PK, pid, insurer, t);
        vm.prank(insurerKiosk);
        insurance.enrollWithConsent(pid, 8000, 1e18, t, s);
        // After a revoke-all, a consent of the old epoch.
        revokeAll(PATIENT_PK, pid);
        vm.warp(block.timestamp + 1);
        t.signedAt = uint64(block.timestamp);
        s = termsSig(PATIENT_PK, pid, insurer, t);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 1, 2));
        insurance.enrollWithConsent(pid, 9000, 2e18, t, s);
        (InsuranceProvider.Coverage memory c,) = insurance.coverageOf(pid);
        assertEq(c.bps, 8000, "the first enrolment's terms");
    }

    // ================================================================ settle step

    function _claimStatus(uint256 claimId) internal view returns (InsuranceProvider.ClaimStatus s) {
        (s,,,,) = insurance.getClaimStatus(claimId);
    }

    function _notPending(uint256 claimId, InsuranceProvider.ClaimStatus s) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(InsuranceProvider.ClaimNotPending.selector, claimId, s);
    }

    function test_settle_aboveTheFourEyesThresholdRefused() public {
        fourEyes(THRESHOLD);
        enroll(pid, insurerKiosk, 10_000, 10_000e18);
        uint256 c = recordAndClaim(pid, 1000e18);
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(InsuranceProvider.AboveApprovalThreshold.selector, c, THRESHOLD + 1, THRESHOLD)
        );
        insurance.settleClaim(c, claimPatient(c), bytes32(0), THRESHOLD + 1, responseEnv());
        assertTrue(_claimStatus(c) == InsuranceProvider.ClaimStatus.Submitted);
        assertEq(token.balanceOf(hospital), 0);
        // At the threshold one kiosk settles.
        vm.prank(insurerKiosk);
        insurance.settleClaim(c, claimPatient(c), bytes32(0), THRESHOLD, responseEnv());
        assertTrue(_claimStatus(c) == InsuranceProvider.ClaimStatus.Paid);
        assertEq(token.balanceOf(hospital), THRESHOLD);
    }

    function test_settle_pendingSecondDeniedApprovedOrPaidClaimRefused() public {
        fourEyes(THRESHOLD);
        enroll(pid, insurerKiosk, 10_000, 10_000e18);
        // Pending a second kiosk: neither the proposer nor the second kiosk may settle it.
        uint256 a = recordAndClaim(pid, 1000e18);
        vm.prank(insurerKiosk);
        insurance.approveClaim(a, claimPatient(a), bytes32(0), 800e18, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(_notPending(a, InsuranceProvider.ClaimStatus.PendingSecond));
        insurance.settleClaim(a, claimPatient(a), bytes32(0), 100e18, responseEnv());
        vm.prank(insurerKioskB);
        vm.expectRevert(_notPending(a, InsuranceProvider.ClaimStatus.PendingSecond));
        insurance.settleClaim(a, claimPatient(a), bytes32(0), 100e18, responseEnv());
        // Denied.
        uint256 d = recordAndClaim(pid, 100e18);
        vm.prank(insurerKiosk);
        insurance.denyClaim(d, bytes32(0), 7, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(_notPending(d, InsuranceProvider.ClaimStatus.Denied));
        insurance.settleClaim(d, claimPatient(d), bytes32(0), 50e18, responseEnv());
        // Approved, not yet paid: processPayment pays it, settle does not approve it again.
        uint256 ap = recordAndClaim(pid, 100e18);
        vm.prank(insurerKiosk);
        insurance.approveClaim(ap, claimPatient(ap), bytes32(0), 50e18, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(_notPending(ap, InsuranceProvider.ClaimStatus.Approved));
        insurance.settleClaim(ap, claimPatient(ap), bytes32(0), 50e18, responseEnv());
        // Settled once; a second settle is refused.
        uint256 p = recordAndClaim(pid, 100e18);
        vm.prank(insurerKiosk);
        insurance.settleClaim(p, claimPatient(p), bytes32(0), 60e18, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(_notPending(p, InsuranceProvider.ClaimStatus.Paid));
        insurance.settleClaim(p, claimPatient(p), bytes32(0), 60e18, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.AlreadyPaid.selector, p));
        insurance.processPayment(p, bytes32(0));
        assertEq(token.balanceOf(hospital), 60e18, "paid once");
        assertEq(insurance.reservedOf(insurer), 50e18, "only the approved, unpaid claim is reserved");
    }

    function test_settle_coverageAndEscrowBoundsHold() public {
        enroll(pid, insurerKiosk, 8000, 100e18);
        uint256 c = recordAndClaim(pid, 100e18);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, 80e18 + 1, 80e18));
        insurance.settleClaim(c, claimPatient(c), bytes32(0), 80e18 + 1, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ZeroAmount.selector));
        insurance.settleClaim(c, claimPatient(c), bytes32(0), 0, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, 5));
        insurance.settleClaim(c, claimPatient(c), bytes32(0), 10e18, new bytes(5));
        // Escrow reserved for another claim is not available.
        uint256 other = recordAndClaim(pid, 10e18);
        vm.prank(insurer);
        insurance.withdrawEscrow(ESCROW - 80e18, insurer);
        vm.prank(insurerKiosk);
        insurance.approveClaim(other, claimPatient(other), bytes32(0), 8e18, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, 72e18, 80e18));
        insurance.settleClaim(c, claimPatient(c), bytes32(0), 80e18, responseEnv());
        vm.prank(insurerKiosk);
        insurance.settleClaim(c, claimPatient(c), bytes32(0), 72e18, responseEnv());
        assertEq(insurance.escrowOf(insurer), 8e18, "what is left is the reserve");
        assertEq(insurance.reservedOf(insurer), 8e18);
        (, uint256 remaining) = insurance.coverageOf(pid);
        assertEq(remaining, 100e18 - 8e18 - 72e18, "both count against the limit");
    }

    function test_settle_notTheClaimsInsurerOrNotAnActiveInsurerKioskRefused() public {
        enroll(pid, insurerKiosk, 8000, 1000e18);
        uint256 c = recordAndClaim(pid, 100e18);
        vm.prank(insurer2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.WrongInsurer.selector, c, insurer2Kiosk));
        insurance.settleClaim(c, claimPatient(c), bytes32(0), 10e18, responseEnv());
        vm.prank(hospitalKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, hospital, Role.Insurer, Role.Hospital)
        );
        insurance.settleClaim(c, claimPatient(c), bytes32(0), 10e18, responseEnv());
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        insurance.settleClaim(c, claimPatient(c), bytes32(0), 10e18, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NoSuchClaim.selector, c + 1));
        insurance.settleClaim(c + 1, claimPatient(c + 1), bytes32(0), 10e18, responseEnv());
        setActive(insurer, false);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, insurer));
        insurance.settleClaim(c, claimPatient(c), bytes32(0), 10e18, responseEnv());
        assertTrue(_claimStatus(c) == InsuranceProvider.ClaimStatus.Submitted);
        assertEq(token.balanceOf(hospital), 0);
    }

    function test_settle_noLongerCoveredRefused() public {
        enroll(pid, insurerKiosk, 8000, 1000e18);
        uint256 c = recordAndClaim(pid, 100e18);
        // The patient moved to insurer 2.
        grant(PATIENT_PK, pid, insurer2Kiosk, Scope.READ, 0);
        enroll(pid, insurer2Kiosk, 9000, 1000e18);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotCovered.selector, pid));
        insurance.settleClaim(c, claimPatient(c), bytes32(0), 10e18, responseEnv());
    }
}
