// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @notice The kind of institution an address is registered as.
enum Role {
    None,
    Hospital,
    Pharmacy,
    Insurer
}

/// @notice A P-256 public key (the patient card's signature key) and an ECDSA signature by it.
/// @dev `s` must be in the lower half of the curve order (OpenZeppelin's P256 rejects high-s).
struct CardSig {
    bytes32 qx;
    bytes32 qy;
    bytes32 r;
    bytes32 s;
}

/// @notice The terms of a consent the card signs (the `Consent` struct without the patient and the institution,
/// which the call supplies): what a step function (docs/design-v2.md, "Step functions") passes for its consent part.
struct ConsentTerms {
    uint8 scope;
    uint64 validUntil;
    uint64 epoch;
    uint64 signedAt;
}

/// @notice Bits of a consent's scope.
library Scope {
    uint8 internal constant READ = 1;
    uint8 internal constant WRITE = 2;
    uint8 internal constant PRESCRIBE = 4;
    uint8 internal constant DISPENSE = 8;
    uint8 internal constant ALL = 15;
}

/// @notice A sealed payload whose header is not a version-3 envelope of one of the bucket sizes.
error MalformedEnvelope(uint256 length);

/// @notice The sealed envelope, version 3 (docs/design-v2.md): a version byte, one ephemeral key, three recipient
/// slots and an AES-GCM ciphertext of a plaintext padded to one of eight buckets, so its length is
/// `OVERHEAD + bucket`.
library Envelope {
    /// @notice The version byte every sealed payload starts with.
    uint8 internal constant VERSION = 3;
    /// @notice Bytes around the padded plaintext: 1 (version) + 33 (ephemeral key) + 3 x 32 (slots) + 16 (tag).
    uint256 internal constant OVERHEAD = 146;
    /// @notice The smallest and the largest bucket (the buckets are the powers of two between them).
    uint256 internal constant MIN_BUCKET = 512;
    uint256 internal constant MAX_BUCKET = 65536;

    /// @notice Reverts `MalformedEnvelope(length)` unless `envelope` starts with the version byte and is exactly
    /// `OVERHEAD + b` bytes long, b one of 512, 1024, ..., 65536 and at most `maxBucket`.
    function check(bytes calldata envelope, uint256 maxBucket) internal pure {
        uint256 len = envelope.length;
        if (len <= OVERHEAD || uint8(envelope[0]) != VERSION) revert MalformedEnvelope(len);
        uint256 b = len - OVERHEAD;
        if (b < MIN_BUCKET || b > MAX_BUCKET || b > maxBucket || b & (b - 1) != 0) revert MalformedEnvelope(len);
    }
}

/// @notice One prescription of the consultation step (`HospitalRecord.consult`), as `PharmacyAccess.issuePrescription`
/// takes it.
struct PrescriptionOrder {
    uint40 validUntil;
    bytes32 tokenKeyHash;
    bytes sealedPrescription;
}

/// @notice A patient's prescription list, kept in the record chain's slot (HospitalRecord; PharmacyAccess calls it).
interface IPrescriptionList {
    /// @notice Links prescription `id` as the patient's newest (the hub's PharmacyAccess only); returns the one before.
    function linkPrescription(bytes32 patientId, uint256 id) external returns (uint256 previous);
    /// @notice How many prescriptions the patient has, and the newest id (0: none).
    function prescriptionsOf(bytes32 patientId) external view returns (uint256 count, uint256 latest);
}

/// @notice The consultation step's prescription part (PharmacyAccess; HospitalRecord calls it).
interface IPrescriber {
    /// @notice `issuePrescription` for `kiosk` (HospitalRecord only).
    function issuePrescriptionFor(
        address kiosk,
        bytes32 patientId,
        uint40 validUntil,
        bytes32 tokenKeyHash,
        bytes calldata sealedPrescription
    ) external returns (uint256 id);
}

/// @notice The consultation step's claim part (InsuranceProvider; HospitalRecord calls it).
interface IClaimant {
    /// @notice `submitClaim` for `kiosk` (HospitalRecord only).
    function submitClaimFor(
        address kiosk,
        bytes32 patientId,
        uint256 recordIndex,
        uint256 amount,
        bytes calldata sealedClaim
    ) external returns (uint256 claimId);
}

