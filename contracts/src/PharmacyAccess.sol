// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Role, Scope, CardSig, IPatientSmartCard, Envelope} from "./CareTypes.sol";

/// @title PharmacyAccess
/// @notice Pharmacies and e-prescriptions, following gematik's lifecycle: a hospital issues a prescription
/// (ready); a registered pharmacy dispenses it exactly once on the patient's card signature over
/// Dispense(prescriptionId, pharmacy, nonce, deadline), the proof of presence (completed), provided its issuer is
/// still active; while ready it may be cancelled by the issuer, by the admin (a recall) or by the patient's card; it
/// expires after its validity. The prescription itself travels encrypted in calldata (a version-2 envelope).
contract PharmacyAccess {
    /// @notice Default validity of a prescription (28 days, as for German statutory prescriptions).
    uint40 public constant DEFAULT_VALIDITY = 28 days;
    /// @notice Longest validity a prescription may be issued with.
    uint40 public constant MAX_VALIDITY = 365 days;
    /// @notice Largest page `getPatientFullInfo` returns.
    uint256 public constant MAX_PAGE = 50;
    /// @notice Largest padded plaintext (envelope bucket) a sealed prescription may have.
    uint256 public constant MAX_BUCKET = 16384;
    /// @notice How old a card's cancel signature may be when it lands (as the hub's consent signatures).
    uint64 public constant MAX_SIGNATURE_AGE = 1 hours;
    /// @notice How far ahead of the block time a card's signing time may be (as the hub's).
    uint64 public constant MAX_CLOCK_SKEW = 5 minutes;

    bytes32 public constant DISPENSE_TYPEHASH =
        keccak256("Dispense(uint256 prescriptionId,address pharmacy,uint256 nonce,uint256 deadline)");
    bytes32 public constant CANCEL_TYPEHASH = keccak256("CancelPrescription(uint256 prescriptionId,uint64 signedAt)");

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

    error InvalidValidity(uint40 validUntil);
    error NoSuchPrescription(uint256 id);
    error AlreadyDispensed(uint256 id);
    error AlreadyCancelled(uint256 id);
    error PrescriptionExpired(uint256 id, uint40 validUntil);
    error NotIssuer(uint256 id, uint32 caller);
    error SignatureExpired(uint256 deadline);
    error SignatureTooOld(uint64 signedAt);
    error SignatureFromFuture(uint64 signedAt);
    error IssuerInactive(uint256 id, uint32 issuer);

    constructor(IPatientSmartCard hub_) {
        hub = hub_;
    }

    /// @notice Governance registers a pharmacy (its institution address, which then offers its kiosks); reached
    /// through the hub's `execute`.
    function registerPharmacy(address pharmacy) external returns (uint32 id) {
        return hub.registerInstitutionBy(msg.sender, pharmacy, Role.Pharmacy);
    }

    /// @notice A hospital kiosk with the patient's PRESCRIBE consent issues a prescription, ready at once.
    /// @param validUntil End of validity (0: DEFAULT_VALIDITY from now).
    /// @param sealedPrescription The MedicationRequest sealed for the patient's card and the hospital: a version-2
    /// envelope of a bucket up to MAX_BUCKET.
    function issuePrescription(bytes32 patientId, uint40 validUntil, bytes calldata sealedPrescription)
        external
        returns (uint256 id)
    {
        (, uint32 issuer) = hub.authorize(msg.sender, patientId, Role.Hospital, Scope.PRESCRIBE);
        Envelope.check(sealedPrescription, MAX_BUCKET);
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

    /// @notice A kiosk of the issuing hospital, or the hub's admin directly (a recall: it only stops a dispense),
    /// cancels a prescription that is still ready.
    function cancelPrescription(uint256 id) external {
        Prescription storage p = _existing(id);
        if (msg.sender != hub.admin()) {
            (, uint32 caller) = hub.institutionOf(msg.sender, Role.Hospital);
            if (p.issuer != caller) revert NotIssuer(id, caller);
        }
        _cancel(id, p);
    }

    /// @notice Anyone submits the patient's card signature over CancelPrescription(prescriptionId, signedAt), at
    /// most MAX_SIGNATURE_AGE old; the prescription, if still ready, is cancelled.
    function cancelPrescriptionByPatient(uint256 id, uint64 signedAt, CardSig calldata sig) external {
        Prescription storage p = _existing(id);
        if (uint256(signedAt) + MAX_SIGNATURE_AGE < block.timestamp) revert SignatureTooOld(signedAt);
        if (signedAt > block.timestamp + MAX_CLOCK_SKEW) revert SignatureFromFuture(signedAt);
        hub.verifyCardSignature(p.patientId, keccak256(abi.encode(CANCEL_TYPEHASH, id, signedAt)), sig);
        _cancel(id, p);
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
        uint32 issuer = p.issuer;
        (, bool issuerActive,) = hub.institutions(hub.institutionAddress(issuer));
        if (!issuerActive) revert IssuerInactive(id, issuer);
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
    /// key hash and nonce (to have the card sign a dispense) and a page of prescriptions, newest first (offset 0 is
    /// the most recent).
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
            uint256 id = all[total - 1 - i];
            ids[i - offset] = id;
            page[i - offset] = _prescriptions[id];
        }
    }

    function _existing(uint256 id) internal view returns (Prescription storage p) {
        p = _prescriptions[id];
        if (p.status == Status.None) revert NoSuchPrescription(id);
    }

    function _cancel(uint256 id, Prescription storage p) internal {
        _requireReady(id, p);
        p.status = Status.Cancelled;
        emit PrescriptionCancelled(id, p.patientId, p.issuer);
    }

    function _requireReady(uint256 id, Prescription storage p) internal view {
        Status s = p.status;
        if (s == Status.Completed) revert AlreadyDispensed(id);
        if (s == Status.Cancelled) revert AlreadyCancelled(id);
    }
}
