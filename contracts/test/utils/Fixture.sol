// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "./Test.sol";
import {Role, CardSig, Scope, Envelope, ConsentTerms} from "../../src/CareTypes.sol";
import {PatientSmartCard} from "../../src/PatientSmartCard.sol";
import {HospitalRecord} from "../../src/HospitalRecord.sol";
import {PharmacyAccess} from "../../src/PharmacyAccess.sol";
import {InsuranceProvider, IHospitalRecord} from "../../src/InsuranceProvider.sol";
import {TestStablecoin} from "../../src/TestStablecoin.sol";

/// @notice P-256 card signing for EIP-712 digests of a PatientSmartCard deployment, and well-formed envelopes.
abstract contract CardSigner is Test {
    /// @dev The order of P-256.
    uint256 internal constant P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551;
    /// @dev OpenZeppelin's P256.verify accepts s <= N / 2 only.
    uint256 internal constant P256_HALF_N = P256_N / 2;
    /// @dev A whole prescription, in the parts (basis points) dispensing counts.
    uint16 internal constant WHOLE = 10_000;
    /// @dev The token key printed on the prescription tokens the tests issue.
    uint256 internal constant TOKEN_PK = 0x70CE_4E7;

    function cardKey(uint256 pk) internal pure returns (bytes32 qx, bytes32 qy) {
        (uint256 x, uint256 y) = vm.publicKeyP256(pk);
        return (bytes32(x), bytes32(y));
    }

    /// @dev The public key of `pk`, SEC1 compressed: 0x02 (y even) or 0x03 (y odd), then x (33 bytes).
    function compressedKeyOf(uint256 pk) internal pure returns (bytes memory) {
        (uint256 x, uint256 y) = vm.publicKeyP256(pk);
        return abi.encodePacked(bytes1(uint8(2 + (y & 1))), bytes32(x));
    }

    /// @dev The patient id of the card with private key `pk`: keccak256(qx, qy).
    function idOf(uint256 pk) internal pure returns (bytes32) {
        (bytes32 qx, bytes32 qy) = cardKey(pk);
        return keccak256(abi.encode(qx, qy));
    }

    function digestOf(PatientSmartCard h, bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", h.domainSeparator(), structHash));
    }

    /// @dev Signs a raw digest with the card key `pk`, s normalised to the lower half.
    function signDigest(uint256 pk, bytes32 digest) internal pure returns (CardSig memory sig) {
        (bytes32 r, bytes32 s) = vm.signP256(pk, digest);
        if (uint256(s) > P256_HALF_N) s = bytes32(P256_N - uint256(s));
        (bytes32 qx, bytes32 qy) = cardKey(pk);
        sig = CardSig({qx: qx, qy: qy, r: r, s: s});
    }

    /// @dev Signs the EIP-712 struct `structHash` under the domain of `h`.
    function signFor(PatientSmartCard h, uint256 pk, bytes32 structHash) internal view returns (CardSig memory) {
        return signDigest(pk, digestOf(h, structHash));
    }

    /// @dev The recovery key printed on the issue letter of `patientId` (the fixture's convention: derived from the
    /// patient id, so every registered patient has one and no two share it).
    function recoveryPkOf(bytes32 patientId) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode("recovery", patientId))) % (P256_N - 1) + 1;
    }

    /// @dev keccak256 of the recovery public key of `patientId` (what registration stores).
    function recoveryHashOf(bytes32 patientId) internal pure returns (bytes32) {
        return idOf(recoveryPkOf(patientId));
    }

    /// @dev A key bundle of the real size (compact layout: the marker 0xB2, H compressed, then card grant, share A
    /// and share B as one-key grants: 1 + 33 + 3 x 81 bytes) whose content depends on `seed`.
    function keyBundleOf(uint256 seed) internal pure returns (bytes memory b) {
        b = new bytes(1 + 33 + 3 * 81);
        b[0] = 0xB2;
        b[1] = 0x02;
        assembly ("memory-safe") {
            mstore(add(b, 35), seed)
        }
    }

    /// @dev The same signature with s replaced by N - s (valid ECDSA, rejected by OpenZeppelin as malleable).
    function toHighS(CardSig memory sig) internal pure returns (CardSig memory h) {
        h = CardSig({qx: sig.qx, qy: sig.qy, r: sig.r, s: bytes32(P256_N - uint256(sig.s))});
    }

    // ------------------------------------------------------------ envelopes

    /// @dev What the hub keeps of a key bundle's hash (`keyBundleOf`): its first 15 bytes, zero-padded.
    function bundlePrefix(bytes memory bundle) internal pure returns (bytes32) {
        return bytes32(bytes15(keccak256(bundle)));
    }

    /// @dev A well-formed version-3 envelope of `bucket` plaintext bytes whose content depends on `seed`.
    function envOf(uint256 bucket, uint256 seed) internal pure returns (bytes memory b) {
        b = new bytes(Envelope.OVERHEAD + bucket);
        b[0] = bytes1(Envelope.VERSION);
        assembly ("memory-safe") {
            mstore(add(b, 33), seed)
        }
    }

    /// @dev A well-formed envelope of the smallest bucket (658 bytes).
    function env(uint256 seed) internal pure returns (bytes memory) {
        return envOf(512, seed);
    }

    /// @dev The sealed MedicationDispense the fixture's dispenses carry (a well-formed envelope).
    function dispenseEnv() internal pure returns (bytes memory) {
        return env(0xd15e);
    }

    /// @dev The sealed ClaimResponse the fixture's claim decisions carry (a well-formed envelope).
    function responseEnv() internal pure returns (bytes memory) {
        return env(0x7e5);
    }
}

