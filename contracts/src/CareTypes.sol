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

/// @notice Bits of a consent's scope.
library Scope {
    uint8 internal constant READ = 1;
    uint8 internal constant WRITE = 2;
    uint8 internal constant PRESCRIBE = 4;
    uint8 internal constant DISPENSE = 8;
    uint8 internal constant ALL = 15;
}

/// @notice A sealed payload whose header is not a version-2 envelope of one of the bucket sizes.
error MalformedEnvelope(uint256 length);

/// @notice The sealed envelope, version 2 (docs/design-v2.md): a version byte, three recipient slots, a nonce and
/// an AES-GCM ciphertext of a plaintext padded to one of eight buckets, so its length is `OVERHEAD + bucket`.
library Envelope {
    /// @notice The version byte every sealed payload starts with.
    uint8 internal constant VERSION = 2;
    /// @notice Bytes around the padded plaintext: 1 (version) + 3 x (33 + 48) (slots) + 12 (nonce) + 16 (tag).
    uint256 internal constant OVERHEAD = 272;
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

/// @notice What the modules (HospitalRecord, PharmacyAccess, InsuranceProvider) ask of PatientSmartCard.
interface IPatientSmartCard {
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