/// @notice What the modules (HospitalRecord, PharmacyAccess, InsuranceProvider) ask of PatientSmartCard.
interface IPatientSmartCard {
    /// @notice The wired modules (zero until `wire`).
    function hospitalRecord() external view returns (address);
    function pharmacyAccess() external view returns (address);
    function insuranceProvider() external view returns (address);

    /// @notice The active institution behind `kiosk`, which must have `role`; reverts otherwise.
    function institutionOf(address kiosk, Role role) external view returns (address institution, uint32 id);

    /// @notice Like `institutionOf`, and the institution must hold an unexpired consent covering `scope`.
    function authorize(address kiosk, bytes32 patientId, Role role, uint8 scope)
        external
        view
        returns (address institution, uint32 id);

    /// @notice Reverts unless `sig` is the patient's current card, not reported lost, signing the EIP-712 struct
    /// `structHash`.
    function verifyCardSignature(bytes32 patientId, bytes32 structHash, CardSig calldata sig) external view;

    /// @notice Reverts unless `sig` is by the key whose public point hashes to `keyHash` (keccak256(qx, qy)) and
    /// signs the EIP-712 struct `structHash` under the hub's domain (the domain of card signatures): how a module
    /// checks a key that is not a patient's card, such as a prescription's token key.
    function verifyKeySignature(bytes32 keyHash, bytes32 structHash, CardSig calldata sig) external view;

    /// @notice The checks of `grantConsent` for a consent of `kiosk`'s institution, which must have `role`, with
    /// `terms` (caller, role, scope ceiling, epoch, freshness, order, window), without the signature; reverts with
    /// grantConsent's errors. Returns the institution and its id.
    function checkConsentFor(address kiosk, bytes32 patientId, Role role, ConsentTerms calldata terms)
        external
        view
        returns (address institution, uint32 id);

    /// @notice A step function's consent part (modules only; the role is the calling module's): runs the checks of
    /// `checkConsentFor` and verifies the card's one signature over the step. The consent authorises that step and
    /// is not stored (no `ConsentGranted`): the institution holds no standing consent after it, and a revocation
    /// stored later still refuses every consent signed before it. `stepHash` zero: the card signed the plain
    /// `Consent` struct; otherwise (PharmacyAccess only) the card signed
    /// `DispenseWithConsent(Consent consent,Dispense dispense)` and `stepHash` is the Dispense struct's hash.
    function useConsentFor(
        address kiosk,
        bytes32 patientId,
        ConsentTerms calldata terms,
        bytes32 stepHash,
        CardSig calldata sig
    ) external view returns (address institution, uint32 id);

    /// @notice The registration step's hub part (HospitalRecord only): `registerPatient`'s checks for `kiosk`, then
    /// the checks of the hospital's consent `terms` at the new patient's epoch (1), then the card's one signature
    /// over RegisterWithConsent(RegisterPatient registration, Consent consent); registers the patient and stores
    /// the consent. `keyBundleHash` and `keyBundleLength` describe the key bundle in the caller's calldata.
    function registerWithConsentFor(
        address kiosk,
        uint256 deadline,
        bytes32 recoveryKeyHash,
        bytes32 keyBundleHash,
        uint256 keyBundleLength,
        ConsentTerms calldata terms,
        CardSig calldata sig
    ) external returns (bytes32 patientId, uint32 hospitalId);

    /// @notice Returns the patient's current card nonce and increments it (modules only).
    function useNonce(bytes32 patientId) external returns (uint256);

    /// @notice Registers `institution` with `role` on behalf of `operator`, who must be the hub itself, i.e. the
    /// call came through governance's `execute` (modules only).
    function registerInstitutionBy(address operator, address institution, Role role) external returns (uint32 id);

    /// @notice Hash of the patient's current card key (zero: unknown patient).
    function cardKeyOf(bytes32 patientId) external view returns (bytes32);

    /// @notice The patient's current card nonce.
    function nonces(bytes32 patientId) external view returns (uint256);

    /// @notice The registration of an institution address.
    function institutions(address institution) external view returns (Role role, bool active, uint32 id);

    /// @notice The patient's consent epoch (0: unknown patient); a consent counts only in the epoch it was given.
    function epochOf(bytes32 patientId) external view returns (uint64);

    /// @notice The address of the institution with id `id` (zero: none).
    function institutionAddress(uint32 id) external view returns (address);

    /// @notice The institution a kiosk key belongs to, whether or not the institution is active (zero: none).
    function kioskInstitution(address kiosk) external view returns (address);

    /// @notice The governance admin.
    function admin() external view returns (address);
}