/// @notice What a kiosk has the card (or a token key) sign, for one deployment: the EIP-712 struct hashes of the
/// hub's and the pharmacy module's types, built from the contracts' own typehashes, the consent terms a desk
/// preselects, and the card signatures over them. Set `hub` (and `pharmacy`, for the dispense structs) before use: a
/// fixture's setUp deploys them, an invariant handler is given them.
abstract contract KioskSigner is CardSigner {
    /// @dev Everything a hospital may hold.
    uint8 internal constant HOSPITAL_ALL = Scope.READ | Scope.WRITE | Scope.PRESCRIBE;
    /// @dev Everything a pharmacy may hold.
    uint8 internal constant PHARMACY_ALL = Scope.READ | Scope.DISPENSE;

    PatientSmartCard internal hub;
    PharmacyAccess internal pharmacy;

    /// @dev The patients the fixture's helpers registered (and the fixture's two), for `rxPatient` and
    /// `claimPatient`.
    bytes32[] internal _knownPatients;

    /// @dev The known patient whose id starts with `prefix` (zero when none does).
    function knownPatient(bytes12 prefix) internal view returns (bytes32) {
        for (uint256 i; i < _knownPatients.length; ++i) {
            if (bytes12(_knownPatients[i]) == prefix) return _knownPatients[i];
        }
        return bytes32(0);
    }

    /// @dev The patient of prescription `id` as a kiosk names it (from its `PrescriptionIssued` event): the known
    /// patient whose id starts with the prescription's stored 12 bytes, read with `vm.load` (a cheatcode, so a prank
    /// or an expected revert set before the call still applies to it); zero when none does (no such prescription).
    function rxPatient(uint256 id) internal view returns (bytes32) {
        // PharmacyAccess's `_prescriptions` is at slot 1; a prescription's first slot holds the patient id's 12 bytes
        // at bytes 16 to 27 from the low end.
        uint256 v = uint256(vm.load(address(pharmacy), keccak256(abi.encode(id, uint256(1)))));
        return knownPatient(bytes12(uint96(v >> 128)));
    }

    // ------------------------------------------------------------ signatures

    function cardSig(uint256 pk, bytes32 structHash) internal view returns (CardSig memory) {
        return signFor(hub, pk, structHash);
    }

    // ------------------------------------------------------------ structs of the card's life, consent, dispense

    /// @dev The key bundle a registration in the fixture carries.
    function keyBundle() internal pure returns (bytes memory) {
        return keyBundleOf(1);
    }

    function registerHash(bytes32 patientId, address hospital_, uint256 deadline) internal view returns (bytes32) {
        return registerHashWith(patientId, hospital_, recoveryHashOf(patientId), keccak256(keyBundle()), deadline);
    }

    function registerHashWith(
        bytes32 patientId,
        address hospital_,
        bytes32 recoveryKeyHash,
        bytes32 keyBundleHash,
        uint256 deadline
    ) internal view returns (bytes32) {
        return keccak256(
            abi.encode(hub.REGISTER_TYPEHASH(), patientId, hospital_, recoveryKeyHash, keyBundleHash, deadline)
        );
    }

    function consentHash(
        bytes32 patientId,
        address institution,
        uint8 scope,
        uint64 validUntil,
        uint64 epoch,
        uint64 signedAt
    ) internal view returns (bytes32) {
        return keccak256(abi.encode(hub.CONSENT_TYPEHASH(), patientId, institution, scope, validUntil, epoch, signedAt));
    }

    function revokeHash(bytes32 patientId, address institution, uint64 signedAt) internal view returns (bytes32) {
        return keccak256(abi.encode(hub.REVOKE_TYPEHASH(), patientId, institution, signedAt));
    }

    function revokeAllHash(bytes32 patientId, uint64 epoch, uint64 signedAt) internal view returns (bytes32) {
        return keccak256(abi.encode(hub.REVOKE_ALL_TYPEHASH(), patientId, epoch, signedAt));
    }

    function replaceHash(
        bytes32 patientId,
        bytes32 newKeyHash,
        address hospital_,
        bytes32 newRecoveryKeyHash,
        bytes32 keyBundleHash,
        uint64 epoch,
        uint64 signedAt
    ) internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                hub.REPLACE_TYPEHASH(),
                patientId,
                newKeyHash,
                hospital_,
                newRecoveryKeyHash,
                keyBundleHash,
                epoch,
                signedAt
            )
        );
    }

    function reportLostHash(bytes32 patientId, uint64 epoch, uint64 signedAt) internal view returns (bytes32) {
        return keccak256(abi.encode(hub.REPORT_LOST_TYPEHASH(), patientId, epoch, signedAt));
    }

    /// @dev Dispense(id, pharmacy_, part, contentHash, nonce, deadline).
    function dispenseHash(
        uint256 id,
        address pharmacy_,
        uint16 part,
        bytes32 contentHash,
        uint256 nonce,
        uint256 deadline
    ) internal view returns (bytes32) {
        return keccak256(abi.encode(pharmacy.DISPENSE_TYPEHASH(), id, pharmacy_, part, contentHash, nonce, deadline));
    }

    /// @dev Dispense of the whole prescription with the fixture's sealed dispense (`dispenseEnv()`).
    function dispenseHash(uint256 id, address pharmacy_, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        return dispenseHash(id, pharmacy_, WHOLE, keccak256(dispenseEnv()), nonce, deadline);
    }

    /// @dev DispenseByToken(id, pharmacy_, contentHash, deadline).
    function tokenDispenseHash(uint256 id, address pharmacy_, bytes32 contentHash, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(pharmacy.DISPENSE_BY_TOKEN_TYPEHASH(), id, pharmacy_, contentHash, deadline));
    }

    function cancelHash(uint256 id, uint64 signedAt) internal view returns (bytes32) {
        return keccak256(abi.encode(pharmacy.CANCEL_TYPEHASH(), id, signedAt));
    }

    function registerSig(uint256 pk, address hospital_, uint256 deadline) internal view returns (CardSig memory) {
        return cardSig(pk, registerHash(idOf(pk), hospital_, deadline));
    }

    /// @dev The card `pk` signs RegisterPatient at `hospital_` with the recovery key hash `recoveryKeyHash` and the
    /// key bundle `bundle`.
    function registerSigWith(
        uint256 pk,
        address hospital_,
        bytes32 recoveryKeyHash,
        bytes memory bundle,
        uint256 deadline
    ) internal view returns (CardSig memory) {
        return cardSig(pk, registerHashWith(idOf(pk), hospital_, recoveryKeyHash, keccak256(bundle), deadline));
    }

    function consentSig(
        uint256 pk,
        bytes32 patientId,
        address institution,
        uint8 scope,
        uint64 validUntil,
        uint64 epoch,
        uint64 signedAt
    ) internal view returns (CardSig memory) {
        return cardSig(pk, consentHash(patientId, institution, scope, validUntil, epoch, signedAt));
    }

    function revokeSig(uint256 pk, bytes32 patientId, address institution, uint64 signedAt)
        internal
        view
        returns (CardSig memory)
    {
        return cardSig(pk, revokeHash(patientId, institution, signedAt));
    }

    function revokeAllSig(uint256 pk, bytes32 patientId, uint64 epoch, uint64 signedAt)
        internal
        view
        returns (CardSig memory)
    {
        return cardSig(pk, revokeAllHash(patientId, epoch, signedAt));
    }

    function cancelSig(uint256 pk, uint256 id, uint64 signedAt) internal view returns (CardSig memory) {
        return cardSig(pk, cancelHash(id, signedAt));
    }

    /// @dev The key `pk` (recovery key or card) signs ReportLost(patientId, epoch, signedAt).
    function reportLostSig(uint256 pk, bytes32 patientId, uint64 epoch, uint64 signedAt)
        internal
        view
        returns (CardSig memory)
    {
        return cardSig(pk, reportLostHash(patientId, epoch, signedAt));
    }

    /// @dev The recovery key `recoveryPk` and the new card `newPk` both sign
    /// ReplaceCard(patientId, idOf(newPk), hospital_, newRecoveryKeyHash, keccak256(bundle), epoch, signedAt):
    /// pass what the replaceCard call will carry (newRecoveryKeyHash zero: keep the recovery key).
    function replaceSigs(
        uint256 recoveryPk,
        uint256 newPk,
        bytes32 patientId,
        address hospital_,
        bytes32 newRecoveryKeyHash,
        bytes memory bundle,
        uint64 epoch,
        uint64 signedAt
    ) internal view returns (CardSig memory recovery, CardSig memory newCard) {
        bytes32 h = replaceHash(
            patientId, idOf(newPk), hospital_, newRecoveryKeyHash, keccak256(bundle), epoch, signedAt
        );
        recovery = cardSig(recoveryPk, h);
        newCard = cardSig(newPk, h);
    }

    /// @dev The card `pk` signs Dispense(id, pharmacy_, WHOLE, keccak256(dispenseEnv()), the patient's current
    /// nonce, deadline).
    function dispenseSig(uint256 pk, uint256 id, address pharmacy_, uint256 deadline)
        internal
        view
        returns (CardSig memory)
    {
        bytes32 patientId = rxPatient(id);
        return cardSig(pk, dispenseHash(id, pharmacy_, hub.nonces(patientId), deadline));
    }

    /// @dev The card `pk` signs Dispense(id, pharmacy_, part, keccak256(sealedDispense), the patient's current
    /// nonce, deadline).
    function partSig(
        uint256 pk,
        uint256 id,
        address pharmacy_,
        uint16 part,
        bytes memory sealedDispense,
        uint256 deadline
    ) internal view returns (CardSig memory) {
        bytes32 patientId = rxPatient(id);
        return
            cardSig(pk, dispenseHash(id, pharmacy_, part, keccak256(sealedDispense), hub.nonces(patientId), deadline));
    }

    /// @dev The token key `tokenPk` signs DispenseByToken(id, pharmacy_, keccak256(sealedDispense), deadline).
    function tokenSig(uint256 tokenPk, uint256 id, address pharmacy_, bytes memory sealedDispense, uint256 deadline)
        internal
        view
        returns (CardSig memory)
    {
        return cardSig(tokenPk, tokenDispenseHash(id, pharmacy_, keccak256(sealedDispense), deadline));
    }

    // ------------------------------------------------------------ consent terms

    /// @dev A signing time the hub accepts for the next grant or revocation of (patient, institution): now, or one
    /// second after the last one when that was now (within the allowed clock skew).
    function nextSignedAt(bytes32 patientId, address institution) internal view returns (uint64) {
        (, uint64 last,,) = hub.consentOf(patientId, institution);
        uint64 t = uint64(block.timestamp);
        return t > last ? t : last + 1;
    }

    /// @dev The default window the kiosk preselects for an institution's role.
    function defaultWindow(address institution) internal view returns (uint64) {
        (Role role,,) = hub.institutions(institution);
        if (role == Role.Hospital) return hub.HOSPITAL_WINDOW();
        if (role == Role.Pharmacy) return hub.PHARMACY_WINDOW();
        return hub.INSURER_WINDOW();
    }

    /// @dev The card `pk` grants the institution of `kiosk` `scope` until `validUntil` (0: the role's default
    // ------------------------------------------------------------ the step functions' structs

    function termsOf(uint8 scope, uint64 validUntil, uint64 epoch, uint64 signedAt)
        internal
        pure
        returns (ConsentTerms memory)
    {
        return ConsentTerms({scope: scope, validUntil: validUntil, epoch: epoch, signedAt: signedAt});
    }

    /// @dev Terms the hub accepts now for the institution of `kiosk`: `scope`, the role's default window, the
    /// patient's epoch (1 for a patient not yet registered), signed at `nextSignedAt`.
    function termsFor(bytes32 patientId, address kiosk, uint8 scope) internal view returns (ConsentTerms memory t) {
        address institution = hub.kioskInstitution(kiosk);
        uint64 signedAt = nextSignedAt(patientId, institution);
        uint64 epoch = hub.epochOf(patientId);
        t = termsOf(scope, signedAt + defaultWindow(institution), epoch == 0 ? 1 : epoch, signedAt);
    }

    function consentHashOf(bytes32 patientId, address institution, ConsentTerms memory t)
        internal
        view
        returns (bytes32)
    {
        return consentHash(patientId, institution, t.scope, t.validUntil, t.epoch, t.signedAt);
    }

    /// @dev The card `pk` signs the plain Consent of `institution` on terms `t` (what `grantConsent` and the
    /// enrolment step take).
    function termsSig(uint256 pk, bytes32 patientId, address institution, ConsentTerms memory t)
        internal
        view
        returns (CardSig memory)
    {
        return cardSig(pk, consentHashOf(patientId, institution, t));
    }

    /// @dev RegisterWithConsent(RegisterPatient registration, Consent consent).
    function registerWithConsentHash(
        bytes32 patientId,
        address hospital_,
        bytes32 recoveryKeyHash,
        bytes32 keyBundleHash,
        uint256 deadline,
        ConsentTerms memory t
    ) internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                hub.REGISTER_WITH_CONSENT_TYPEHASH(),
                registerHashWith(patientId, hospital_, recoveryKeyHash, keyBundleHash, deadline),
                consentHashOf(patientId, hospital_, t)
            )
        );
    }

    /// @dev DispenseWithConsent(Consent consent, Dispense dispense).
    function dispenseWithConsentHash(
        bytes32 patientId,
        address pharmacy_,
        ConsentTerms memory t,
        uint256 id,
        uint16 part,
        bytes32 contentHash,
        uint256 nonce,
        uint256 deadline
    ) internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                hub.DISPENSE_WITH_CONSENT_TYPEHASH(),
                consentHashOf(patientId, pharmacy_, t),
                dispenseHash(id, pharmacy_, part, contentHash, nonce, deadline)
            )
        );
    }

    /// @dev The card `pk` signs the registration step at `hospital_` with the fixture's recovery key and bundle.
    function registerStepSig(uint256 pk, address hospital_, uint256 deadline, ConsentTerms memory t)
        internal
        view
        returns (CardSig memory)
    {
        return registerStepSigWith(pk, hospital_, recoveryHashOf(idOf(pk)), keyBundle(), deadline, t);
    }

    /// @dev The card `pk` signs the registration step at `hospital_` with the recovery key hash `recoveryKeyHash`
    /// and the key bundle `bundle`.
    function registerStepSigWith(
        uint256 pk,
        address hospital_,
        bytes32 recoveryKeyHash,
        bytes memory bundle,
        uint256 deadline,
        ConsentTerms memory t
    ) internal view returns (CardSig memory) {
        return cardSig(
            pk, registerWithConsentHash(idOf(pk), hospital_, recoveryKeyHash, keccak256(bundle), deadline, t)
        );
    }

    /// @dev The card `pk` signs the pharmacy step: `t` for the institution of `kiosk` and Dispense(id, part,
    /// sealedDispense) with the patient's current nonce.
    function dispenseStepSig(
        uint256 pk,
        address kiosk,
        ConsentTerms memory t,
        uint256 id,
        uint16 part,
        bytes memory sealedDispense,
        uint256 deadline
    ) internal view returns (CardSig memory) {
        bytes32 patientId = rxPatient(id);
        return cardSig(
            pk,
            dispenseWithConsentHash(
                patientId,
                hub.kioskInstitution(kiosk),
                t,
                id,
                part,
                keccak256(sealedDispense),
                hub.nonces(patientId),
                deadline
            )
        );
    }

    function eq(CardSig memory a, CardSig memory b) internal pure returns (bool) {
        return a.qx == b.qx && a.qy == b.qy && a.r == b.r && a.s == b.s;
    }
}

