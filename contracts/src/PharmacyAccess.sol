// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Role, Scope, CardSig, IPatientSmartCard} from "./CareTypes.sol";

/// @title PharmacyAccess
/// @notice Pharmacies and e-prescriptions, following gematik's lifecycle: a hospital issues a prescription
/// (ready); a registered pharmacy dispenses it exactly once on the patient's card signature over
/// Dispense(prescriptionId, pharmacy, nonce, deadline), the proof of presence (completed); the issuer may cancel
/// it while ready; it expires after its validity. The prescription itself travels encrypted in calldata.
contract PharmacyAccess {
    /// @notice Default validity of a prescription (28 days, as for German statutory prescriptions).
    uint40 public constant DEFAULT_VALIDITY = 28 days;
    /// @notice Longest validity a prescription may be issued with.
    uint40 public constant MAX_VALIDITY = 365 days;
    /// @notice Largest page `getPatientFullInfo` returns.
    uint256 public constant MAX_PAGE = 50;
    /// @notice Largest sealed prescription accepted, in bytes.
    uint256 public constant MAX_PRESCRIPTION_SIZE = 16 * 1024;

    bytes32 public constant DISPENSE_TYPEHASH =
        keccak256("Dispense(uint256 prescriptionId,address pharmacy,uint256 nonce,uint256 deadline)");

    enum Status {
        None,
        Ready,
        Completed,
        Cancelled
    }

    struct Prescription {
        bytes32 patientId;
        bytes32 contentHash;
        uint32 issuer;
        Status status;
        uint40 issuedAt;
        uint40 validUntil;
        uint32 dispensedBy;
        uint40 dispensedAt;
    }

    /// @notice The hub holding institutions, patients and consent.
    IPatientSmartCard public immutable hub;

    uint256 public prescriptionCount;
    mapping(uint256 id => Prescription) internal _prescriptions;
    mapping(bytes32 patientId => uint256[]) internal _byPatient;

    event PrescriptionIssued(
        uint256 indexed id, bytes32 indexed patientId, uint32 indexed issuer, bytes32 contentHash, uint40 validUntil
    );
    event PrescriptionDispensed(uint256 indexed id, bytes32 indexed patientId, uint32 indexed pharmacy);
    event PrescriptionCancelled(uint256 indexed id, bytes32 indexed patientId, uint32 indexed issuer);

    error EmptyPrescription();
    error PrescriptionTooLarge(uint256 size);
    error InvalidValidity(uint40 validUntil);
    error NoSuchPrescription(uint256 id);
    error AlreadyDispensed(uint256 id);
    error AlreadyCancelled(uint256 id);
    error PrescriptionExpired(uint256 id, uint40 validUntil);
    error NotIssuer(uint256 id, uint32 caller);
    error SignatureExpired(uint256 deadline);

    constructor(IPatientSmartCard hub_) {
        hub = hub_;
    }

    /// @notice The admin registers a pharmacy (its institution address, which then adds its kiosks).
    function registerPharmacy(address pharmacy) external returns (uint32 id) {
        return hub.registerInstitutionBy(msg.sender, pharmacy, Role.Pharmacy);
    }

    /// @notice A hospital kiosk with the patient's PRESCRIBE consent issues a prescription, ready at once.
    /// @param validUntil End of validity (0: DEFAULT_VALIDITY from now).
    /// @param sealedPrescription The MedicationRequest encrypted for the patient's card and the hospital.
    function issuePrescription(bytes32 patientId, uint40 validUntil, bytes calldata sealedPrescription)
        external
        returns (uint256 id)
    {
        (, uint32 issuer) = hub.authorize(msg.sender, patientId, Role.Hospital, Scope.PRESCRIBE);
        uint256 size = sealedPrescription.length;
        if (size == 0) revert EmptyPrescription();
        if (size > MAX_PRESCRIPTION_SIZE) revert PrescriptionTooLarge(size);
        uint40 now_ = uint40(block.timestamp);
        if (validUntil == 0) {
            validUntil = now_ + DEFAULT_VALIDITY;
        } else if (validUntil <= now_ || validUntil > now_ + MAX_VALIDITY) {
            revert InvalidValidity(validUntil);
        }
        id = ++prescriptionCount;
        bytes32 contentHash = keccak256(sealedPrescription);
        _prescriptions[id] = Prescription({
            patientId: patientId,
            contentHash: contentHash,
            issuer: issuer,
            status: Status.Ready,
            issuedAt: now_,
            validUntil: validUntil,
            dispensedBy: 0,
            dispensedAt: 0
        });
        _byPatient[patientId].push(id);
        emit PrescriptionIssued(id, patientId, issuer, contentHash, validUntil);
    }

    /// @notice The issuing hospital cancels a prescription that is still ready.
    function cancelPrescription(uint256 id) external {
        Prescription storage p = _existing(id);
        (, uint32 caller) = hub.institutionOf(msg.sender, Role.Hospital);
        if (p.issuer != caller) revert NotIssuer(id, caller);
        _requireReady(id, p);
        p.status = Status.Cancelled;
        emit PrescriptionCancelled(id, p.patientId, caller);
    }

    /// @notice A pharmacy kiosk holding the patient's DISPENSE consent (granted when the card was inserted)
    /// dispenses a ready, unexpired prescription on the patient's card signature over
    /// Dispense(id, pharmacy, nonce, deadline), nonce being the card's current nonce. Exactly once.
    function dispensePrescription(uint256 id, uint256 deadline, CardSig calldata sig) external {
        Prescription storage p = _existing(id);
        bytes32 patientId = p.patientId;
        (address pharmacy, uint32 pharmacyId) = hub.authorize(msg.sender, patientId, Role.Pharmacy, Scope.DISPENSE);
        _requireReady(id, p);
        if (block.timestamp > p.validUntil) revert PrescriptionExpired(id, p.validUntil);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        uint256 nonce = hub.useNonce(patientId);
        hub.verifyCardSignature(patientId, keccak256(abi.encode(DISPENSE_TYPEHASH, id, pharmacy, nonce, deadline)), sig);
        p.status = Status.Completed;
        p.dispensedBy = pharmacyId;
        p.dispensedAt = uint40(block.timestamp);
        emit PrescriptionDispensed(id, patientId, pharmacyId);
    }

    /// @notice One prescription.
    function getPrescription(uint256 id) external view returns (Prescription memory) {
        return _existing(id);
    }

    /// @notice The paper's getPatientFullInfo, for a pharmacy kiosk holding the patient's READ consent: the card
    /// key hash and nonce (to have the card sign a dispense), the consent's end, and a page of prescriptions.
    function getPatientFullInfo(bytes32 patientId, uint256 offset, uint256 limit)
        external
        view
        returns (
            bytes32 cardKeyHash,
            uint256 nonce,
            uint256[] memory ids,
            Prescription[] memory page,
            uint256 total
        )
    {
        hub.authorize(msg.sender, patientId, Role.Pharmacy, Scope.READ);
        cardKeyHash = hub.cardKeyOf(patientId);
        nonce = hub.nonces(patientId);
        uint256[] storage all = _byPatient[patientId];
        total = all.length;
        if (limit > MAX_PAGE) limit = MAX_PAGE;
        uint256 end = offset >= total ? offset : (offset + limit > total ? total : offset + limit);
        ids = new uint256[](end - offset);
        page = new Prescription[](end - offset);
        for (uint256 i = offset; i < end; ++i) {
            ids[i - offset] = all[i];
            page[i - offset] = _prescriptions[all[i]];
        }
    }

    function _existing(uint256 id) internal view returns (Prescription storage p) {
        p = _prescriptions[id];
        if (p.status == Status.None) revert NoSuchPrescription(id);
    }

    function _requireReady(uint256 id, Prescription storage p) internal view {
        Status s = p.status;
        if (s == Status.Completed) revert AlreadyDispensed(id);
        if (s == Status.Cancelled) revert AlreadyCancelled(id);
    }
}
