// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {Role, Scope, CardSig, MalformedEnvelope, Envelope} from "../../src/CareTypes.sol";
import {PatientSmartCard} from "../../src/PatientSmartCard.sol";
import {HospitalRecord} from "../../src/HospitalRecord.sol";
import {PharmacyAccess} from "../../src/PharmacyAccess.sol";
import {InsuranceProvider} from "../../src/InsuranceProvider.sol";

/// @notice The holes found in v1 by review (docs/design-v2.md), each attacked against v2: every attack
/// reverts with the named error and the test then checks that nothing moved. Grouped by hole:
///  1 withheld / far-future consent, scope and window ceilings;  2 amend-and-claim-again, claim without consent;
///  3 insurer withdrawing approved money, suspended insurer;  4 suspended issuer, recall, patient cancel;
///  5 garbage envelopes;  6 paging newest first;  7 card replacement ends old consents;  8 kiosk enrolment and
///  insurer enrolment;  9 governance through a delay, and what a compromised admin cannot do.
contract HoleAttacks is Fixture {
    uint256 internal constant NEW_CARD_PK = 0x5EC0DCA4D;

    function _noConsent(bytes32 patientId, address institution) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, patientId, institution);
    }

    /// @dev The card signs a consent for the institution of `kiosk` now; nothing is submitted.
    function _withheld(address kiosk, uint8 scope, uint64 window)
        internal
        view
        returns (CardSig memory s, uint64 until, uint64 epoch, uint64 sAt)
    {
        address institution = hub.kioskInstitution(kiosk);
        sAt = nextSignedAt(pid, institution);
        until = sAt + window;
        epoch = hub.epochOf(pid);
        s = consentSig(PATIENT_PK, pid, institution, scope, until, epoch, sAt);
    }

    function _consentOf(address institution) internal view returns (uint64 until, uint8 scope) {
        (until,,, scope) = hub.consentOf(pid, institution);
    }

    // ================================================================ 1. consent: withheld, far future, ceilings

    function test_hole1_withheldConsentOlderThanAnHourRefused() public {
        (CardSig memory s, uint64 until, uint64 epoch, uint64 sAt) = _withheld(hospital2Kiosk, HOSPITAL_ALL, 90 days);
        // The kiosk keeps the signature and submits it after the patient has gone.
        vm.warp(uint256(sAt) + 1 hours + 1);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.SignatureTooOld.selector, sAt));
        hub.grantConsent(pid, HOSPITAL_ALL, until, epoch, sAt, s);
        (uint64 got,) = _consentOf(hospital2);
        assertEq(got, 0, "no consent");
        vm.expectRevert(_noConsent(pid, hospital2));
        hub.authorize(hospital2Kiosk, pid, Role.Hospital, Scope.READ);
    }

    function test_hole1_consentSignedForTheFarFutureRefused() public {
        // A signing time far ahead (the v1 "max nonce"): refused, so it cannot outrank every later revocation.
        uint64 far = type(uint64).max - 1;
        CardSig memory s = consentSig(PATIENT_PK, pid, hospital2, Scope.READ, far + 1, 1, far);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.SignatureFromFuture.selector, far));
        hub.grantConsent(pid, Scope.READ, far + 1, 1, far, s);
        (, uint64 last,,) = hub.consentOf(pid, hospital2);
        assertEq(last, 0, "no signing time stored");
    }

    function test_hole1_revocationBeatsEveryConsentSignedBeforeIt() public {
        // The card signs a consent (withheld by the kiosk), then the patient revokes at another desk.
        (CardSig memory kept, uint64 until, uint64 epoch, uint64 sAt) = _withheld(hospitalKiosk, HOSPITAL_ALL, 90 days);
        vm.warp(block.timestamp + 5 minutes);
        revoke(PATIENT_PK, pid, hospital);
        (, uint64 revokedAt,,) = hub.consentOf(pid, hospital);
        // The withheld consent, still within the hour, is older than the revocation.
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleSignature.selector, sAt, revokedAt));
        hub.grantConsent(pid, HOSPITAL_ALL, until, epoch, sAt, kept);
        // So is the consent of the fixture, replayed.
        uint64 t0 = uint64(T0);
        CardSig memory fixture = consentSig(PATIENT_PK, pid, hospital, HOSPITAL_ALL, t0 + 90 days, 1, t0);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleSignature.selector, t0, revokedAt));
        hub.grantConsent(pid, HOSPITAL_ALL, t0 + 90 days, 1, t0, fixture);
        (uint64 got, uint8 scope) = _consentOf(hospital);
        assertTrue(got == 0 && scope == 0, "still revoked");
        vm.prank(hospitalKiosk);
        vm.expectRevert(_noConsent(pid, hospital));
        records.addMedicalRecord(pid, env(1));
    }

    function test_hole1_revokeAllEndsEveryInstitutionAndEveryUnsubmittedConsent() public {
        grant(PATIENT_PK, pid, pharmacy2Kiosk, PHARMACY_ALL, 0);
        (CardSig memory kept, uint64 until,, uint64 sAt) = _withheld(hospital2Kiosk, HOSPITAL_ALL, 90 days);
        revokeAll(PATIENT_PK, pid);
        assertEq(hub.epochOf(pid), 2);
        address[4] memory kiosks = [hospitalKiosk, pharmacyKiosk, pharmacy2Kiosk, insurerKiosk];
        Role[4] memory roles = [Role.Hospital, Role.Pharmacy, Role.Pharmacy, Role.Insurer];
        for (uint256 i; i < 4; ++i) {
            vm.expectRevert(_noConsent(pid, hub.kioskInstitution(kiosks[i])));
            hub.authorize(kiosks[i], pid, roles[i], Scope.READ);
        }
        // The consent signed before, never submitted, names the old epoch.
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 1, 2));
        hub.grantConsent(pid, HOSPITAL_ALL, until, 1, sAt, kept);
        (uint64 got,) = _consentOf(hospital2);
        assertEq(got, 0);
    }

    function test_hole1_pharmacyAskingForWriteRefused() public {
        uint64 sAt = nextSignedAt(pid, pharmacyOrg2);
        uint8[3] memory asks = [Scope.WRITE, Scope.READ | Scope.WRITE, Scope.ALL];
        for (uint256 i; i < asks.length; ++i) {
            CardSig memory s = consentSig(PATIENT_PK, pid, pharmacyOrg2, asks[i], sAt + 1 days, 1, sAt);
            vm.prank(pharmacy2Kiosk);
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidScope.selector, asks[i]));
            hub.grantConsent(pid, asks[i], sAt + 1 days, 1, sAt, s);
        }
        (uint64 got,) = _consentOf(pharmacyOrg2);
        assertEq(got, 0);
    }

    function test_hole1_windowAboveTheRoleCeilingRefused() public {
        uint64 sAt = uint64(block.timestamp);
        uint64 tooLong = sAt + 30 days + 1;
        CardSig memory s = consentSig(PATIENT_PK, pid, pharmacyOrg2, PHARMACY_ALL, tooLong, 1, sAt);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidWindow.selector, tooLong));
        hub.grantConsent(pid, PHARMACY_ALL, tooLong, 1, sAt, s);
        (uint64 got,) = _consentOf(pharmacyOrg2);
        assertEq(got, 0);
    }

    struct RoleCase {
        address kiosk;
        address institution;
        Role role;
        uint8 ceiling;
        uint64 maxWindow;
        uint64 sAt;
        uint64 until;
    }

    function _roleCase(uint256 r, uint256 window) internal view returns (RoleCase memory c) {
        r %= 3;
        c.kiosk = r == 0 ? hospital2Kiosk : r == 1 ? pharmacy2Kiosk : insurer2Kiosk;
        c.institution = hub.kioskInstitution(c.kiosk);
        c.role = r == 0 ? Role.Hospital : r == 1 ? Role.Pharmacy : Role.Insurer;
        c.ceiling = r == 0 ? HOSPITAL_ALL : r == 1 ? PHARMACY_ALL : Scope.READ;
        c.maxWindow = r == 1 ? 30 days : 365 days;
        c.sAt = uint64(block.timestamp);
        c.until = c.sAt + uint64(window);
    }

    /// @dev Any scope, for any role, with any window: granted exactly when within the role's ceilings.
    function testFuzz_hole1_scopeAndWindowCeilings(uint8 scope, uint256 roleSeed, uint256 window) public {
        window = bound(window, 1, 1000 days);
        RoleCase memory c = _roleCase(roleSeed, window);
        CardSig memory s = consentSig(PATIENT_PK, pid, c.institution, scope, c.until, 1, c.sAt);
        vm.prank(c.kiosk);
        if (scope == 0 || scope & ~c.ceiling != 0) {
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidScope.selector, scope));
            hub.grantConsent(pid, scope, c.until, 1, c.sAt, s);
        } else if (window > c.maxWindow) {
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidWindow.selector, c.until));
            hub.grantConsent(pid, scope, c.until, 1, c.sAt, s);
        } else {
            hub.grantConsent(pid, scope, c.until, 1, c.sAt, s);
            hub.authorize(c.kiosk, pid, c.role, scope);
            return;
        }
        (uint64 got, uint8 stored) = _consentOf(c.institution);
        assertTrue(got == 0 && stored == 0, "nothing granted");
    }

    // ================================================================ 2. claims: amend and claim again, no consent

    function test_hole2_amendAndClaimAgainRefused() public {
        enroll(pid, insurerKiosk, 8_000, 10_000e18);
        uint256 claimId = recordAndClaim(pid, 100e18);
        vm.prank(hospitalKiosk);
        uint256 amended = records.updateMedicalHistory(pid, 0, env(0xa3e2d));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotOriginalRecord.selector, pid, amended));
        insurance.submitClaim(pid, amended, 100e18, env(0xc1a2));
        // And the amendment of the amendment.
        vm.prank(hospitalKiosk);
        uint256 again = records.updateMedicalHistory(pid, amended, env(0xa3e2e));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotOriginalRecord.selector, pid, again));
        insurance.submitClaim(pid, again, 100e18, env(0xc1a3));
        assertEq(insurance.claimCount(), claimId, "one claim for the visit");
        assertEq(insurance.claimOfRecord(pid, amended), 0);
    }

    function test_hole2_claimAfterThePatientRevokedTheHospitalRefused() public {
        enroll(pid, insurerKiosk, 8_000, 10_000e18);
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        revoke(PATIENT_PK, pid, hospital);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_noConsent(pid, hospital));
        insurance.submitClaim(pid, index, 100e18, env(0xc1a1));
        // After revoking everything, too.
        grant(PATIENT_PK, pid, hospitalKiosk, HOSPITAL_ALL, 0);
        revokeAll(PATIENT_PK, pid);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_noConsent(pid, hospital));
        insurance.submitClaim(pid, index, 100e18, env(0xc1a1));
        assertEq(insurance.claimCount(), 0);
    }

    // ================================================================ 3. escrow: approved money, suspended insurer

    function test_hole3_insurerApprovesThenWithdrawsEverything_onlyTheUnreservedLeaves() public {
        enroll(pid, insurerKiosk, 8_000, 10_000e18);
        uint256 claimId = recordAndClaim(pid, 100e18);
        vm.prank(insurerKiosk);
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 80e18, responseEnv());
        vm.prank(insurer);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, ESCROW - 80e18, ESCROW));
        insurance.withdrawEscrow(ESCROW, insurer);
        assertEq(insurance.escrowOf(insurer), ESCROW, "nothing left");
        vm.prank(insurer);
        insurance.withdrawEscrow(ESCROW - 80e18, insurer);
        assertEq(insurance.escrowOf(insurer), 80e18);
        assertEq(insurance.reservedOf(insurer), 80e18);
        // The hospital's own kiosk collects what it is owed.
        vm.prank(hospitalKiosk);
        insurance.processPayment(claimId, bytes32(0));
        assertEq(token.balanceOf(hospital), 80e18);
        assertEq(insurance.escrowOf(insurer), 0);
        assertEq(insurance.reservedOf(insurer), 0);
        assertEq(token.balanceOf(address(insurance)), 0);
    }

    function test_hole3_suspendedInsurer_hospitalStillPaid() public {
        enroll(pid, insurerKiosk, 8_000, 10_000e18);
        uint256 a = recordAndClaim(pid, 100e18);
        uint256 b = recordAndClaim(pid, 100e18);
        vm.startPrank(insurerKiosk);
        insurance.approveClaim(a, claimPatient(a), bytes32(0), 80e18, responseEnv());
        insurance.approveClaim(b, claimPatient(b), bytes32(0), 40e18, responseEnv());
        vm.stopPrank();
        setActive(insurer, false);
        // The suspended insurer can no longer decide, but what it approved is money owed.
        vm.prank(hospitalKiosk);
        insurance.processPayment(a, bytes32(0));
        vm.prank(insurerKiosk);
        insurance.processPayment(b, bytes32(0));
        assertEq(token.balanceOf(hospital), 120e18);
        assertEq(insurance.reservedOf(insurer), 0);
        assertEq(token.balanceOf(address(insurance)), insurance.escrowOf(insurer) + insurance.escrowOf(insurer2));
    }

    // ================================================================ 4. prescriptions: suspended issuer, recall, patient

    function test_hole4_suspendedHospitalsPrescriptionCannotBeDispensed() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        setActive(hospital, false);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        uint256 nonce = hub.nonces(pid);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.IssuerInactive.selector, id, hospitalId));
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        assertTrue(pharmacy.getPrescription(id).status == PharmacyAccess.Status.Ready);
        assertEq(hub.nonces(pid), nonce, "no card nonce used");
        // Reinstated, the same signature dispenses.
        setActive(hospital, true);
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
    }

    function test_hole4_adminRecallsAPrescription() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionCancelled(id, pid, hospitalId);
        vm.prank(admin);
        pharmacy.cancelPrescription(id, rxPatient(id), bytes32(0));
        assertTrue(pharmacy.getPrescription(id).status == PharmacyAccess.Status.Cancelled);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyCancelled.selector, id));
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        // The guardian is not the admin.
        uint256 id2 = issue(pid, hospitalKiosk, 0);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, guardian));
        pharmacy.cancelPrescription(id2, rxPatient(id2), bytes32(0));
    }

    function test_hole4_patientsCardCancels() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint64 sAt = uint64(block.timestamp);
        CardSig memory s = cancelSig(PATIENT_PK, id, sAt);
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionCancelled(id, pid, hospitalId);
        vm.prank(stranger); // anyone may submit it
        pharmacy.cancelPrescriptionByPatient(id, rxPatient(id), sAt, s);
        assertTrue(pharmacy.getPrescription(id).status == PharmacyAccess.Status.Cancelled);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyCancelled.selector, id));
        pharmacy.cancelPrescriptionByPatient(id, rxPatient(id), sAt, s);
    }

    function test_hole4_staleOrForeignCardCancelRefused() public {
        uint256 id = issue(pid, hospitalKiosk, 0);
        vm.warp(T0 + 1 days);
        uint64 now_ = uint64(block.timestamp);
        CardSig memory old = cancelSig(PATIENT_PK, id, now_ - 1 hours - 1);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.SignatureTooOld.selector, now_ - 1 hours - 1));
        pharmacy.cancelPrescriptionByPatient(id, rxPatient(id), now_ - 1 hours - 1, old);
        CardSig memory future = cancelSig(PATIENT_PK, id, now_ + 5 minutes + 1);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.SignatureFromFuture.selector, now_ + 5 minutes + 1));
        pharmacy.cancelPrescriptionByPatient(id, rxPatient(id), now_ + 5 minutes + 1, future);
        registerPatient(OTHER_PK);
        CardSig memory foreign = cancelSig(OTHER_PK, id, now_);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        pharmacy.cancelPrescriptionByPatient(id, rxPatient(id), now_, foreign);
        CardSig memory good = cancelSig(PATIENT_PK, id, now_);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidCardSignature.selector));
        pharmacy.cancelPrescriptionByPatient(id + 0, rxPatient(id + 0), now_ - 1, good);
        assertTrue(pharmacy.getPrescription(id).status == PharmacyAccess.Status.Ready);
        // A dispensed prescription is not cancelled afterwards.
        grant(PATIENT_PK, pid, pharmacyKiosk, PHARMACY_ALL, 0);
        dispense(PATIENT_PK, id, pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, id));
        pharmacy.cancelPrescriptionByPatient(id, rxPatient(id), now_, good);
    }

    // ================================================================ 5. garbage envelopes

    function _malformed(uint256 length) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(MalformedEnvelope.selector, length);
    }

    function test_hole5_wrongVersionOrNonBucketLengthRefusedEverywhere() public {
        enroll(pid, insurerKiosk, 8_000, 10_000e18);
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        // Issue 13's sealed payloads too: the dispense (card and token) and the claim response (approve, deny).
        uint256 rx = issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        uint256 claimIndex = addRecord(pid, hospitalKiosk, env(0x0bad02));
        vm.prank(hospitalKiosk);
        uint256 claimId = insurance.submitClaim(pid, claimIndex, 100e18, env(0xc1a1));
        CardSig memory anySig;
        bytes memory v1 = env(1);
        v1[0] = 0x01;
        bytes memory odd = new bytes(Envelope.OVERHEAD + 1000);
        odd[0] = bytes1(Envelope.VERSION);
        bytes memory plain = bytes("a plaintext diagnosis");
        bytes[3] memory bad = [v1, odd, plain];
        for (uint256 i; i < 3; ++i) {
            vm.startPrank(hospitalKiosk);
            vm.expectRevert(_malformed(bad[i].length));
            records.addMedicalRecord(pid, bad[i]);
            vm.expectRevert(_malformed(bad[i].length));
            records.updateMedicalHistory(pid, index, bad[i]);
            vm.expectRevert(_malformed(bad[i].length));
            pharmacy.issuePrescription(pid, 0, bytes32(0), bad[i]);
            vm.expectRevert(_malformed(bad[i].length));
            insurance.submitClaim(pid, index, 1e18, bad[i]);
            vm.stopPrank();
            vm.startPrank(pharmacyKiosk);
            vm.expectRevert(_malformed(bad[i].length));
            pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, block.timestamp, bad[i], anySig);
            vm.expectRevert(_malformed(bad[i].length));
            pharmacy.dispenseByToken(rx, rxPatient(rx), block.timestamp, bad[i], anySig);
            vm.stopPrank();
            vm.startPrank(insurerKiosk);
            vm.expectRevert(_malformed(bad[i].length));
            insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 1e18, bad[i]);
            vm.expectRevert(_malformed(bad[i].length));
            insurance.denyClaim(claimId, bytes32(0), 1, bad[i]);
            vm.stopPrank();
        }
        assertEq(records.recordCount(pid), 2);
        assertEq(pharmacy.prescriptionCount(), 1);
        assertTrue(pharmacy.getPrescription(rx).status == PharmacyAccess.Status.Ready);
        assertEq(insurance.claimCount(), 1);
        (InsuranceProvider.ClaimStatus st,,,,) = insurance.getClaimStatus(claimId);
        assertTrue(st == InsuranceProvider.ClaimStatus.Submitted);
    }

    /// @dev Any length and version byte: accepted exactly for version 3 and a bucket within each call's limit.
    function testFuzz_hole5_envelopeLengthsAndVersions(uint256 length, uint8 version, uint256 target) public {
        bool onBucket = (target >> 8) & 1 == 0;
        bool current = (target >> 9) & 1 == 0;
        target %= 3;
        length = bound(length, 0, Envelope.OVERHEAD + 65536 + 1);
        // Every other run lands on a bucket size (up to one above the largest), so both outcomes are exercised.
        if (onBucket) length = Envelope.OVERHEAD + (512 << bound(length, 0, 8));
        bytes memory blob = new bytes(length);
        if (length > 0) blob[0] = bytes1(current ? Envelope.VERSION : version);
        uint256 b = length > Envelope.OVERHEAD ? length - Envelope.OVERHEAD : 0;
        uint256 maxBucket = target == 0 ? 65536 : 16384;
        bool ok = length > Envelope.OVERHEAD && uint8(blob[0]) == Envelope.VERSION && b >= 512 && b <= maxBucket && b & (b - 1) == 0;
        uint256 index;
        if (target == 2) {
            enroll(pid, insurerKiosk, 8_000, 10_000e18);
            index = addRecord(pid, hospitalKiosk, env(0x0bad));
        }
        vm.prank(hospitalKiosk);
        if (!ok) vm.expectRevert(_malformed(length));
        if (target == 0) records.addMedicalRecord(pid, blob);
        else if (target == 1) pharmacy.issuePrescription(pid, 0, bytes32(0), blob);
        else insurance.submitClaim(pid, index, 1e18, blob);
        uint256 made = target == 0
            ? records.recordCount(pid)
            : target == 1 ? pharmacy.prescriptionCount() : insurance.claimCount();
        assertEq(made, ok ? 1 : 0, "created exactly when well-formed");
    }

    // ================================================================ 6. paging newest first

    function test_hole6_sixtyFivePrescriptionsNewestFirstOnEveryPage() public {
        uint256 n = 65;
        for (uint256 i; i < n; ++i) {
            issue(pid, hospitalKiosk, 0);
        }
        uint256 seen;
        uint256 offset;
        uint256 expected = n;
        while (true) {
            vm.prank(pharmacyKiosk);
            (,, uint256[] memory ids, PharmacyAccess.Prescription[] memory page, uint256 total) =
                pharmacy.getPatientFullInfo(pid, offset, 50);
            assertEq(total, n);
            if (ids.length == 0) break;
            for (uint256 i; i < ids.length; ++i) {
                assertEq(ids[i], expected, "newest first, no gap, no repeat");
                assertEq(page[i].patientPrefix, bytes12(pid));
                --expected;
            }
            seen += ids.length;
            offset += ids.length;
        }
        assertEq(seen, n, "every prescription on some page");
        assertEq(offset, n);
    }

    // ================================================================ 7. a replaced card's consents

    function test_hole7_replaceCardEndsTheOldCardsConsents() public {
        grant(PATIENT_PK, pid, hospital2Kiosk, HOSPITAL_ALL, 0);
        (CardSig memory kept, uint64 until,, uint64 sAt) = _withheld(pharmacy2Kiosk, PHARMACY_ALL, 3 days);
        replace(pid, NEW_CARD_PK);
        assertEq(hub.epochOf(pid), 2);
        // Every consent obtained with the old card is dead: the hospitals', the pharmacy's, the insurer's.
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_noConsent(pid, hospital2));
        records.addMedicalRecord(pid, env(2));
        vm.prank(hospitalKiosk);
        vm.expectRevert(_noConsent(pid, hospital));
        pharmacy.issuePrescription(pid, 0, bytes32(0), env(3));
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_noConsent(pid, pharmacyOrg));
        pharmacy.getPatientFullInfo(pid, 0, 10);
        vm.prank(insurerKiosk);
        vm.expectRevert(_noConsent(pid, insurer));
        insurance.enrollPatient(pid, 8_000, 1e18);
        // A consent the old card signed but the kiosk kept back is refused too.
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 1, 2));
        hub.grantConsent(pid, PHARMACY_ALL, until, 1, sAt, kept);
        assertEq(records.recordCount(pid), 0);
        assertEq(pharmacy.prescriptionCount(), 0);
    }

    // ================================================================ 8. enrolment: kiosks and insurers

    function test_hole8_anotherInstitutionsOfferIsNeverAccepted() public {
        address k = makeAddr("newHospitalKiosk");
        // The hospital offers its new kiosk; a rival of the same role that learned the address offers too.
        vm.prank(hospital);
        hub.addKiosk(k);
        vm.prank(hospital2);
        hub.addKiosk(k);
        // The kiosk accepts only the institution it was set up for: the rival's offer is not that one.
        vm.prank(k);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoKioskOffer.selector, k, hospital));
        hub.acceptKiosk(hospital);
        assertEq(hub.kioskInstitution(k), address(0), "the key belongs to nobody");
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, k));
        hub.institutionOf(k, Role.Hospital);
        // The hospital offers again and the key accepts; the rival cannot take it any more.
        vm.prank(hospital);
        hub.addKiosk(k);
        vm.prank(k);
        hub.acceptKiosk(hospital);
        assertEq(hub.kioskInstitution(k), hospital);
        vm.prank(hospital2);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.KioskTaken.selector, k, hospital));
        hub.addKiosk(k);
    }

    function test_hole8_acceptKioskWithoutAnOfferRefused() public {
        address k = makeAddr("someKey");
        vm.prank(k);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoKioskOffer.selector, k, hospital2));
        hub.acceptKiosk(hospital2);
        // A key that belonged to a hospital and was removed cannot come back on its own.
        vm.prank(hospital);
        hub.removeKiosk(hospitalKiosk);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoKioskOffer.selector, hospitalKiosk, hospital));
        hub.acceptKiosk(hospital);
        assertEq(hub.kioskInstitution(k), address(0));
        assertEq(hub.kioskInstitution(hospitalKiosk), address(0));
    }

    function test_hole8_enrolmentByAnInsurerWithoutConsentRefused() public {
        enroll(pid, insurerKiosk, 8_000, 1_000e18);
        vm.prank(insurer2Kiosk);
        vm.expectRevert(_noConsent(pid, insurer2));
        insurance.enrollPatient(pid, 10_000, 1e30);
        (InsuranceProvider.Coverage memory c,) = insurance.coverageOf(pid);
        assertEq(c.insurer, insurer, "coverage not squatted");
        assertEq(c.bps, 8_000);
        // Nor an unregistered patient.
        bytes32 ghost = idOf(OTHER_PK);
        vm.prank(insurer2Kiosk);
        vm.expectRevert(_noConsent(ghost, insurer2));
        insurance.enrollPatient(ghost, 10_000, 1e30);
    }

    function test_hole8_patientMovesToAnotherInsurer_oldApprovedClaimsStayPayable() public {
        enroll(pid, insurerKiosk, 8_000, 1_000e18);
        uint256 approved = recordAndClaim(pid, 100e18);
        uint256 pending = recordAndClaim(pid, 100e18);
        vm.prank(insurerKiosk);
        insurance.approveClaim(approved, claimPatient(approved), bytes32(0), 80e18, responseEnv());
        // The patient consents to insurer 2, which takes the coverage over with a new period.
        vm.warp(block.timestamp + 10 days);
        grant(PATIENT_PK, pid, insurer2Kiosk, Scope.READ, 0);
        enroll(pid, insurer2Kiosk, 5_000, 500e18);
        (InsuranceProvider.Coverage memory c, uint256 remaining) = insurance.coverageOf(pid);
        assertEq(c.insurer, insurer2);
        assertEq(c.periodStart, block.timestamp);
        assertEq(c.used, 0);
        assertEq(remaining, 500e18);
        // The old insurer cannot approve under the new coverage; it may still deny.
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotCovered.selector, pid));
        insurance.approveClaim(pending, claimPatient(pending), bytes32(0), 1e18, responseEnv());
        vm.prank(insurerKiosk);
        insurance.denyClaim(pending, bytes32(0), 9, responseEnv());
        // What it approved is still paid from its reserve.
        vm.prank(hospitalKiosk);
        insurance.processPayment(approved, bytes32(0));
        assertEq(token.balanceOf(hospital), 80e18);
        assertEq(insurance.reservedOf(insurer), 0);
    }

    // ================================================================ 9. governance and a compromised admin

    function _delayedHub() internal returns (PatientSmartCard h) {
        h = new PatientSmartCard(admin, 2 days, guardian);
        vm.prank(admin);
        h.wire(address(records), address(pharmacy), address(insurance));
    }

    function test_hole9_directGovernanceByTheAdminRefused() public {
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, admin));
        hub.setInstitutionActive(hospital, false);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, admin));
        hub.transferAdmin(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, admin));
        hub.setGuardian(address(0));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, admin));
        records.registerHospital(stranger);
        vm.stopPrank();
        (, bool active,) = hub.institutions(hospital);
        assertTrue(active);
        assertEq(hub.pendingAdmin(), address(0));
        assertEq(hub.guardian(), guardian);
    }

    function test_hole9_executeBeforeTheEtaRefused() public {
        PatientSmartCard h = _delayedHub();
        bytes memory call_ = abi.encodeCall(PatientSmartCard.transferAdmin, (stranger));
        bytes32 id = keccak256(abi.encode(address(h), call_));
        vm.prank(admin);
        h.schedule(address(h), call_);
        uint256 eta = block.timestamp + 2 days;
        vm.warp(eta - 1);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotReady.selector, id, eta));
        h.execute(address(h), call_);
        assertEq(h.pendingAdmin(), address(0));
    }

    function test_hole9_guardianCancelsAPendingSuspension() public {
        PatientSmartCard h = _delayedHub();
        bytes memory call_ = abi.encodeCall(PatientSmartCard.setGuardian, (address(0)));
        bytes32 id = keccak256(abi.encode(address(h), call_));
        vm.prank(admin);
        h.schedule(address(h), call_);
        vm.prank(guardian);
        h.cancel(id);
        vm.warp(block.timestamp + 2 days);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotScheduled.selector, id));
        h.execute(address(h), call_);
        assertEq(h.guardian(), guardian, "the guardian kept its seat");
    }

    function test_hole9_aStrangerCannotScheduleOrCancel() public {
        bytes memory call_ = abi.encodeCall(PatientSmartCard.setInstitutionActive, (hospital, false));
        bytes32 id = keccak256(abi.encode(address(hub), call_));
        address[3] memory who = [stranger, hospital, hospitalKiosk];
        for (uint256 i; i < 3; ++i) {
            vm.prank(who[i]);
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, who[i]));
            hub.schedule(address(hub), call_);
        }
        scheduleGoverned(address(hub), call_);
        for (uint256 i; i < 3; ++i) {
            vm.prank(who[i]);
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGuardian.selector, who[i]));
            hub.cancel(id);
            vm.prank(who[i]);
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, who[i]));
            hub.execute(address(hub), call_);
        }
        assertEq(hub.etaOf(id), block.timestamp, "still pending");
        (, bool active,) = hub.institutions(hospital);
        assertTrue(active);
    }

    function test_hole9_compromisedAdminCannotMoveEscrowOrSignForThePatient() public {
        enroll(pid, insurerKiosk, 8_000, 10_000e18);
        uint256 claimId = recordAndClaim(pid, 100e18);
        vm.prank(insurerKiosk);
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 80e18, responseEnv());
        uint256 balance = token.balanceOf(address(insurance));
        vm.startPrank(admin);
        // Directly: the admin is neither an insurer nor a party to the claim.
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, admin));
        insurance.withdrawEscrow(1, admin);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotClaimParty.selector, claimId, admin));
        insurance.processPayment(claimId, bytes32(0));
        // Through governance: the hub is neither.
        bytes memory withdraw = abi.encodeCall(InsuranceProvider.withdrawEscrow, (1, admin));
        hub.schedule(address(insurance), withdraw);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, address(hub)));
        hub.execute(address(insurance), withdraw);
        bytes memory pay = abi.encodeCall(InsuranceProvider.processPayment, (claimId, bytes32(0)));
        hub.schedule(address(insurance), pay);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotClaimParty.selector, claimId, address(hub)));
        hub.execute(address(insurance), pay);
        // It cannot consent for the patient: it has no card, and the hub is no kiosk.
        uint64 sAt = uint64(block.timestamp);
        CardSig memory forged = signDigest(0xAD, keccak256("admin"));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, admin));
        hub.grantConsent(pid, Scope.READ, sAt + 1 days, 1, sAt, forged);
        bytes memory consent = abi.encodeCall(PatientSmartCard.grantConsent, (pid, Scope.READ, sAt + 1 days, 1, sAt, forged));
        hub.schedule(address(hub), consent);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, address(hub)));
        hub.execute(address(hub), consent);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        hub.revokeAllConsents(pid, 1, sAt, forged);
        vm.stopPrank();
        // A hospital of its own, registered in the open, gets no consent and reads or writes nothing.
        address rogue = makeAddr("rogueHospital");
        address rogueKiosk = makeAddr("rogueKiosk");
        registerInstitution(rogue, Role.Hospital);
        _addKiosk(rogue, rogueKiosk);
        vm.prank(rogueKiosk);
        vm.expectRevert(_noConsent(pid, rogue));
        records.addMedicalRecord(pid, env(0xbad));
        // Nothing moved.
        assertEq(token.balanceOf(address(insurance)), balance);
        assertEq(insurance.escrowOf(insurer), ESCROW);
        assertEq(insurance.reservedOf(insurer), 80e18);
        assertEq(hub.epochOf(pid), 1);
        (InsuranceProvider.ClaimStatus st,,,,) = insurance.getClaimStatus(claimId);
        assertTrue(st == InsuranceProvider.ClaimStatus.Approved);
    }
}