/// @notice Deploys carekiosk as the real deployment does (governance with a zero delay, institutions registered
/// through schedule/execute, kiosks that accept their institution's offer) and sets up institutions, kiosks, a
/// patient, consent and escrow.
abstract contract Fixture is KioskSigner {
    uint256 internal constant T0 = 1_750_000_000;
    uint256 internal constant ESCROW = 1_000_000e18;
    uint256 internal constant PATIENT_PK = 0xC0FFEE_CA4D;
    uint256 internal constant OTHER_PK = 0xBEEF_CA4D;
    /// @dev The four-eyes threshold the tests with four eyes give the first insurer (`fourEyes`).
    uint256 internal constant THRESHOLD = 500e18;

    HospitalRecord internal records;
    TestStablecoin internal token;
    InsuranceProvider internal insurance;

    address internal admin = makeAddr("admin");
    address internal guardian = makeAddr("guardian");
    address internal hospital = makeAddr("hospital");
    address internal hospitalKiosk = makeAddr("hospitalKiosk");
    address internal hospital2 = makeAddr("hospital2");
    address internal hospital2Kiosk = makeAddr("hospital2Kiosk");
    address internal pharmacyOrg = makeAddr("pharmacyOrg");
    address internal pharmacyKiosk = makeAddr("pharmacyKiosk");
    address internal pharmacyOrg2 = makeAddr("pharmacyOrg2");
    address internal pharmacy2Kiosk = makeAddr("pharmacy2Kiosk");
    address internal insurer = makeAddr("insurer");
    address internal insurerKiosk = makeAddr("insurerKiosk");
    address internal insurer2 = makeAddr("insurer2");
    address internal insurer2Kiosk = makeAddr("insurer2Kiosk");
    /// @dev The first insurer's second kiosk, added by `fourEyes`.
    address internal insurerKioskB = makeAddr("insurerKioskB");
    address internal funder = makeAddr("funder");
    address internal stranger = makeAddr("stranger");

    uint32 internal hospitalId;
    uint32 internal hospital2Id;
    uint32 internal pharmacyId;
    uint32 internal pharmacy2Id;
    uint32 internal insurerId;
    uint32 internal insurer2Id;

    /// @dev The registered patient, with consent: hospital READ|WRITE|PRESCRIBE (default window), pharmacyOrg
    /// READ|DISPENSE (default window), insurer READ (default window).
    bytes32 internal pid;
    bytes32 internal qx;
    bytes32 internal qy;

    function setUp() public virtual {
        vm.warp(T0);
        hub = new PatientSmartCard(admin, 0, guardian);
        records = new HospitalRecord(hub);
        pharmacy = new PharmacyAccess(hub);
        token = new TestStablecoin();
        insurance = new InsuranceProvider(hub, IHospitalRecord(address(records)), token);
        vm.label(address(hub), "hub");
        vm.label(address(records), "records");
        vm.label(address(pharmacy), "pharmacy");
        vm.label(address(token), "token");
        vm.label(address(insurance), "insurance");

        vm.prank(admin);
        hub.wire(address(records), address(pharmacy), address(insurance));
        hospitalId = registerInstitution(hospital, Role.Hospital);
        pharmacyId = registerInstitution(pharmacyOrg, Role.Pharmacy);
        insurerId = registerInstitution(insurer, Role.Insurer);
        hospital2Id = registerInstitution(hospital2, Role.Hospital);
        pharmacy2Id = registerInstitution(pharmacyOrg2, Role.Pharmacy);
        insurer2Id = registerInstitution(insurer2, Role.Insurer);

        _addKiosk(hospital, hospitalKiosk);
        _addKiosk(hospital2, hospital2Kiosk);
        _addKiosk(pharmacyOrg, pharmacyKiosk);
        _addKiosk(pharmacyOrg2, pharmacy2Kiosk);
        _addKiosk(insurer, insurerKiosk);
        _addKiosk(insurer2, insurer2Kiosk);

        (qx, qy) = cardKey(PATIENT_PK);
        pid = registerPatient(PATIENT_PK);
        grant(PATIENT_PK, pid, hospitalKiosk, HOSPITAL_ALL, 0);
        grant(PATIENT_PK, pid, pharmacyKiosk, PHARMACY_ALL, 0);
        grant(PATIENT_PK, pid, insurerKiosk, Scope.READ, 0);

        fund(insurer, ESCROW);
    }

    /// @dev The institution offers the kiosk key, which accepts.
    function _addKiosk(address institution, address kiosk) internal {
        vm.prank(institution);
        hub.addKiosk(kiosk);
        vm.prank(kiosk);
        hub.acceptKiosk(institution);
    }

    /// @dev Four eyes at the first insurer: its second kiosk `insurerKioskB`, and approvals above `threshold` wait
    /// for a second kiosk.
    function fourEyes(uint256 threshold) internal {
        _addKiosk(insurer, insurerKioskB);
        vm.prank(insurer);
        insurance.setApprovalThreshold(threshold);
    }

    // ------------------------------------------------------------ governance

    /// @dev The admin schedules and (the fixture's delay being 0) at once executes `target.call(data)`.
    function govern(address target, bytes memory data) internal {
        vm.startPrank(admin);
        hub.schedule(target, data);
        hub.execute(target, data);
        vm.stopPrank();
    }

    /// @dev Schedules a governed call as the admin (a test then expects its events and calls executeGoverned).
    function scheduleGoverned(address target, bytes memory data) internal {
        vm.prank(admin);
        hub.schedule(target, data);
    }

    /// @dev Executes a scheduled governed call as the admin.
    function executeGoverned(address target, bytes memory data) internal {
        vm.prank(admin);
        hub.execute(target, data);
    }

    /// @dev The module call that registers `institution` with `role`: (module, calldata).
    function registerCall(address institution, Role role) internal view returns (address target, bytes memory data) {
        if (role == Role.Hospital) {
            return (address(records), abi.encodeCall(HospitalRecord.registerHospital, (institution)));
        }
        if (role == Role.Pharmacy) {
            return (address(pharmacy), abi.encodeCall(PharmacyAccess.registerPharmacy, (institution)));
        }
        return (address(insurance), abi.encodeCall(InsuranceProvider.registerInsurer, (institution)));
    }

    /// @dev Governance registers `institution` with `role` through its module; returns its id.
    function registerInstitution(address institution, Role role) internal returns (uint32 id) {
        (address target, bytes memory data) = registerCall(institution, role);
        govern(target, data);
        (,, id) = hub.institutions(institution);
    }

    /// @dev Governance suspends or reinstates an institution.
    function setActive(address institution, bool active) internal {
        govern(address(hub), abi.encodeCall(PatientSmartCard.setInstitutionActive, (institution, active)));
    }

    // ------------------------------------------------------------ registration

    /// @dev Registers the card of `s` on `h` with the fixture's recovery key and key bundle (no other external call:
    /// a test may prank and expect a revert before it).
    function registerWith(PatientSmartCard h, uint256 deadline, CardSig memory s) internal returns (bytes32) {
        bytes32 patientId = keccak256(abi.encode(s.qx, s.qy));
        _knownPatients.push(patientId);
        return h.registerPatient(deadline, recoveryHashOf(patientId), keyBundle(), s);
    }


    /// @dev The patient of claim `id` as a kiosk names it (from the claim's `ClaimSubmitted` event): the known
    /// patient whose id starts with the claim's stored 12 bytes, read with `vm.load` (a cheatcode, so a prank or an
    /// expected revert set before the decision still applies to it); the fixture's patient when none does (a claim
    /// that does not exist).
    function claimPatient(uint256 id) internal view returns (bytes32) {
        // InsuranceProvider's `_claims` is at slot 4; a claim's second slot holds, from the low bytes, the content
        // hash's 16 bytes, then the patient id's 12.
        uint256 v = uint256(vm.load(address(insurance), bytes32(uint256(keccak256(abi.encode(id, uint256(4)))) + 1)));
        bytes32 found = knownPatient(bytes12(uint96(v >> 128)));
        return found != 0 ? found : pid;
    }

    // ------------------------------------------------------------ actions

    function registerPatient(uint256 pk) internal returns (bytes32 patientId) {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerSig(pk, hospital, deadline);
        vm.prank(hospitalKiosk);
        patientId = registerWith(hub, deadline, s);
    }

    /// @dev The key `pk` (recovery key or card) reports the patient's card lost, signed now, submitted by a
    /// stranger.
    function reportLost(uint256 pk, bytes32 patientId) internal {
        uint64 signedAt = uint64(block.timestamp);
        CardSig memory s = reportLostSig(pk, patientId, hub.epochOf(patientId), signedAt);
        vm.prank(stranger);
        hub.reportCardLost(patientId, signedAt, s);
    }

    /// @dev `kiosk`'s hospital replaces the patient's card with `newPk`, the recovery key `recoveryPk` and the new
    /// card signing now, with the key bundle `keyBundleOf(bundleSeed)` and the new recovery key hash
    /// `newRecoveryKeyHash` (zero: keep).
    function replaceWith(
        bytes32 patientId,
        uint256 recoveryPk,
        uint256 newPk,
        address kiosk,
        bytes32 newRecoveryKeyHash,
        uint256 bundleSeed
    ) internal {
        uint64 signedAt = uint64(block.timestamp);
        bytes memory bundle = keyBundleOf(bundleSeed);
        uint64 epoch = hub.epochOf(patientId);
        address hospital_ = hub.kioskInstitution(kiosk);
        (CardSig memory rec, CardSig memory card) =
            replaceSigs(recoveryPk, newPk, patientId, hospital_, newRecoveryKeyHash, bundle, epoch, signedAt);
        vm.prank(kiosk);
        hub.replaceCard(patientId, signedAt, newRecoveryKeyHash, bundle, rec, card);
    }

    /// @dev hospitalKiosk replaces the patient's card with `newPk`, with the fixture's recovery key of the patient
    /// (kept) and the key bundle `keyBundleOf(2)`.
    function replace(bytes32 patientId, uint256 newPk) internal {
        replaceWith(patientId, recoveryPkOf(patientId), newPk, hospitalKiosk, 0, 2);
    }

    /// window from the signing time), signed now in the patient's current epoch.
    function grant(uint256 pk, bytes32 patientId, address kiosk, uint8 scope, uint64 validUntil)
        internal
        returns (uint64 until)
    {
        address institution = hub.kioskInstitution(kiosk);
        uint64 signedAt = nextSignedAt(patientId, institution);
        until = validUntil == 0 ? signedAt + defaultWindow(institution) : validUntil;
        uint64 epoch = hub.epochOf(patientId);
        CardSig memory s = consentSig(pk, patientId, institution, scope, until, epoch, signedAt);
        vm.prank(kiosk);
        hub.grantConsent(patientId, scope, until, epoch, signedAt, s);
    }

    /// @dev The card `pk` revokes the consent of `institution`, submitted by a stranger.
    function revoke(uint256 pk, bytes32 patientId, address institution) internal {
        uint64 signedAt = nextSignedAt(patientId, institution);
        CardSig memory s = revokeSig(pk, patientId, institution, signedAt);
        vm.prank(stranger);
        hub.revokeConsent(patientId, institution, signedAt, s);
    }

    /// @dev The card `pk` revokes every consent (the epoch moves), submitted by a stranger.
    function revokeAll(uint256 pk, bytes32 patientId) internal {
        uint64 epoch = hub.epochOf(patientId);
        uint64 signedAt = uint64(block.timestamp);
        CardSig memory s = revokeAllSig(pk, patientId, epoch, signedAt);
        vm.prank(stranger);
        hub.revokeAllConsents(patientId, epoch, signedAt, s);
    }

    function addRecord(bytes32 patientId, address kiosk, bytes memory sealedRecord) internal returns (uint256) {
        vm.prank(kiosk);
        return records.addMedicalRecord(patientId, sealedRecord);
    }

    /// @dev `kiosk` issues a prescription without a token.
    function issue(bytes32 patientId, address kiosk, uint40 validUntil) internal returns (uint256) {
        vm.prank(kiosk);
        return pharmacy.issuePrescription(patientId, validUntil, bytes32(0), env(0x5ea1ed));
    }

    /// @dev `kiosk` issues a prescription whose token key is `tokenPk`.
    function issueWithToken(bytes32 patientId, address kiosk, uint256 tokenPk) internal returns (uint256) {
        vm.prank(kiosk);
        return pharmacy.issuePrescription(patientId, 0, idOf(tokenPk), env(0x5ea1ed));
    }

    /// @dev `kiosk` dispenses the whole prescription on the card `pk`'s signature.
    function dispense(uint256 pk, uint256 id, address kiosk) internal {
        dispensePart(pk, id, kiosk, WHOLE);
    }

    /// @dev `kiosk` dispenses `part` of the prescription (with the fixture's sealed dispense) on the card `pk`'s
    /// signature.
    function dispensePart(uint256 pk, uint256 id, address kiosk, uint16 part) internal {
        address pharmacyInst = hub.kioskInstitution(kiosk);
        uint256 deadline = block.timestamp + 10 minutes;
        bytes memory sealedDispense = dispenseEnv();
        CardSig memory s = partSig(pk, id, pharmacyInst, part, sealedDispense, deadline);
        vm.prank(kiosk);
        pharmacy.dispensePrescription(id, rxPatient(id), part, deadline, sealedDispense, s);
    }

    /// @dev `kiosk` dispenses the rest of the prescription on the token key `tokenPk`'s signature.
    function dispenseWithToken(uint256 tokenPk, uint256 id, address kiosk) internal {
        address pharmacyInst = hub.kioskInstitution(kiosk);
        uint256 deadline = block.timestamp + 10 minutes;
        bytes memory sealedDispense = dispenseEnv();
        CardSig memory s = tokenSig(tokenPk, id, pharmacyInst, sealedDispense, deadline);
        vm.prank(kiosk);
        pharmacy.dispenseByToken(id, rxPatient(id), deadline, sealedDispense, s);
    }

    function fund(address insurer_, uint256 amount) internal {
        token.mint(funder, amount);
        vm.startPrank(funder);
        token.approve(address(insurance), amount);
        insurance.fundEscrow(insurer_, amount);
        vm.stopPrank();
    }

    function enroll(bytes32 patientId, address kiosk, uint16 bps, uint128 annualLimit) internal {
        vm.prank(kiosk);
        insurance.enrollPatient(patientId, bps, annualLimit);
    }

    /// @dev hospitalKiosk adds a record and bills it: returns the claim id.
    function recordAndClaim(bytes32 patientId, uint256 amount) internal returns (uint256 claimId) {
        uint256 index = addRecord(patientId, hospitalKiosk, env(0x0bad));
        vm.prank(hospitalKiosk);
        claimId = insurance.submitClaim(patientId, index, amount, env(0xc1a1));
    }

    // ------------------------------------------------------------ step functions

    /// @dev `kiosk` runs the registration step for the card `pk` (hospital scope, default window) with the
    /// demographics record `sealedRecord`.
    function registerStep(uint256 pk, address kiosk, bytes memory sealedRecord) internal returns (bytes32 patientId) {
        patientId = idOf(pk);
        _knownPatients.push(patientId);
        uint256 deadline = block.timestamp + 1 hours;
        ConsentTerms memory t = termsFor(patientId, kiosk, HOSPITAL_ALL);
        CardSig memory s = registerStepSig(pk, hub.kioskInstitution(kiosk), deadline, t);
        vm.prank(kiosk);
        records.registerAndConsent(deadline, recoveryHashOf(patientId), keyBundle(), t, sealedRecord, s);
    }

    /// @dev `kiosk` runs the pharmacy step (pharmacy scope, default window) for `part` of prescription `id`.
    function dispenseStep(uint256 pk, uint256 id, address kiosk, uint16 part) internal {
        bytes32 patientId = rxPatient(id);
        uint256 deadline = block.timestamp + 10 minutes;
        ConsentTerms memory t = termsFor(patientId, kiosk, PHARMACY_ALL);
        CardSig memory s = dispenseStepSig(pk, kiosk, t, id, part, dispenseEnv(), deadline);
        vm.prank(kiosk);
        pharmacy.dispenseWithConsent(id, patientId, part, deadline, dispenseEnv(), t, s);
    }

    /// @dev `kiosk` runs the enrolment step (READ, default window) for the card `pk`.
    function enrollStep(uint256 pk, bytes32 patientId, address kiosk, uint16 bps, uint128 annualLimit) internal {
        ConsentTerms memory t = termsFor(patientId, kiosk, Scope.READ);
        CardSig memory s = termsSig(pk, patientId, hub.kioskInstitution(kiosk), t);
        vm.prank(kiosk);
        insurance.enrollWithConsent(patientId, bps, annualLimit, t, s);
    }
}
