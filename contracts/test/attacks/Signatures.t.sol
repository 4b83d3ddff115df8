// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {Scope, CardSig} from "../../src/CareTypes.sol";
import {PatientSmartCard} from "../../src/PatientSmartCard.sol";
import {HospitalRecord} from "../../src/HospitalRecord.sol";
import {PharmacyAccess} from "../../src/PharmacyAccess.sol";

/// @notice Attacks on the patient card's signatures: replay, another chain, another deployment, malleability
/// (high-s), a signature of another patient or for another pharmacy. Each signature kind the contracts accept
/// (RegisterPatient, Consent, RevokeConsent, RevokeAllConsents, ReportLost, ReplaceCard, Dispense,
/// CancelPrescription) is
/// attacked, and each test checks that
/// nothing changed, then that the honest signature still works (so the refusal was for the attack's reason).
contract SignatureAttacks is Fixture {
    uint256 internal constant NEW_CARD_PK = 0x5EC0DCA4D;

    /// @dev A second deployment with the same admin, institutions (same ids), kiosks and patient: the only
    /// difference from the first is the verifying contract of the EIP-712 domain.
    PatientSmartCard internal hubB;
    HospitalRecord internal recordsB;
    PharmacyAccess internal pharmacyB;

    function _invalid() internal pure returns (bytes memory) {
        return abi.encodeWithSelector(PatientSmartCard.InvalidCardSignature.selector);
    }

    function _deployB() internal {
        hubB = new PatientSmartCard(admin, 0, guardian);
        recordsB = new HospitalRecord(hubB);
        pharmacyB = new PharmacyAccess(hubB);
        vm.startPrank(admin);
        hubB.wire(address(recordsB), address(pharmacyB), makeAddr("insuranceB"));
        bytes memory call_ = abi.encodeCall(HospitalRecord.registerHospital, (hospital));
        hubB.schedule(address(recordsB), call_);
        hubB.execute(address(recordsB), call_);
        call_ = abi.encodeCall(PharmacyAccess.registerPharmacy, (pharmacyOrg));
        hubB.schedule(address(pharmacyB), call_);
        hubB.execute(address(pharmacyB), call_);
        vm.stopPrank();
        vm.prank(hospital);
        hubB.addKiosk(hospitalKiosk);
        vm.prank(hospitalKiosk);
        hubB.acceptKiosk(hospital);
        vm.prank(pharmacyOrg);
        hubB.addKiosk(pharmacyKiosk);
        vm.prank(pharmacyKiosk);
        hubB.acceptKiosk(pharmacyOrg);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory r = signFor(hubB, PATIENT_PK, registerHash(pid, hospital, deadline));
        vm.prank(hospitalKiosk);
        assertEq(registerWith(hubB, deadline, r), pid, "same patient on B");
        uint64 sAt = uint64(block.timestamp);
        CardSig memory c = signFor(hubB, PATIENT_PK, consentHash(pid, hospital, HOSPITAL_ALL, sAt + 90 days, 1, sAt));
        vm.prank(hospitalKiosk);
        hubB.grantConsent(pid, HOSPITAL_ALL, sAt + 90 days, 1, sAt, c);
        c = signFor(hubB, PATIENT_PK, consentHash(pid, pharmacyOrg, PHARMACY_ALL, sAt + 3 days, 1, sAt));
        vm.prank(pharmacyKiosk);
        hubB.grantConsent(pid, PHARMACY_ALL, sAt + 3 days, 1, sAt, c);
    }

    /// @dev The signing time of the last grant or revocation for (pid, institution) on `h`.
    function _lastSignedAt(PatientSmartCard h, address institution) internal view returns (uint64 sAt) {
        (, sAt,,) = h.consentOf(pid, institution);
    }

    // ================================================================ replay

    function test_replay_registerSignatureCannotRegisterAgain() public {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerSig(OTHER_PK, hospital, deadline);
        vm.prank(hospitalKiosk);
        bytes32 other = registerWith(hub, deadline, s);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.PatientExists.selector, other));
        registerWith(hub, deadline, s);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.PatientExists.selector, other));
        registerWith(hub, deadline, s);
    }

    function test_replay_consentAfterRevocationRestoresNothing() public {
        // The fixture's consent (signed at T0) is on chain; a stranger kept a copy of its signature.
        uint64 t0 = uint64(T0);
        uint64 fixtureUntil = t0 + 90 days;
        CardSig memory kept = consentSig(PATIENT_PK, pid, hospital, HOSPITAL_ALL, fixtureUntil, 1, t0);
        revoke(PATIENT_PK, pid, hospital);
        (uint64 until, uint64 sAt,,) = hub.consentOf(pid, hospital);
        assertEq(until, 0, "revoked");
        assertEq(sAt, t0 + 1, "revocation signed after the consent");
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleSignature.selector, t0, t0 + 1));
        hub.grantConsent(pid, HOSPITAL_ALL, fixtureUntil, 1, t0, kept);
        (until,,,) = hub.consentOf(pid, hospital);
        assertEq(until, 0, "still revoked after the replay");
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital));
        records.addMedicalRecord(pid, env(0x0bad));
    }

    function test_replay_consentOnAnotherSigningTimeIsRefused() public {
        // The signature commits to its signing time: resubmitting it with a later one breaks it.
        uint64 t0 = uint64(T0);
        CardSig memory s = consentSig(PATIENT_PK, pid, hospital, HOSPITAL_ALL, t0 + 90 days, 1, t0);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_invalid());
        hub.grantConsent(pid, HOSPITAL_ALL, t0 + 90 days, 1, t0 + 1, s);
    }

    function test_replay_revocationCannotBeReplayedAgainstALaterConsent() public {
        uint64 n = nextSignedAt(pid, hospital);
        CardSig memory rev = revokeSig(PATIENT_PK, pid, hospital, n);
        hub.revokeConsent(pid, hospital, n, rev);
        grant(PATIENT_PK, pid, hospitalKiosk, HOSPITAL_ALL, 0);
        uint64 after_ = _lastSignedAt(hub, hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.StaleSignature.selector, n, after_));
        hub.revokeConsent(pid, hospital, n, rev);
        (uint64 until,,,) = hub.consentOf(pid, hospital);
        assertGe(until, block.timestamp, "the new consent survives the replayed revocation");
    }

    function test_replay_dispenseSignatureOnAnotherPrescription() public {
        uint256 a = issue(pid, hospitalKiosk, 0);
        uint256 b = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseSig(PATIENT_PK, a, pharmacyOrg, deadline);
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(a, rxPatient(a), WHOLE, deadline, dispenseEnv(), s);
        uint256 nonce = hub.nonces(pid);
        // The same signature on the same prescription, then on another one.
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PharmacyAccess.AlreadyDispensed.selector, a));
        pharmacy.dispensePrescription(a, rxPatient(a), WHOLE, deadline, dispenseEnv(), s);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalid());
        pharmacy.dispensePrescription(b, rxPatient(b), WHOLE, deadline, dispenseEnv(), s);
        assertTrue(pharmacy.getPrescription(b).status == PharmacyAccess.Status.Ready, "b untouched");
        assertEq(hub.nonces(pid), nonce, "no card nonce used by the replays");
    }

    function test_replay_signedButUnusedDispenseDiesWithTheNonce() public {
        // The card signed Dispense(b) at nonce n, but the pharmacy first dispensed a with nonce n: b's signature is
        // now worthless (every card signature is single-use, whether or not it was submitted).
        uint256 a = issue(pid, hospitalKiosk, 0);
        uint256 b = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory forB = dispenseSig(PATIENT_PK, b, pharmacyOrg, deadline);
        dispense(PATIENT_PK, a, pharmacyKiosk);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalid());
        pharmacy.dispensePrescription(b, rxPatient(b), WHOLE, deadline, dispenseEnv(), forB);
        dispense(PATIENT_PK, b, pharmacyKiosk);
        assertTrue(pharmacy.getPrescription(b).status == PharmacyAccess.Status.Completed);
    }

    function test_replay_replaceCardSignatureCannotBeUsedTwice() public {
        bytes32 newHash = idOf(NEW_CARD_PK);
        uint64 sAt = uint64(block.timestamp);
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPkOf(pid), NEW_CARD_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        assertEq(hub.cardKeyOf(pid), newHash);
        // Even once the new card consents to the hospital again, the replacement cannot be replayed.
        grant(NEW_CARD_PK, pid, hospitalKiosk, HOSPITAL_ALL, 0);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, newHash));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, card);
        assertEq(hub.epochOf(pid), 2, "one replacement, one epoch step");
    }

    // ================================================================ another chain id

    /// @dev One signature of every kind the contracts accept, all made now on the fixture's hub.
    struct AllSigs {
        uint256 deadline;
        uint256 id;
        uint64 sAt;
        CardSig reg;
        CardSig con;
        CardSig rev;
        CardSig all;
        CardSig can;
        CardSig rec;
        CardSig rep;
        CardSig los;
        CardSig dis;
        uint256 tokenRx;
        CardSig tok;
    }

    function _allSigs() internal returns (AllSigs memory x) {
        x.deadline = block.timestamp + 1 hours;
        x.id = issue(pid, hospitalKiosk, 0);
        x.reg = registerSig(OTHER_PK, hospital, x.deadline);
        x.sAt = nextSignedAt(pid, hospital);
        x.con = consentSig(PATIENT_PK, pid, hospital, Scope.READ, x.sAt + 1 days, 1, x.sAt);
        x.rev = revokeSig(PATIENT_PK, pid, hospital, x.sAt);
        x.all = revokeAllSig(PATIENT_PK, pid, 1, x.sAt);
        x.can = cancelSig(PATIENT_PK, x.id, x.sAt);
        (x.rec, x.rep) = replaceSigs(recoveryPkOf(pid), NEW_CARD_PK, pid, hospital, 0, keyBundleOf(2), 1, x.sAt);
        x.los = reportLostSig(recoveryPkOf(pid), pid, 1, x.sAt);
        x.dis = dispenseSig(PATIENT_PK, x.id, pharmacyOrg, x.deadline);
        x.tokenRx = issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        x.tok = tokenSig(TOKEN_PK, x.tokenRx, pharmacyOrg, dispenseEnv(), x.deadline);
    }

    /// @dev Every kind of card signature (and the prescription token's), made on this chain, refused on `chainId`.
    function testFuzz_otherChain_everySignatureKindRefused(uint64 chainId) public {
        vm.assume(chainId != block.chainid && chainId != 0);
        AllSigs memory x = _allSigs();
        uint256 home = block.chainid;

        vm.chainId(chainId);
        vm.startPrank(hospitalKiosk);
        vm.expectRevert(_invalid());
        registerWith(hub, x.deadline, x.reg);
        vm.expectRevert(_invalid());
        hub.grantConsent(pid, Scope.READ, x.sAt + 1 days, 1, x.sAt, x.con);
        vm.expectRevert(_invalid());
        hub.revokeConsent(pid, hospital, x.sAt, x.rev);
        vm.expectRevert(_invalid());
        hub.revokeAllConsents(pid, 1, x.sAt, x.all);
        vm.expectRevert(_invalid());
        pharmacy.cancelPrescriptionByPatient(x.id, rxPatient(x.id), x.sAt, x.can);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, x.sAt, 0, keyBundleOf(2), x.rec, x.rep);
        vm.expectRevert(_invalid());
        hub.reportCardLost(pid, x.sAt, x.los);
        vm.stopPrank();
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalid());
        pharmacy.dispensePrescription(x.id, rxPatient(x.id), WHOLE, x.deadline, dispenseEnv(), x.dis);
        // The representative's token key signs under the same domain.
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalid());
        pharmacy.dispenseByToken(x.tokenRx, rxPatient(x.tokenRx), x.deadline, dispenseEnv(), x.tok);
        assertEq(hub.epochOf(pid), 1, "epoch unmoved");

        // Back home, the same signatures are good: the chain id alone made the difference.
        vm.chainId(home);
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(x.id, rxPatient(x.id), WHOLE, x.deadline, dispenseEnv(), x.dis);
        vm.prank(pharmacyKiosk);
        pharmacy.dispenseByToken(x.tokenRx, rxPatient(x.tokenRx), x.deadline, dispenseEnv(), x.tok);
        vm.prank(hospitalKiosk);
        registerWith(hub, x.deadline, x.reg);
        hub.revokeAllConsents(pid, 1, x.sAt, x.all);
        assertEq(hub.epochOf(pid), 2);
    }

    /// @dev The card-life signatures (loss report, replacement), made on this chain, refused on `chainId`, then
    /// accepted back home.
    function testFuzz_otherChain_cardLifeSignaturesRefused(uint64 chainId) public {
        vm.assume(chainId != block.chainid && chainId != 0);
        AllSigs memory x = _allSigs();
        uint256 home = block.chainid;
        vm.chainId(chainId);
        vm.startPrank(hospitalKiosk);
        vm.expectRevert(_invalid());
        hub.reportCardLost(pid, x.sAt, x.los);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, x.sAt, 0, keyBundleOf(2), x.rec, x.rep);
        vm.stopPrank();
        vm.chainId(home);
        hub.reportCardLost(pid, x.sAt, x.los);
        assertTrue(hub.cardLost(pid));
    }

    // ================================================================ another deployment

    function test_otherDeployment_signaturesOfAAreRefusedByB() public {
        _deployB();
        uint256 deadline = block.timestamp + 1 hours;
        // Signed for deployment A (the fixture's).
        CardSig memory reg = registerSig(OTHER_PK, hospital, deadline);
        uint64 cn = _lastSignedAt(hubB, hospital) + 1;
        CardSig memory con = consentSig(PATIENT_PK, pid, hospital, Scope.READ, cn + 1 days, 1, cn);
        CardSig memory rev = revokeSig(PATIENT_PK, pid, hospital, cn);
        CardSig memory all = revokeAllSig(PATIENT_PK, pid, 1, cn);
        vm.prank(hospitalKiosk);
        uint256 idB = pharmacyB.issuePrescription(pid, 0, bytes32(0), env(0x5ea1ed));
        uint256 idA = issue(pid, hospitalKiosk, 0);
        assertEq(idA, idB, "same prescription id on both");
        CardSig memory dis = dispenseSig(PATIENT_PK, idA, pharmacyOrg, deadline);

        vm.startPrank(hospitalKiosk);
        vm.expectRevert(_invalid());
        registerWith(hubB, deadline, reg);
        vm.expectRevert(_invalid());
        hubB.grantConsent(pid, Scope.READ, cn + 1 days, 1, cn, con);
        vm.expectRevert(_invalid());
        hubB.revokeConsent(pid, hospital, cn, rev);
        vm.expectRevert(_invalid());
        hubB.revokeAllConsents(pid, 1, cn, all);
        vm.stopPrank();
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalid());
        pharmacyB.dispensePrescription(idB, rxPatient(idB), WHOLE, deadline, dispenseEnv(), dis);

        assertTrue(pharmacyB.getPrescription(idB).status == PharmacyAccess.Status.Ready, "B's prescription ready");
        (uint64 untilB,,, uint8 scopeB) = hubB.consentOf(pid, hospital);
        assertEq(scopeB, HOSPITAL_ALL, "B's consent unchanged");
        assertEq(hubB.epochOf(pid), 1, "B's epoch unchanged");
        assertGe(untilB, block.timestamp, "B's consent still valid");
        // On A, where they were made, they work.
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(idA, rxPatient(idA), WHOLE, deadline, dispenseEnv(), dis);
    }

    function test_otherDeployment_tokenSignatureOfAIsRefusedByB() public {
        _deployB();
        uint256 deadline = block.timestamp + 1 hours;
        // A prescription with the same token key and id on both; the token key signs for A.
        vm.prank(hospitalKiosk);
        uint256 idB = pharmacyB.issuePrescription(pid, 0, idOf(TOKEN_PK), env(0x5ea1ed));
        uint256 idA = issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        assertEq(idA, idB, "same prescription id on both");
        CardSig memory tok = tokenSig(TOKEN_PK, idA, pharmacyOrg, dispenseEnv(), deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalid());
        pharmacyB.dispenseByToken(idB, rxPatient(idB), deadline, dispenseEnv(), tok);
        assertTrue(pharmacyB.getPrescription(idB).status == PharmacyAccess.Status.Ready, "B's token unused");
        vm.prank(pharmacyKiosk);
        pharmacy.dispenseByToken(idA, rxPatient(idA), deadline, dispenseEnv(), tok);
        assertTrue(pharmacy.getPrescription(idA).status == PharmacyAccess.Status.Completed);
    }

    function test_otherDeployment_cardLifeSignaturesOfAAreRefusedByB() public {
        _deployB();
        uint64 sAt = uint64(block.timestamp);
        // The recovery key and a new card sign for deployment A (the fixture's); the patient is the same on B.
        (CardSig memory rec, CardSig memory rep) =
            replaceSigs(recoveryPkOf(pid), NEW_CARD_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        CardSig memory los = reportLostSig(recoveryPkOf(pid), pid, 1, sAt);
        vm.startPrank(hospitalKiosk);
        vm.expectRevert(_invalid());
        hubB.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, rep);
        vm.expectRevert(_invalid());
        hubB.reportCardLost(pid, sAt, los);
        vm.stopPrank();
        assertEq(hubB.cardKeyOf(pid), pid, "B's card unchanged");
        assertFalse(hubB.cardLost(pid), "B's card not lost");
        assertEq(hubB.epochOf(pid), 1, "B's epoch unchanged");
        // On A they work.
        hub.reportCardLost(pid, sAt, los);
        (rec, rep) = replaceSigs(recoveryPkOf(pid), NEW_CARD_PK, pid, hospital, 0, keyBundleOf(2), 2, sAt);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, rep);
        assertEq(hub.cardKeyOf(pid), idOf(NEW_CARD_PK));
    }

    function test_otherDeployment_signaturesOfBAreRefusedByA() public {
        _deployB();
        uint256 deadline = block.timestamp + 1 hours;
        vm.prank(hospitalKiosk);
        uint256 idB = pharmacyB.issuePrescription(pid, 0, bytes32(0), env(0x5ea1ed));
        uint256 idA = issue(pid, hospitalKiosk, 0);
        bytes32 disHash = dispenseHash(idB, pharmacyOrg, hubB.nonces(pid), deadline);
        CardSig memory disB = signFor(hubB, PATIENT_PK, disHash);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalid());
        pharmacy.dispensePrescription(idA, rxPatient(idA), WHOLE, deadline, dispenseEnv(), disB);
        vm.prank(pharmacyKiosk);
        pharmacyB.dispensePrescription(idB, rxPatient(idB), WHOLE, deadline, dispenseEnv(), disB);
        assertTrue(pharmacy.getPrescription(idA).status == PharmacyAccess.Status.Ready, "A's prescription ready");
    }

    // ================================================================ high-s (malleable) signatures

    function test_highS_refusedAtEveryEntryPoint() public {
        uint256 deadline = block.timestamp + 1 hours;
        uint256 id = issue(pid, hospitalKiosk, 0);
        CardSig memory reg = registerSig(OTHER_PK, hospital, deadline);
        uint64 cn = nextSignedAt(pid, pharmacyOrg2);
        CardSig memory con = consentSig(PATIENT_PK, pid, pharmacyOrg2, Scope.READ, cn + 1 days, 1, cn);
        CardSig memory dis = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        uint64 sAt = uint64(block.timestamp);
        (CardSig memory rec, CardSig memory rep) =
            replaceSigs(recoveryPkOf(pid), NEW_CARD_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        CardSig memory los = reportLostSig(recoveryPkOf(pid), pid, 1, sAt);

        vm.prank(hospitalKiosk);
        vm.expectRevert(_invalid());
        registerWith(hub, deadline, toHighS(reg));
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(_invalid());
        hub.grantConsent(pid, Scope.READ, cn + 1 days, 1, cn, toHighS(con));
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalid());
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), toHighS(dis));
        vm.prank(hospitalKiosk);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, toHighS(rep));
        vm.prank(hospitalKiosk);
        vm.expectRevert(_invalid());
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), toHighS(rec), rep);
        vm.expectRevert(_invalid());
        hub.reportCardLost(pid, sAt, toHighS(los));

        // The low-s originals are accepted: only the malleated s was wrong.
        vm.prank(hospitalKiosk);
        registerWith(hub, deadline, reg);
        vm.prank(pharmacy2Kiosk);
        hub.grantConsent(pid, Scope.READ, cn + 1 days, 1, cn, con);
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), dis);
        hub.reportCardLost(pid, sAt, los);
        // (The loss report moved the epoch, so the replacement is signed again.)
        (rec, rep) = replaceSigs(recoveryPkOf(pid), NEW_CARD_PK, pid, hospital, 0, keyBundleOf(2), 2, sAt);
        vm.prank(hospitalKiosk);
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, rep);
    }

    function test_highS_revocationRefused() public {
        uint64 n = nextSignedAt(pid, hospital);
        CardSig memory rev = revokeSig(PATIENT_PK, pid, hospital, n);
        vm.expectRevert(_invalid());
        hub.revokeConsent(pid, hospital, n, toHighS(rev));
        (uint64 until,,,) = hub.consentOf(pid, hospital);
        assertGe(until, block.timestamp, "consent not revoked by the high-s copy");
        CardSig memory all = revokeAllSig(PATIENT_PK, pid, 1, n);
        vm.expectRevert(_invalid());
        hub.revokeAllConsents(pid, 1, n, toHighS(all));
        assertEq(hub.epochOf(pid), 1, "epoch not moved by the high-s copy");
        uint256 id = issue(pid, hospitalKiosk, 0);
        CardSig memory can = cancelSig(PATIENT_PK, id, n);
        vm.expectRevert(_invalid());
        pharmacy.cancelPrescriptionByPatient(id, rxPatient(id), n, toHighS(can));
        assertTrue(pharmacy.getPrescription(id).status == PharmacyAccess.Status.Ready, "not cancelled by the copy");
        hub.revokeConsent(pid, hospital, n, rev);
        hub.revokeAllConsents(pid, 1, n, all);
        pharmacy.cancelPrescriptionByPatient(id, rxPatient(id), n, can);
    }

    function test_highS_aMalleatedCopyCannotBeUsedAfterTheOriginal() public {
        // The classic malleability replay: the original lands, then its (r, N - s) twin is submitted.
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 id2 = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory s = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalid());
        pharmacy.dispensePrescription(id2, rxPatient(id2), WHOLE, deadline, dispenseEnv(), toHighS(s));
        assertTrue(pharmacy.getPrescription(id2).status == PharmacyAccess.Status.Ready);
    }

    // ================================================================ another patient

    function test_otherPatient_cardOfBCannotActForA() public {
        bytes32 b = registerPatient(OTHER_PK);
        grant(OTHER_PK, b, pharmacy2Kiosk, Scope.READ | Scope.DISPENSE, 0);
        uint256 deadline = block.timestamp + 1 hours;
        uint256 idA = issue(pid, hospitalKiosk, 0);
        // B's card signs A's terms (consent, revocation, dispense of A's prescription).
        uint64 cn = nextSignedAt(pid, pharmacyOrg2);
        CardSig memory con = consentSig(OTHER_PK, pid, pharmacyOrg2, PHARMACY_ALL, cn + 1 days, 1, cn);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        hub.grantConsent(pid, PHARMACY_ALL, cn + 1 days, 1, cn, con);
        uint64 rn = nextSignedAt(pid, hospital);
        CardSig memory rev = revokeSig(OTHER_PK, pid, hospital, rn);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        hub.revokeConsent(pid, hospital, rn, rev);
        CardSig memory dis = cardSig(OTHER_PK, dispenseHash(idA, pharmacyOrg, hub.nonces(pid), deadline));
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        pharmacy.dispensePrescription(idA, rxPatient(idA), WHOLE, deadline, dispenseEnv(), dis);

        // A's signature with B's public key in the envelope (the key check passes, the curve check does not).
        uint64 bn = nextSignedAt(b, pharmacyOrg);
        CardSig memory forged = consentSig(PATIENT_PK, b, pharmacyOrg, PHARMACY_ALL, bn + 1 days, 1, bn);
        (forged.qx, forged.qy) = cardKey(OTHER_PK);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalid());
        hub.grantConsent(b, PHARMACY_ALL, bn + 1 days, 1, bn, forged);

        // Nothing moved for A.
        (,,, uint8 scope2) = hub.consentOf(pid, pharmacyOrg2);
        assertEq(scope2, 0, "pharmacy 2 got nothing from A");
        assertTrue(pharmacy.getPrescription(idA).status == PharmacyAccess.Status.Ready, "A's prescription ready");
    }

    function test_otherPatient_aValidSignatureOfBOverBsOwnPrescriptionDoesNotDispenseAs() public {
        bytes32 b = registerPatient(OTHER_PK);
        grant(OTHER_PK, b, hospitalKiosk, HOSPITAL_ALL, 0);
        grant(OTHER_PK, b, pharmacyKiosk, Scope.READ | Scope.DISPENSE, 0);
        uint256 idA = issue(pid, hospitalKiosk, 0);
        uint256 idB = issue(b, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory forB = dispenseSig(OTHER_PK, idB, pharmacyOrg, deadline);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, pid));
        pharmacy.dispensePrescription(idA, rxPatient(idA), WHOLE, deadline, dispenseEnv(), forB);
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(idB, rxPatient(idB), WHOLE, deadline, dispenseEnv(), forB);
        assertTrue(pharmacy.getPrescription(idA).status == PharmacyAccess.Status.Ready);
    }

    function test_otherPatient_replacementKeyOfAnotherPatientRefused() public {
        // B's current card key cannot be made A's card (a key never serves two patients).
        bytes32 b = registerPatient(OTHER_PK);
        uint64 sAt = uint64(block.timestamp);
        (CardSig memory rec, CardSig memory rep) =
            replaceSigs(recoveryPkOf(pid), OTHER_PK, pid, hospital, 0, keyBundleOf(2), 1, sAt);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyInUse.selector, b));
        hub.replaceCard(pid, sAt, 0, keyBundleOf(2), rec, rep);
        assertEq(hub.cardKeyOf(pid), pid, "A keeps their card");
        assertEq(hub.patientOfCard(b), b, "B keeps theirs");
    }

    // ================================================================ another pharmacy

    function test_otherPharmacy_signatureForPharmacy1RefusedAtPharmacy2() public {
        // Pharmacy 2 holds the patient's DISPENSE consent too, yet a Dispense signed for pharmacy 1 is useless to it.
        grant(PATIENT_PK, pid, pharmacy2Kiosk, Scope.READ | Scope.DISPENSE, 0);
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        CardSig memory for1 = dispenseSig(PATIENT_PK, id, pharmacyOrg, deadline);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(_invalid());
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), for1);
        assertTrue(pharmacy.getPrescription(id).status == PharmacyAccess.Status.Ready);
        vm.expectEmit(address(pharmacy));
        emit PharmacyAccess.PrescriptionDispensed(id, pid, pharmacyId, WHOLE, false, keccak256(dispenseEnv()));
        vm.prank(pharmacyKiosk);
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), for1);
        assertTrue(pharmacy.getPrescription(id).status == PharmacyAccess.Status.Completed);
    }

    function test_otherPharmacy_consentForPharmacy1RefusedAtPharmacy2() public {
        // A consent signed for pharmacy 1, submitted by pharmacy 2's kiosk: the hub puts pharmacy 2 in the terms.
        uint64 n = nextSignedAt(pid, pharmacyOrg2);
        CardSig memory for1 = consentSig(PATIENT_PK, pid, pharmacyOrg, PHARMACY_ALL, n + 1 days, 1, n);
        vm.prank(pharmacy2Kiosk);
        vm.expectRevert(_invalid());
        hub.grantConsent(pid, PHARMACY_ALL, n + 1 days, 1, n, for1);
        (uint64 until,,,) = hub.consentOf(pid, pharmacyOrg2);
        assertEq(until, 0, "pharmacy 2 has no consent");
    }

    function testFuzz_anyTamperedDispenseTermRefused(uint256 which, uint256 delta) public {
        grant(PATIENT_PK, pid, pharmacy2Kiosk, Scope.READ | Scope.DISPENSE, 0);
        uint256 id = issue(pid, hospitalKiosk, 0);
        uint256 other = issue(pid, hospitalKiosk, 0);
        uint256 deadline = block.timestamp + 10 minutes;
        uint256 nonce = hub.nonces(pid);
        delta = bound(delta, 1, 1 days);
        which = which % 4;
        // The card signs something that differs from what is submitted in exactly one term.
        bytes32 signed = which == 0
            ? dispenseHash(other, pharmacyOrg, nonce, deadline)
            : which == 1
                ? dispenseHash(id, pharmacyOrg2, nonce, deadline)
                : which == 2
                    ? dispenseHash(id, pharmacyOrg, nonce + 1, deadline)
                    : dispenseHash(id, pharmacyOrg, nonce, deadline + delta);
        CardSig memory s = cardSig(PATIENT_PK, signed);
        vm.prank(pharmacyKiosk);
        vm.expectRevert(_invalid());
        pharmacy.dispensePrescription(id, rxPatient(id), WHOLE, deadline, dispenseEnv(), s);
        assertEq(hub.nonces(pid), nonce, "no nonce used");
        assertTrue(pharmacy.getPrescription(id).status == PharmacyAccess.Status.Ready);
    }
}
