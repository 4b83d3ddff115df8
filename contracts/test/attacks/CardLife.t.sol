// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {Role, Scope, CardSig} from "../../src/CareTypes.sol";
import {PatientSmartCard} from "../../src/PatientSmartCard.sol";
import {HospitalRecord} from "../../src/HospitalRecord.sol";
import {PharmacyAccess} from "../../src/PharmacyAccess.sol";
import {InsuranceProvider} from "../../src/InsuranceProvider.sol";

/// @notice The card's life (docs/design-v2.md): registration with the recovery key (the issue letter) and
/// the key bundle, a loss report by the recovery key or the card, a replacement by the recovery key and the new card
/// at a hospital kiosk without consent; and the attacks on it: a stranger's key, replays, stale signatures, another
/// hospital, another patient's recovery key or card, the wrong role, tampered terms, a rotated recovery key.
contract CardLifeAttacks is Fixture {
    uint256 internal constant NEW_CARD_PK = 0x5EC0DCA4D;
    uint256 internal constant NEW_CARD2_PK = 0x7E1DCA4D;
    uint256 internal constant NEW_RECOVERY_PK = 0x1E77E2;
    uint256 internal constant STRANGER_PK = 0x57A7;

    /// @dev The fixture patient's recovery key (printed on the issue letter).
    uint256 internal recoveryPk;

    function setUp() public override {
        super.setUp();
        recoveryPk = recoveryPkOf(pid);
    }

    function _invalid() internal pure returns (bytes memory) {
        return abi.encodeWithSelector(PatientSmartCard.InvalidCardSignature.selector);
    }

    function _reported(bytes32 patientId) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(PatientSmartCard.CardReported.selector, patientId);
    }

    function _noConsent(bytes32 patientId, address institution) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, patientId, institution);
    }

    /// @dev The card's state: (key, epoch, lost, recovery key hash, bundle hash).
    struct Card {
        bytes32 key;
        uint64 epoch;
        bool lost;
        bytes32 recovery;
        bytes32 bundle;
    }

    function _card(bytes32 patientId) internal view returns (Card memory c) {
        c = Card({
            key: hub.cardKeyOf(patientId),
            epoch: hub.epochOf(patientId),
            lost: hub.cardLost(patientId),
            recovery: hub.patientOfRecovery(recoveryHashOf(patientId)),
            bundle: hub.keyBundleOf(patientId)
        });
    }

    function _assertCard(bytes32 patientId, Card memory a) internal view {
        Card memory b = _card(patientId);
        assertEq(b.key, a.key, "card key");
        assertEq(b.epoch, a.epoch, "epoch");
        assertEq(b.lost, a.lost, "lost");
        assertEq(b.recovery, a.recovery, "recovery key");
        assertEq(b.bundle, a.bundle, "key bundle");
    }

    // ================================================================ registration

    function test_register_storesRecoveryKeyAndBundleHashes() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 other = idOf(OTHER_PK);
        bytes32 rk = idOf(NEW_RECOVERY_PK);
        bytes memory bundle = keyBundleOf(0xB0B);
        CardSig memory s = cardSig(OTHER_PK, registerHashWith(other, hospital2, rk, keccak256(bundle), deadline));
        vm.expectEmit(address(hub));
        emit PatientSmartCard.PatientRegistered(other, hospital2);
        vm.prank(hospital2Kiosk);
        assertEq(hub.registerPatient(deadline, rk, bundle, s), other);
        assertEq(hub.patientOfRecovery(rk), other, "recovery key hash stored (as its index)");
        assertEq(hub.keyBundleOf(other), bundlePrefix(bundle), "bundle hash stored");
        assertFalse(hub.cardLost(other));
        assertEq(hub.patientOfCard(other), other);
        // The fixture's patient too.
        assertEq(hub.patientOfRecovery(recoveryHashOf(pid)), pid);
        assertEq(hub.keyBundleOf(pid), bundlePrefix(keyBundle()));
    }

    function test_register_signatureOverAnotherBundleOrRecoveryKeyRefused() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 other = idOf(OTHER_PK);
        bytes32 rk = recoveryHashOf(other);
        bytes memory bundle = keyBundleOf(0xB0B);
        CardSig memory s = cardSig(OTHER_PK, registerHashWith(other, hospital, rk, keccak256(bundle), deadline));
        // A kiosk swaps the bundle (say, a card grant sealed for a key it holds) or the recovery key (its own).
        vm.startPrank(hospitalKiosk);
        vm.expectRevert(_invalid());
        hub.registerPatient(deadline, rk, keyBundleOf(0xE51), s);
        vm.expectRevert(_invalid());
        hub.registerPatient(deadline, idOf(STRANGER_PK), bundle, s);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidRecoveryKey.selector));
        hub.registerPatient(deadline, 0, bundle, s);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidKeyBundle.selector, 0));
        hub.registerPatient(deadline, rk, "", s);
        assertEq(hub.cardKeyOf(other), bytes32(0), "not registered");
        // The terms the card signed go through.
        hub.registerPatient(deadline, rk, bundle, s);
        vm.stopPrank();
        assertEq(hub.keyBundleOf(other), bundlePrefix(bundle));
    }

    // ================================================================ loss report

    /// @dev Signatures the old card made before it was lost (kept by a finder or a kiosk), and a prescription.
    struct Pending {
        uint256 rx;
        uint256 rx2;
        uint64 sAt;
        uint64 until;
        CardSig con;
        CardSig rev;
        CardSig all;
        CardSig can;
        CardSig dis;
    }

    function _pending() internal returns (Pending memory x) {
        x.rx = issue(pid, hospitalKiosk, 0);
        x.rx2 = issue(pid, hospitalKiosk, 0);
        x.sAt = uint64(block.timestamp) + 1;
        x.until = x.sAt + 1 days;
        x.con = consentSig(PATIENT_PK, pid, pharmacyOrg2, PHARMACY_ALL, x.until, 1, x.sAt);
        x.rev = revokeSig(PATIENT_PK, pid, hospital, x.sAt);
        x.all = revokeAllSig(PATIENT_PK, pid, 1, x.sAt);
        x.can = cancelSig(PATIENT_PK, x.rx2, x.sAt);
        x.dis = dispenseSig(PATIENT_PK, x.rx, pharmacyOrg, block.timestamp + 1 hours);
    }

    function test_lost_byRecoveryKey_oldCardRefusedEverywhere() public {
        Pending memory x = _pending();
        uint64 sAt = uint64(block.timestamp);
        CardSig memory report = reportLostSig(recoveryPk, pid, 1, sAt);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.CardReportedLost(pid, 2);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.AllConsentsRevoked(pid, 2);
        vm.prank(stranger);
        hub.reportCardLost(pid, sAt, report);
        assertTrue(hub.cardLost(pid));
        assertEq(hub.epochOf(pid), 2, "the epoch moved");
        assertEq(hub.cardKeyOf(pid), pid, "the patient still exists");
        assertEq(hub.patientOfCard(pid), bytes32(0), "the lost card finds nobody");
        (bool registered, bytes32 keyHash,, uint64 epoch) = hub.getPatientInfo(pid);
        assertTrue(registered);
        assertEq(keyHash, pid);
        assertEq(epoch, 2);

        // Every consent of every institution is void.
        vm.expectRevert(_noConsent(pid, hospital));
        hub.authorize(hospitalKiosk, pid, Role.Hospital, Scope.READ);
        vm.expectRevert(_noConsent(pid, pharmacyOrg));
        hub.authorize(pharmacyKiosk, pid, Role.Pharmacy, Scope.READ);
        vm.expectRevert(_noConsent(pid, insurer));
        hub.authorize(insurerKiosk, pid, Role.Insurer, Scope.READ);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_noConsent(pid, hospital));
        records.addMedicalRecord(pid, env(1));
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_noConsent(pid, pharmacyOrg));
        pharmacy.getPatientFullInfo(pid, 0, 10);

        // The old card's signatures made before the loss are refused: consent, revocation, revoke-all, cancel,
        // dispense.
        vm.warp(block.timestamp + 1);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 1, 2));
        hub.grantConsent(pid, PHARMACY_ALL, x.until, 1, x.sAt, x.con);
        vm.expectRevert(_reported(pid));
        hub.revokeConsent(pid, hospital, x.sAt, x.rev);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.WrongEpoch.selector, 1, 2));
        hub.revokeAllConsents(pid, 1, x.sAt, x.all);
        vm.expectRevert(_reported(pid));
        pharmacy.cancelPrescriptionByPatient(x.rx2, rxPatient(x.rx2), x.sAt, x.can);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_noConsent(pid, pharmacyOrg));
        pharmacy.dispensePrescription(x.rx, rxPatient(x.rx), WHOLE, block.timestamp + 1 hours, dispenseEnv(), x.dis);
        // (The pharmacy's consent died first; the card check itself refuses the card as well.)
        bytes32 disHash = dispenseHash(x.rx, pharmacyOrg, hub.nonces(pid), block.timestamp + 1 hours);
        vm.expectRevert(_reported(pid));
        hub.verifyCardSignature(pid, disHash, x.dis);

        // Nothing moved.
        assertEq(hub.epochOf(pid), 2);
        assertTrue(pharmacy.getPrescription(x.rx).status == PharmacyAccess.Status.Ready, "not dispensed");
        assertTrue(pharmacy.getPrescription(x.rx2).status == PharmacyAccess.Status.Ready, "not cancelled");
        (uint64 until,,,) = hub.consentOf(pid, pharmacyOrg2);
        assertEq(until, 0, "no consent for pharmacy 2");
    }

    function test_lost_finderSignaturesInTheNewEpochRefused() public {
        uint256 rx = issue(pid, hospitalKiosk, 0);
        reportLost(recoveryPk, pid);
        // A finder who knows the PIN signs with the card, in the new epoch: every card signature is refused.
        uint64 now_ = uint64(block.timestamp) + 1;
        vm.warp(now_);
        CardSig memory con = consentSig(PATIENT_PK, pid, pharmacyOrg2, PHARMACY_ALL, now_ + 1 days, 2, now_);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(_reported(pid));
        hub.grantConsent(pid, PHARMACY_ALL, now_ + 1 days, 2, now_, con);
        CardSig memory rev = revokeSig(PATIENT_PK, pid, hospital, now_);
        vm.expectRevert(_reported(pid));
        hub.revokeConsent(pid, hospital, now_, rev);
        CardSig memory all = revokeAllSig(PATIENT_PK, pid, 2, now_);
        vm.expectRevert(_reported(pid));
        hub.revokeAllConsents(pid, 2, now_, all);
        CardSig memory can = cancelSig(PATIENT_PK, rx, now_);
        vm.expectRevert(_reported(pid));
        pharmacy.cancelPrescriptionByPatient(rx, rxPatient(rx), now_, can);
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 disHash = dispenseHash(rx, pharmacyOrg, hub.nonces(pid), deadline);
        CardSig memory dis = cardSig(PATIENT_PK, disHash);
        vm.expectRevert(_reported(pid));
        hub.verifyCardSignature(pid, disHash, dis);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_noConsent(pid, pharmacyOrg));
        pharmacy.dispensePrescription(rx, rxPatient(rx), WHOLE, deadline, dispenseEnv(), dis);
        // Nor can the card report itself lost again.
        CardSig memory report = reportLostSig(PATIENT_PK, pid, 2, now_);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardAlreadyLost.selector, pid));
        hub.reportCardLost(pid, now_, report);
        assertEq(hub.epochOf(pid), 2, "the finder moved nothing");
        assertTrue(pharmacy.getPrescription(rx).status == PharmacyAccess.Status.Ready);
        (uint64 until,,,) = hub.consentOf(pid, pharmacyOrg2);
        assertEq(until, 0);
    }

    function test_lost_byTheCardItself() public {
        uint64 sAt = uint64(block.timestamp);
        CardSig memory report = reportLostSig(PATIENT_PK, pid, 1, sAt);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.CardReportedLost(pid, 2);
        vm.prank(stranger);
        hub.reportCardLost(pid, sAt, report);
        assertTrue(hub.cardLost(pid));
        assertEq(hub.epochOf(pid), 2);
        // The card cannot take it back: its signatures are refused from now on.
        uint64 t = uint64(block.timestamp);
        CardSig memory all = revokeAllSig(PATIENT_PK, pid, 2, t);
        vm.expectRevert(_reported(pid));
        hub.revokeAllConsents(pid, 2, t, all);
    }

    function test_lost_byAStrangersKeyRefused() public {
        bytes32 other = registerPatient(OTHER_PK);
        uint64 sAt = uint64(block.timestamp);
        // A stranger's key, another patient's card, another patient's recovery key, a hospital's key: none is the
        // patient's recovery key or card.
        uint256[4] memory keys = [STRANGER_PK, OTHER_PK, recoveryPkOf(other), NEW_CARD_PK];
        for (uint256 i; i < keys.length; ++i) {
            CardSig memory report = reportLostSig(keys[i], pid, 1, sAt);
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotRecoveryOrCard.selector, pid));
            hub.reportCardLost(pid, sAt, report);
        }
        // The recovery key's signature presented with the card's key (or the reverse) is no signature.
        CardSig memory forged = reportLostSig(STRANGER_PK, pid, 1, sAt);
        (forged.qx, forged.qy) = cardKey(recoveryPk);
        vm.expectRevert(_invalid());
        hub.reportCardLost(pid, sAt, forged);
        assertFalse(hub.cardLost(pid));
        assertEq(hub.epochOf(pid), 1);
        assertFalse(hub.cardLost(other));
        // Unknown patient.
        bytes32 unknown = idOf(STRANGER_PK);
        CardSig memory u = reportLostSig(STRANGER_PK, unknown, 0, sAt);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownPatient.selector, unknown));
        hub.reportCardLost(unknown, sAt, u);
    }

    function test_lost_replayedReportRefused() public {
        uint64 sAt = uint64(block.timestamp);
        CardSig memory report = reportLostSig(recoveryPk, pid, 1, sAt);
        hub.reportCardLost(pid, sAt, report);
        // The same report again: the card is already lost.
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardAlreadyLost.selector, pid));
        hub.reportCardLost(pid, sAt, report);
        // After the replacement, the old report cannot block the new card: it was signed in another epoch.
        replace(pid, NEW_CARD_PK);
        assertFalse(hub.cardLost(pid));
        vm.expectRevert(_invalid());
        hub.reportCardLost(pid, sAt, report);
        assertFalse(hub.cardLost(pid), "the new card works");
        // A report the old card signed before it was lost is refused too (neither the recovery key nor the card).
        CardSig memory byOldCard = reportLostSig(PATIENT_PK, pid, 3, sAt);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotRecoveryOrCard.selector, pid));
        hub.reportCardLost(pid, sAt, byOldCard);
    }

    function test_lost_staleOrFutureReportRefused() public {
        uint64 sAt = uint64(block.timestamp);
        CardSig memory report = reportLostSig(recoveryPk, pid, 1, sAt);
        vm.warp(uint256(sAt) + hub.MAX_SIGNATURE_AGE() + 1);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.SignatureTooOld.selector, sAt));
        hub.reportCardLost(pid, sAt, report);
        uint64 future = uint64(block.timestamp) + hub.MAX_CLOCK_SKEW() + 1;
        report = reportLostSig(recoveryPk, pid, 1, future);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.SignatureFromFuture.selector, future));
        hub.reportCardLost(pid, future, report);
        // Signed for another time or another epoch than submitted.
        uint64 t = uint64(block.timestamp);
        report = reportLostSig(recoveryPk, pid, 1, t - 1);
        vm.expectRevert(_invalid());
        hub.reportCardLost(pid, t, report);
        report = reportLostSig(recoveryPk, pid, 2, t);
        vm.expectRevert(_invalid());
        hub.reportCardLost(pid, t, report);
        report = reportLostSig(recoveryPk, idOf(OTHER_PK), 1, t);
        vm.expectRevert(_invalid());
        hub.reportCardLost(pid, t, report);
        assertFalse(hub.cardLost(pid));
        // The fresh one goes through, at the edge of the clock skew.
        uint64 edge = t + hub.MAX_CLOCK_SKEW();
        report = reportLostSig(recoveryPk, pid, 1, edge);
        hub.reportCardLost(pid, edge, report);
        assertTrue(hub.cardLost(pid));
    }

    // ================================================================ replacement

    /// @dev What the patient owns besides the card: a record, a ready prescription, coverage, an approved claim.
    struct Holdings {
        uint256 rx;
        uint256 claimId;
        uint256 recordCount;
        bytes20 head;
    }

    function _holdings() internal returns (Holdings memory h) {
        h.rx = issue(pid, hospitalKiosk, 0);
        enroll(pid, insurerKiosk, 8_000, 10_000e18);
        h.claimId = recordAndClaim(pid, 100e18);
        vm.prank(insurerKiosk);
        insurance.approveClaim(h.claimId, claimPatient(h.claimId), bytes32(0), 80e18, responseEnv());
        h.recordCount = records.recordCount(pid);
        h.head = records.headOf(pid);
    }

    function test_replace_byAHospitalWithoutConsent_keepsEverything() public {
        Holdings memory h = _holdings();
        reportLost(recoveryPk, pid);
        // hospital2 never held any consent of this patient.
        (uint64 until,,,) = hub.consentOf(pid, hospital2);
        assertEq(until, 0);
        uint64 sAt = uint64(block.timestamp);
        bytes memory bundle = keyBundleOf(0xB2);
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital2, 0, bundle, 2, sAt);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.CardReplaced(pid, pid, idOf(NEW_CARD_PK), hospital2);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.AllConsentsRevoked(pid, 3);
        vm.prank(hospital2Kiosk);
        hub.replaceCard(pid, sAt, 0, bundle, rec, card);

        // The same patient id, a new card, a new epoch, the new bundle; no longer lost.
        assertEq(hub.cardKeyOf(pid), idOf(NEW_CARD_PK));
        assertEq(hub.patientOfCard(idOf(NEW_CARD_PK)), pid);
        assertEq(hub.patientOfCard(pid), bytes32(0));
        assertEq(hub.epochOf(pid), 3);
        assertEq(hub.keyBundleOf(pid), bundlePrefix(bundle));
        assertEq(hub.patientOfRecovery(recoveryHashOf(pid)), pid, "recovery key kept");
        assertFalse(hub.cardLost(pid));

        // Records, prescription, coverage and claim are still the patient's.
        assertEq(records.recordCount(pid), h.recordCount);
        assertTrue(records.headOf(pid) == h.head, "record chain untouched");
        (InsuranceProvider.Coverage memory cov,) = insurance.coverageOf(pid);
        assertEq(cov.insurer, insurer, "coverage kept");
        uint256 before = token.balanceOf(hospital);
        vm.prank(insurerKiosk);
        insurance.processPayment(h.claimId, bytes32(0));
        assertEq(token.balanceOf(hospital) - before, 80e18, "the approved claim is paid");
        // The new card consents to the pharmacy and signs the dispense of the old prescription.
        grant(NEW_CARD_PK, pid, pharmacyKiosk, PHARMACY_ALL, 0);
        dispense(NEW_CARD_PK, h.rx, pharmacyKiosk);
        assertTrue(pharmacy.getPrescription(h.rx).status == PharmacyAccess.Status.Completed);
        // And to a hospital, which reads the whole history and writes on.
        grant(NEW_CARD_PK, pid, hospital2Kiosk, HOSPITAL_ALL, 0);
        vm.prank(hospital2Kiosk);
        (HospitalRecord.Record[] memory page, uint256 total) = records.getMedicalRecords(pid, 0, 10);
        assertEq(total, h.recordCount);
        assertEq(page.length, h.recordCount);
        addRecord(pid, hospital2Kiosk, env(0x2));
        assertEq(records.recordCount(pid), h.recordCount + 1);
        // The old card stays refused.
        uint64 t = uint64(block.timestamp);
        CardSig memory old = revokeAllSig(PATIENT_PK, pid, 3, t);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        hub.revokeAllConsents(pid, 3, t, old);
    }

    function test_replace_withoutALossReportFirst() public {
        // A broken card (not lost): the replacement alone retires it.
        replace(pid, NEW_CARD_PK);
        assertEq(hub.cardKeyOf(pid), idOf(NEW_CARD_PK));
        assertEq(hub.epochOf(pid), 2);
        assertFalse(hub.cardLost(pid));
        assertEq(hub.keyBundleOf(pid), bundlePrefix(keyBundleOf(2)));
    }

    // ================================================================ attacks on the replacement

    function test_attack_replayedRecoverySignatureRefused() public {
        uint64 sAt = uint64(block.timestamp);
        // The desk prepared two replacements in epoch 1 (two blank cards tried); the first lands.
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        (CardSig memory rec2, CardSig memory card2) =
            replaceSigs(recoveryPk, NEW_CARD2_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        Card memory after_ = _card(pid);
        // The same signatures again: the new card is now in use.
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, idOf(NEW_CARD_PK)));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        // The other prepared pair: signed in the old epoch.
        vm.prank(hospitalKiosk);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec2, card2);
        // Another hospital's kiosk replaying them fares no better.
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec2, card2);
        _assertCard(pid, after_);
    }

    function test_attack_otherHospitalThanSignedRefused() public {
        uint64 sAt = uint64(block.timestamp);
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        Card memory before = _card(pid);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        _assertCard(pid, before);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        assertEq(hub.cardKeyOf(pid), idOf(NEW_CARD_PK));
    }

    function test_attack_recoveryKeyOfAnotherPatientRefused() public {
        bytes32 other = registerPatient(OTHER_PK);
        uint64 sAt = uint64(block.timestamp);
        // Patient B's letter signs a replacement of A's card.
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPkOf(other), NEW_CARD_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        Card memory before = _card(pid);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotRecoveryKey.selector, pid));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        // Nor does A's letter replace B's card.
        (rec, card) = replaceSigs(recoveryPk, NEW_CARD_PK, other, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotRecoveryKey.selector, other));
        hub.replaceCard(other, sAt, 0, keyBundleOf(2), rec, card);
        _assertCard(pid, before);
        assertEq(hub.cardKeyOf(other), other);
    }

    function test_attack_pharmacyOrInsurerKioskCannotReplace() public {
        uint64 sAt = uint64(block.timestamp);
        Card memory before = _card(pid);
        // Even with genuine signatures naming the pharmacy or the insurer as "hospital".
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPk, NEW_CARD_PK, pid, pharmacyOrg, 0, keyBundleOf(2), 1, sAt);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        (rec, card) = replaceSigs(recoveryPk, NEW_CARD_PK, pid, insurer, 0, keyBundleOf(2), 1, sAt);
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, insurer, Role.Hospital, Role.Insurer)
        );
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        // A stranger (the letter's holder without a hospital) is no kiosk at all.
        (rec, card) = replaceSigs(recoveryPk, NEW_CARD_PK, pid, stranger, 0, keyBundleOf(2), 1, sAt);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        _assertCard(pid, before);
    }

    function test_attack_newCardKeyOfAnotherPatientRefused() public {
        bytes32 other = registerPatient(OTHER_PK);
        uint64 sAt = uint64(block.timestamp);
        // B's card (which B would have to sign with: say B is in league with the desk) cannot become A's.
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPk, OTHER_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, other));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        // Nor B's retired replacement card, once B got another.
        replace(other, NEW_CARD2_PK);
        replaceWith(other, recoveryPkOf(other), NEW_CARD_PK, hospitalKiosk, 0, 3);
        (rec, card) = replaceSigs(recoveryPk, NEW_CARD2_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, idOf(NEW_CARD2_PK)));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        // Nor A's own original card.
        (rec, card) = replaceSigs(recoveryPk, PATIENT_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, pid));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        assertEq(hub.cardKeyOf(pid), pid);
        assertEq(hub.cardKeyOf(other), idOf(NEW_CARD_PK));
    }

    function test_attack_newCardSignatureOverAnotherHospitalRefused() public {
        uint64 sAt = uint64(block.timestamp);
        // The recovery key signs for hospital, the new card for hospital2 (or the reverse): no pair.
        (CardSig memory rec,) = replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        (CardSig memory rec2, CardSig memory card2) =
            replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital2, 0, keyBundleOf(2), 1, sAt);
        Card memory before = _card(pid);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card2);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card2);
        (, CardSig memory card) = replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec2, card);
        _assertCard(pid, before);
    }

    /// @dev The terms both signatures of a replacement cover.
    struct Terms {
        bytes32 patientId;
        bytes32 newCardKeyHash;
        address hospital;
        bytes32 newRecoveryKeyHash;
        bytes32 keyBundleHash;
        uint64 epoch;
        uint64 signedAt;
    }

    function _replaceHashOf(Terms memory t) internal view returns (bytes32) {
        return replaceHash(
            t.patientId, t.newCardKeyHash, t.hospital, t.newRecoveryKeyHash, t.keyBundleHash, t.epoch, t.signedAt
        );
    }

    /// @dev One field of ReplaceCard(patientId, newCardKeyHash, hospital, newRecoveryKeyHash, keyBundleHash, epoch,
    /// signedAt) signed differently from what is submitted, for both signatures or for one of them: refused, nothing
    /// changes; the honest pair then works. The honest replacement rotates the recovery key, so a tampered
    /// newRecoveryKeyHash of zero ("keep the old letter") is among the cases.
    function testFuzz_attack_tamperedReplaceFieldsRefused(uint8 field, uint8 which, uint256 v) public {
        field = uint8(bound(field, 0, 6));
        which = uint8(bound(which, 0, 2)); // 0: both tampered, 1: the recovery key's, 2: the new card's
        uint64 sAt = uint64(block.timestamp);
        bytes32 newRk = idOf(NEW_RECOVERY_PK);
        bytes memory bundle = keyBundleOf(2);
        Terms memory t = Terms({
            patientId: pid,
            newCardKeyHash: idOf(NEW_CARD_PK),
            hospital: hospital,
            newRecoveryKeyHash: newRk,
            keyBundleHash: keccak256(bundle),
            epoch: 1,
            signedAt: sAt
        });
        if (field == 0) {
            t.patientId = bytes32(v);
            vm.assume(t.patientId != pid);
        } else if (field == 1) {
            t.newCardKeyHash = bytes32(v);
            vm.assume(t.newCardKeyHash != idOf(NEW_CARD_PK));
        } else if (field == 2) {
            t.hospital = address(uint160(v));
            vm.assume(t.hospital != hospital);
        } else if (field == 3) {
            t.newRecoveryKeyHash = bytes32(v);
            vm.assume(t.newRecoveryKeyHash != newRk);
        } else if (field == 4) {
            t.keyBundleHash = bytes32(v);
            vm.assume(t.keyBundleHash != keccak256(bundle));
        } else if (field == 5) {
            t.epoch = uint64(v);
            vm.assume(t.epoch != 1);
        } else {
            t.signedAt = uint64(bound(v, sAt - hub.MAX_SIGNATURE_AGE(), sAt + hub.MAX_CLOCK_SKEW()));
            vm.assume(t.signedAt != sAt);
        }
        bytes32 tampered = _replaceHashOf(t);
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital, newRk, bundle, 1, sAt);
        if (which != 2) rec = cardSig(recoveryPk, tampered);
        if (which != 1) card = cardSig(NEW_CARD_PK, tampered);
        Card memory before = _card(pid);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, newRk, bundle, rec, card);
        _assertCard(pid, before);
        (rec, card) = replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital, newRk, bundle, 1, sAt);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, sAt, newRk, bundle, rec, card);
        assertEq(hub.cardKeyOf(pid), idOf(NEW_CARD_PK));
        assertEq(hub.patientOfRecovery(newRk), pid);
        assertEq(hub.keyBundleOf(pid), bundlePrefix(bundle));
    }

    // ================================================================ an intercepted pair, re-submitted with other terms

    /// @dev A second kiosk of the replacing hospital (a kiosk that intercepts the desk's pair before the desk's own
    /// transaction lands: same hospital, within the hour).
    function _rogueKiosk() internal returns (address rogue) {
        rogue = makeAddr("rogueKiosk");
        _addKiosk(hospital, rogue);
    }

    function test_attack_interceptedPairWithAnotherRecoveryKeyRefused() public {
        address rogue = _rogueKiosk();
        uint64 sAt = uint64(block.timestamp);
        bytes32 newRk = idOf(NEW_RECOVERY_PK);
        bytes memory bundle = keyBundleOf(2);
        // The patient's letter and the new card sign a replacement that prints a new letter (newRk).
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital, newRk, bundle, 1, sAt);
        Card memory before = _card(pid);
        vm.startPrank(rogue);
        // The rogue kiosk submits the pair with a recovery key of its own: it would hold the patient's new letter.
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, idOf(STRANGER_PK), bundle, rec, card);
        // Or with zero, keeping the old letter (which it may have copied) instead of the new one.
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, 0, bundle, rec, card);
        vm.stopPrank();
        _assertCard(pid, before);
        assertEq(hub.patientOfRecovery(idOf(STRANGER_PK)), bytes32(0), "the rogue key serves nobody");
        // A pair signed to keep the letter cannot be turned into a rotation to the rogue's key either.
        (rec, card) = replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital, 0, bundle, 1, sAt);
        vm.prank(rogue);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, idOf(STRANGER_PK), bundle, rec, card);
        _assertCard(pid, before);
        // The desk's own submission of the rotating pair lands.
        (rec, card) = replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital, newRk, bundle, 1, sAt);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, sAt, newRk, bundle, rec, card);
        assertEq(hub.patientOfRecovery(newRk), pid);
        assertEq(hub.patientOfRecovery(newRk), pid);
    }

    function test_attack_interceptedPairWithAnotherKeyBundleRefused() public {
        address rogue = _rogueKiosk();
        uint64 sAt = uint64(block.timestamp);
        bytes memory bundle = keyBundleOf(2);
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital, 0, bundle, 1, sAt);
        Card memory before = _card(pid);
        // The rogue kiosk submits the pair with its own bundle (say, a card grant sealed for a key it holds)...
        vm.prank(rogue);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, 0, keyBundleOf(0xE51), rec, card);
        // ...or with the desk's bundle with one byte changed.
        bytes memory edited = keyBundleOf(2);
        edited[edited.length - 1] = bytes1(uint8(edited[edited.length - 1]) ^ 1);
        vm.prank(rogue);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, 0, edited, rec, card);
        _assertCard(pid, before);
        // The signed bundle goes through (from any kiosk of the hospital: it is the patient's bundle).
        vm.prank(rogue);
        hub.replaceCard(pid, sAt, 0, bundle, rec, card);
        assertEq(hub.keyBundleOf(pid), bundlePrefix(bundle));
        assertEq(hub.cardKeyOf(pid), idOf(NEW_CARD_PK));
    }

    // ================================================================ the new card is not the recovery key

    function test_attack_newCardEqualToTheRecoveryKeyRefused() public {
        uint64 sAt = uint64(block.timestamp);
        bytes memory bundle = keyBundleOf(2);
        bytes32 newRk = idOf(NEW_RECOVERY_PK);
        Card memory before = _card(pid);
        bytes memory isRecovery = abi.encodeWithSelector(PatientSmartCard.CardIsRecoveryKey.selector, pid);
        // The letter's own key as the new card (keeping it as the recovery key): the letter alone would be the card.
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPk, recoveryPk, pid, hospital, 0, bundle, 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(isRecovery);
        hub.replaceCard(pid, sAt, 0, bundle, rec, card);
        // The same while rotating to a new letter.
        (rec, card) = replaceSigs(recoveryPk, recoveryPk, pid, hospital, newRk, bundle, 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(isRecovery);
        hub.replaceCard(pid, sAt, newRk, bundle, rec, card);
        // The new card's key as the new recovery key.
        bytes32 cardHash = idOf(NEW_CARD_PK);
        (rec, card) = replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital, cardHash, bundle, 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(isRecovery);
        hub.replaceCard(pid, sAt, cardHash, bundle, rec, card);
        _assertCard(pid, before);
        assertEq(hub.patientOfRecovery(cardHash), bytes32(0));
        // A new card with a new letter of its own goes through.
        (rec, card) = replaceSigs(recoveryPk, NEW_CARD_PK, pid, hospital, newRk, bundle, 1, sAt);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, sAt, newRk, bundle, rec, card);
        assertEq(hub.cardKeyOf(pid), cardHash);
        assertEq(hub.patientOfRecovery(newRk), pid);
    }

    function test_attack_registrationWithTheCardAsRecoveryKeyRefused() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 other = idOf(OTHER_PK);
        bytes memory bundle = keyBundleOf(0xB0B);
        // The card signs its own key hash as the recovery key: the card alone would be the letter.
        CardSig memory s = cardSig(OTHER_PK, registerHashWith(other, hospital, other, keccak256(bundle), deadline));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardIsRecoveryKey.selector, other));
        hub.registerPatient(deadline, other, bundle, s);
        assertEq(hub.cardKeyOf(other), bytes32(0), "not registered");
        assertEq(hub.patientOfRecovery(other), bytes32(0));
        // With a recovery key of its own, the same card registers.
        bytes32 rk = recoveryHashOf(other);
        s = cardSig(OTHER_PK, registerHashWith(other, hospital, rk, keccak256(bundle), deadline));
        vm.prank(hospitalKiosk);
        assertEq(hub.registerPatient(deadline, rk, bundle, s), other);
    }

    // ================================================================ a new recovery key

    function test_newRecoveryKey_takesEffect_oldOneIsDead() public {
        bytes32 newRk = idOf(NEW_RECOVERY_PK);
        replaceWith(pid, recoveryPk, NEW_CARD_PK, hospitalKiosk, newRk, 2);
        assertEq(hub.patientOfRecovery(newRk), pid);
        assertEq(hub.patientOfRecovery(recoveryHashOf(pid)), bytes32(0), "the old letter finds nobody");
        uint64 sAt = uint64(block.timestamp);
        // The old letter can neither report the new card lost...
        CardSig memory report = reportLostSig(recoveryPk, pid, 2, sAt);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotRecoveryOrCard.selector, pid));
        hub.reportCardLost(pid, sAt, report);
        // ...nor replace it.
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPk, NEW_CARD2_PK, pid, hospital, 0, keyBundleOf(3), 2, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotRecoveryKey.selector, pid));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(3), rec, card);
        assertFalse(hub.cardLost(pid));
        assertEq(hub.cardKeyOf(pid), idOf(NEW_CARD_PK));
        // The new letter can do both.
        reportLost(NEW_RECOVERY_PK, pid);
        assertTrue(hub.cardLost(pid));
        replaceWith(pid, NEW_RECOVERY_PK, NEW_CARD2_PK, hospitalKiosk, 0, 3);
        assertEq(hub.cardKeyOf(pid), idOf(NEW_CARD2_PK));
        assertEq(hub.epochOf(pid), 4);
        assertFalse(hub.cardLost(pid));
    }

    // ================================================================ the trust model (docs/security.md)

    function test_trust_cardAloneCannotReplaceItself() public {
        // A finder with the card (and its PIN) has no letter: the card cannot stand in for the recovery key.
        uint64 sAt = uint64(block.timestamp);
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(PATIENT_PK, NEW_CARD_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotRecoveryKey.selector, pid));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        assertEq(hub.cardKeyOf(pid), pid);
    }

    function test_trust_letterAloneOnlyReportsTheLoss() public {
        // A thief with the letter alone: no kiosk submits a replacement for them, and a kiosk that would still
        // needs a new card the thief signs with; what the thief can do alone is report the card lost (the patient
        // then gets a new card: nothing is read, nothing is lost).
        Holdings memory h = _holdings();
        reportLost(recoveryPk, pid);
        assertTrue(hub.cardLost(pid));
        // The patient, at a hospital with the letter and a new card, is back in one step.
        replaceWith(pid, recoveryPk, NEW_CARD_PK, hospital2Kiosk, idOf(NEW_RECOVERY_PK), 2);
        assertEq(records.recordCount(pid), h.recordCount);
        grant(NEW_CARD_PK, pid, pharmacyKiosk, PHARMACY_ALL, 0);
        dispense(NEW_CARD_PK, h.rx, pharmacyKiosk);
    }

    function test_trust_hospitalAloneCanNeitherReportNorReplace() public {
        // A hospital holds neither the recovery key nor the card: its own key for either is refused.
        uint64 sAt = uint64(block.timestamp);
        CardSig memory report = reportLostSig(STRANGER_PK, pid, 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotRecoveryOrCard.selector, pid));
        hub.reportCardLost(pid, sAt, report);
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(STRANGER_PK, NEW_CARD_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotRecoveryKey.selector, pid));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        assertFalse(hub.cardLost(pid));
        assertEq(hub.cardKeyOf(pid), pid);
        assertEq(hub.epochOf(pid), 1);
    }
}
