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

/// @notice What the modules (HospitalRecord, PharmacyAccess, InsuranceProvider) ask of PatientSmartCard.
interface IPatientSmartCard {
    /// @notice The active institution behind `kiosk`, which must have `role`; reverts otherwise.
    function institutionOf(address kiosk, Role role) external view returns (address institution, uint32 id);

    /// @notice Like `institutionOf`, and the institution must hold an unexpired consent covering `scope`.
    function authorize(address kiosk, bytes32 patientId, Role role, uint8 scope)
        external
        view
        returns (address institution, uint32 id);

    /// @notice Reverts unless `sig` is the patient's current card signing the EIP-712 struct `structHash`.
    function verifyCardSignature(bytes32 patientId, bytes32 structHash, CardSig calldata sig) external view;

    /// @notice Returns the patient's current card nonce and increments it (modules only).
    function useNonce(bytes32 patientId) external returns (uint256);

    /// @notice Registers `institution` with `role` on behalf of `operator`, who must be the admin (modules only).
    function registerInstitutionBy(address operator, address institution, Role role) external returns (uint32 id);

    /// @notice Hash of the patient's current card key (zero: unknown patient).
    function cardKeyOf(bytes32 patientId) external view returns (bytes32);

    /// @notice The patient's current card nonce.
    function nonces(bytes32 patientId) external view returns (uint256);

    /// @notice The registration of an institution address.
    function institutions(address institution) external view returns (Role role, bool active, uint32 id);
}
