// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Role, Scope, CardSig, ConsentTerms, IPatientSmartCard, Envelope, IPrescriptionList} from "./CareTypes.sol";

/// @title PharmacyAccess
/// @notice Pharmacies and e-prescriptions, following gematik's lifecycle: a hospital issues a prescription
/// (ready), optionally with a token key for a representative; a registered pharmacy dispenses it in parts of 10,000
/// (basis points, so the chain never learns a quantity) on the patient's card signature over
/// Dispense(prescriptionId, pharmacy, part, contentHash, nonce, deadline), the proof of presence (partial, then
/// completed once the parts reach 10,000), or the whole rest at once on the token key's signature over
/// DispenseByToken(prescriptionId, pharmacy, contentHash, deadline) (completed), provided its issuer is still active;
/// until completed it may be cancelled by the issuer, by the admin (a recall) or by the patient's card; it expires
/// after its validity. The prescription and every dispense (the FHIR MedicationDispense) travel encrypted in calldata
/// (version-3 envelopes).
contract PharmacyAccess {
    /// @notice Default validity of a prescription (28 days, as for German statutory prescriptions).
    uint40 public constant DEFAULT_VALIDITY = 28 days;
    /// @notice Longest validity a prescription may be issued with.
    uint40 public constant MAX_VALIDITY = 365 days;
    /// @notice Largest page `getPatientFullInfo` returns.
    uint256 public constant MAX_PAGE = 50;
    /// @notice Largest padded plaintext (envelope bucket) a sealed prescription or dispense may have.
    uint256 public constant MAX_BUCKET = 16384;
    /// @notice The whole prescription, in the basis points a dispense's part is counted in.
    uint16 public constant WHOLE = 10_000;
    /// @notice How old a card's cancel signature may be when it lands (as the hub's consent signatures).
    uint64 public constant MAX_SIGNATURE_AGE = 1 hours;
    /// @notice How far ahead of the block time a card's signing time may be (as the hub's).
    uint64 public constant MAX_CLOCK_SKEW = 5 minutes;

    bytes32 public constant DISPENSE_TYPEHASH = keccak256(
        "Dispense(uint256 prescriptionId,address pharmacy,uint16 part,bytes32 contentHash,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant DISPENSE_BY_TOKEN_TYPEHASH =
        keccak256("DispenseByToken(uint256 prescriptionId,address pharmacy,bytes32 contentHash,uint256 deadline)");
    /// @notice The pharmacy step's struct (the hub verifies it: `PatientSmartCard.DISPENSE_WITH_CONSENT_TYPEHASH`).
    bytes32 public constant DISPENSE_WITH_CONSENT_TYPEHASH = keccak256(
        "DispenseWithConsent(Consent consent,Dispense dispense)Consent(bytes32 patientId,address institution,uint8 scope,uint64 validUntil,uint64 epoch,uint64 signedAt)Dispense(uint256 prescriptionId,address pharmacy,uint16 part,bytes32 contentHash,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant CANCEL_TYPEHASH = keccak256("CancelPrescription(uint256 prescriptionId,uint64 signedAt)");

    /// @dev Partial is appended so the earlier values (the kiosk's store reads 1, 2, 3) stay.
    enum Status {
        None,
        Ready,
        Completed,
        Cancelled,
        Partial
    }

    /// @notice A prescription as `getPrescription` and `getPatientFullInfo` return it. The patient id, the sealed
    /// prescription's whole hash and the time it was issued are in its `PrescriptionIssued` event, each dispense's
    /// pharmacy and time in its `PrescriptionDispensed` event (the kiosks read them there); the chain keeps the
    /// first 12 bytes of the patient id, which every call about the prescription checks the patient it names
    /// against, and the first 4 bytes of the hash, for `cancelPrescription`'s check.
    struct Prescription {
        bytes12 patientPrefix;
        bytes4 contentHashPrefix;
        uint32 issuer;
        Status status;
        uint40 validUntil;
        uint16 dispensedBps;
        bytes32 tokenKeyHash;
    }

    /// @dev A prescription as stored: one packed slot that a dispense reads and writes (issuer, status, validity,
    /// the parts dispensed so far, the patient's previous prescription — the per-patient list is linked through
    /// it —, the first 12 bytes of the patient id and the first 4 bytes of the sealed prescription's hash), and the
    /// token key's hash, written only when there is a token and read only by a token dispense. The patient id itself
    /// is not stored: every call about a prescription names its patient (as the kiosk read it from
    /// `PrescriptionIssued`) and is refused (`WrongPatient`) unless the id starts with the stored 12 bytes —
    /// passing another patient off as this one takes a registered patient whose card key hashes to the same 96 bits
    /// (a 2^96 search). Times are uint32 (seconds, to 2106); ids below 2^40 (HospitalRecord's list checks it).
    struct StoredPrescription {
        uint32 issuer;
        Status status;
        uint32 validUntil;
        uint16 dispensedBps;
        uint40 previous;
        bytes12 patientPrefix;
        bytes4 contentHashPrefix;
        bytes32 tokenKeyHash;
    }

    /// @dev What `dispenseWithConsent` carries between its parts (in memory: the stack is full of its arguments).
    struct Step {
        bytes32 patientId;
        address pharmacy;
        uint32 pharmacyId;
        uint16 dispensed;
        bytes32 contentHash;
    }

    /// @notice The hub holding institutions, patients and consent.
    IPatientSmartCard public immutable hub;

    uint256 public prescriptionCount;
    mapping(uint256 id => StoredPrescription) internal _prescriptions;

    event PrescriptionIssued(
        uint256 indexed id, bytes32 indexed patientId, uint32 indexed issuer, bytes32 contentHash, uint40 validUntil
    );
    event PrescriptionDispensed(
        uint256 indexed id,
        bytes32 indexed patientId,
        uint32 indexed pharmacy,
        uint16 part,
        bool byToken,
        bytes32 contentHash
    );
    event PrescriptionCancelled(uint256 indexed id, bytes32 indexed patientId, uint32 indexed issuer);

    error InvalidValidity(uint40 validUntil);
    error NoSuchPrescription(uint256 id);
    error AlreadyDispensed(uint256 id);
    error AlreadyCancelled(uint256 id);
    error PrescriptionExpired(uint256 id, uint40 validUntil);
    error NotIssuer(uint256 id, uint32 caller);
    /// @notice The patient a call names is not the prescription's (its id does not start with the prescription's
    /// stored 12 bytes): nothing happens; the kiosk names the patient of the prescription's `PrescriptionIssued`.
    error WrongPatient(uint256 id, bytes32 patientId);
    /// @notice The prescription under this number is not the one the doctor cancelled (a reorganisation of the
    /// chain renumbered prescriptions): nothing is cancelled.
    error PrescriptionChanged(uint256 id, bytes32 expected, bytes32 actual);
    error SignatureExpired(uint256 deadline);
    error SignatureTooOld(uint64 signedAt);
    error SignatureFromFuture(uint64 signedAt);
    error IssuerInactive(uint256 id, uint32 issuer);
    error InvalidPart(uint256 id, uint16 part, uint16 dispensedBps);
    error NoToken(uint256 id);
    error InvalidToken(uint256 id);
    /// @dev The hub's error of the same name (the same selector): the consent a step grants lacks `scope`.
    error ScopeNotGranted(bytes32 patientId, address institution, uint8 scope);
    /// @dev The hub's error of the same name (the same selector): a module-only call from elsewhere.
    error NotModule(address caller);
    /// @dev HospitalRecord's errors of the same name (the same selectors), from the patient's list it keeps.
    error PrescriptionIdOutOfRange(uint256 id);
    error TooManyPrescriptions(bytes32 patientId);

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
    /// @param tokenKeyHash keccak256(x, y) of the P-256 token key printed (QR) on the prescription token for a
    /// representative, who may then have the whole prescription dispensed without the card (`dispenseByToken`);
    /// zero: no token.
    /// @param sealedPrescription The MedicationRequest sealed for the patient and the hospital: a version-3
    /// envelope of a bucket up to MAX_BUCKET.
    function issuePrescription(
        bytes32 patientId,
        uint40 validUntil,
        bytes32 tokenKeyHash,
        bytes calldata sealedPrescription
    ) external returns (uint256 id) {
        return _issue(
            msg.sender, patientId, validUntil, tokenKeyHash, sealedPrescription, IPrescriptionList(hub.hospitalRecord())
        );
    }

    /// @notice The consultation step's prescription part (`HospitalRecord.consult`, the only caller): issues as
    /// `issuePrescription` does when `kiosk` calls it, with every check of it.
    function issuePrescriptionFor(
        address kiosk,
        bytes32 patientId,
        uint40 validUntil,
        bytes32 tokenKeyHash,
        bytes calldata sealedPrescription
    ) external returns (uint256 id) {
        if (msg.sender != hub.hospitalRecord()) revert NotModule(msg.sender);
        return _issue(kiosk, patientId, validUntil, tokenKeyHash, sealedPrescription, IPrescriptionList(msg.sender));
    }

    /// @dev `list`: HospitalRecord (the hub's), which keeps the patient's list.
    function _issue(
        address kiosk,
        bytes32 patientId,
        uint40 validUntil,
        bytes32 tokenKeyHash,
        bytes calldata sealedPrescription,
        IPrescriptionList list
    ) internal returns (uint256 id) {
        (, uint32 issuer) = hub.authorize(kiosk, patientId, Role.Hospital, Scope.PRESCRIBE);
        Envelope.check(sealedPrescription, MAX_BUCKET);
        uint40 now_ = uint40(block.timestamp);
        if (validUntil == 0) {
            validUntil = now_ + DEFAULT_VALIDITY;
        } else if (validUntil <= now_ || validUntil > now_ + MAX_VALIDITY) {
            revert InvalidValidity(validUntil);
        }
        // Stored as uint32 (seconds to 2106).
        if (validUntil > type(uint32).max) revert InvalidValidity(validUntil);
        id = ++prescriptionCount;
        bytes32 contentHash = keccak256(sealedPrescription);
        StoredPrescription storage p = _prescriptions[id];
        p.issuer = issuer;
        p.status = Status.Ready;
        p.validUntil = uint32(validUntil);
        p.patientPrefix = bytes12(patientId);
        p.contentHashPrefix = bytes4(contentHash);
        // The token's slot stays untouched (and unpaid) for a prescription without a token.
        if (tokenKeyHash != 0) p.tokenKeyHash = tokenKeyHash;
        // The patient's list (how many, the newest) lives in HospitalRecord's slot for the patient, which a
        // consultation has just written: a warm write there instead of a new slot here. It refuses ids from 2^40.
        p.previous = uint40(list.linkPrescription(patientId, id));
        emit PrescriptionIssued(id, patientId, issuer, contentHash, validUntil);
    }

    /// @notice A kiosk of the issuing hospital, or the hub's admin directly (a recall: it only stops a dispense),
    /// cancels a prescription that is not completed (ready, or partly dispensed: the rest is not dispensed).
    /// @param patientId The prescription's patient (its `PrescriptionIssued` event's; `WrongPatient` otherwise).
    /// @param contentHash The sealed prescription's hash as the kiosk read it (a reorganisation can renumber
    /// prescriptions: a cancel sent again must not cancel another one — `PrescriptionChanged`, whose `actual` is the
    /// stored 4-byte prefix, zero-padded; checked before the patient); its first 4 bytes are compared; zero skips
    /// the check.
    function cancelPrescription(uint256 id, bytes32 patientId, bytes32 contentHash) external {
        StoredPrescription storage p = _existing(id);
        if (contentHash != bytes32(0) && bytes4(contentHash) != p.contentHashPrefix) {
            revert PrescriptionChanged(id, contentHash, bytes32(p.contentHashPrefix));
        }
        _samePatient(id, p, patientId);
        if (msg.sender != hub.admin()) {
            (, uint32 caller) = hub.institutionOf(msg.sender, Role.Hospital);
            if (p.issuer != caller) revert NotIssuer(id, caller);
        }
        _cancel(id, p, patientId);
    }

    /// @notice Anyone submits the patient's card signature over CancelPrescription(prescriptionId, signedAt), at
    /// most MAX_SIGNATURE_AGE old; the prescription, if not completed, is cancelled. `patientId`: the
    /// prescription's patient (`WrongPatient` otherwise), whose current card must have signed.
    function cancelPrescriptionByPatient(uint256 id, bytes32 patientId, uint64 signedAt, CardSig calldata sig)
        external
    {
        StoredPrescription storage p = _ofPatient(id, patientId);
        if (uint256(signedAt) + MAX_SIGNATURE_AGE < block.timestamp) revert SignatureTooOld(signedAt);
        if (signedAt > block.timestamp + MAX_CLOCK_SKEW) revert SignatureFromFuture(signedAt);
        hub.verifyCardSignature(patientId, keccak256(abi.encode(CANCEL_TYPEHASH, id, signedAt)), sig);
        _cancel(id, p, patientId);
    }

    /// @notice A pharmacy kiosk holding the patient's DISPENSE consent (granted when the card was inserted)
    /// dispenses `part` of a ready or partly dispensed, unexpired prescription, counted in parts of WHOLE (10,000),
    /// on the patient's card signature over Dispense(id, pharmacy, part, contentHash, nonce, deadline), contentHash
    /// being keccak256(sealedDispense) and nonce the card's current nonce. The prescription is completed once its
    /// parts reach WHOLE; `part` must be at least 1 and at most what is left (`InvalidPart`).
    /// @param sealedDispense The FHIR MedicationDispense (batch, quantity, substitution) sealed for the patient's
    /// history key and the pharmacy: a version-3 envelope of a bucket up to MAX_BUCKET, kept in calldata and the
    /// event (the dispense is part of the patient's record).
    /// @param patientId The prescription's patient (its `PrescriptionIssued` event's; `WrongPatient` otherwise),
    /// whose current card signs.
    function dispensePrescription(
        uint256 id,
        bytes32 patientId,
        uint16 part,
        uint256 deadline,
        bytes calldata sealedDispense,
        CardSig calldata sig
    ) external {
        StoredPrescription storage p = _ofPatient(id, patientId);
        (address pharmacy, uint32 pharmacyId) = hub.authorize(msg.sender, patientId, Role.Pharmacy, Scope.DISPENSE);
        uint16 dispensed = _checkDispensable(id, p, deadline, sealedDispense);
        if (part == 0 || part > WHOLE - dispensed) revert InvalidPart(id, part, dispensed);
        bytes32 contentHash = _useCardSignature(patientId, id, pharmacy, part, deadline, sealedDispense, sig);
        _dispense(p, dispensed + part);
        emit PrescriptionDispensed(id, patientId, pharmacyId, part, false, contentHash);
    }

    /// @notice The pharmacy step, one transaction at the counter (docs/design-v2.md, "Step functions"): the
    /// pharmacy's consent `consent` (checked as `grantConsent` checks it; it must include DISPENSE) and a dispense of
    /// `part` (as `dispensePrescription`, partial dispenses included), on one card signature over
    /// DispenseWithConsent(Consent consent, Dispense dispense) — the Dispense struct with the card's current nonce.
    /// The consent authorises this dispense (the nonce makes the signature single-use) and is not stored: the
    /// pharmacy holds no standing consent after it. `patientId` as for `dispensePrescription`.
    /// Checks in the single calls' order: the prescription exists; the consent's (caller, role, scope, epoch,
    /// freshness, order, window); DISPENSE in the scope; the dispense's; the card's nonce, then the signature.
    function dispenseWithConsent(
        uint256 id,
        bytes32 patientId,
        uint16 part,
        uint256 deadline,
        bytes calldata sealedDispense,
        ConsentTerms calldata consent,
        CardSig calldata sig
    ) external {
        StoredPrescription storage p = _ofPatient(id, patientId);
        Step memory st =
            Step({patientId: patientId, pharmacy: address(0), pharmacyId: 0, dispensed: 0, contentHash: 0});
        (st.pharmacy, st.pharmacyId) = hub.checkConsentFor(msg.sender, st.patientId, Role.Pharmacy, consent);
        if (consent.scope & Scope.DISPENSE == 0) revert ScopeNotGranted(st.patientId, st.pharmacy, Scope.DISPENSE);
        st.dispensed = _checkPart(id, p, part, deadline, sealedDispense);
        st.contentHash = keccak256(sealedDispense);
        bytes32 dispenseHash = _dispenseHash(st.patientId, id, st.pharmacy, part, st.contentHash, deadline);
        hub.useConsentFor(msg.sender, st.patientId, consent, dispenseHash, sig);
        _dispense(p, st.dispensed + part);
        emit PrescriptionDispensed(id, st.patientId, st.pharmacyId, part, false, st.contentHash);
    }

    /// @notice A kiosk of an active pharmacy dispenses the whole rest of a prescription issued with a token, without
    /// the card and without consent, on the token key's signature over DispenseByToken(id, pharmacy, contentHash,
    /// deadline) (the hub's EIP-712 domain; contentHash = keccak256(sealedDispense)); the prescription is completed.
    /// The signature names the pharmacy, so it is worthless at any other; a completed, cancelled or expired
    /// prescription refuses it.
    /// @param patientId The prescription's patient (its `PrescriptionIssued` event's: the kiosk looks it up by the
    /// token's prescription id; `WrongPatient` otherwise), for the dispense's event.
    /// @param tokenSig The token key's public point (it must hash to the prescription's tokenKeyHash) and signature.
    function dispenseByToken(
        uint256 id,
        bytes32 patientId,
        uint256 deadline,
        bytes calldata sealedDispense,
        CardSig calldata tokenSig
    ) external {
        StoredPrescription storage p = _ofPatient(id, patientId);
        (address pharmacy, uint32 pharmacyId) = hub.institutionOf(msg.sender, Role.Pharmacy);
        uint16 dispensed = _checkDispensable(id, p, deadline, sealedDispense);
        bytes32 contentHash = _useTokenSignature(p, id, pharmacy, deadline, sealedDispense, tokenSig);
        _dispense(p, WHOLE);
        emit PrescriptionDispensed(id, patientId, pharmacyId, WHOLE - dispensed, true, contentHash);
    }

    /// @notice One prescription.
    function getPrescription(uint256 id) external view returns (Prescription memory) {
        return _view(_existing(id));
    }

    /// @notice The paper's getPatientFullInfo, for a pharmacy kiosk holding the patient's READ consent: the card
    /// key hash and nonce (to have the card sign a dispense) and a page of prescriptions, newest first (offset 0 is
    /// the most recent), each with its status and the parts dispensed so far.
    function getPatientFullInfo(bytes32 patientId, uint256 offset, uint256 limit)
        external
        view
        returns (bytes32 cardKeyHash, uint256 nonce, uint256[] memory ids, Prescription[] memory page, uint256 total)
    {
        hub.authorize(msg.sender, patientId, Role.Pharmacy, Scope.READ);
        cardKeyHash = hub.cardKeyOf(patientId);
        nonce = hub.nonces(patientId);
        uint256 id;
        (total, id) = IPrescriptionList(hub.hospitalRecord()).prescriptionsOf(patientId);
        if (limit > MAX_PAGE) limit = MAX_PAGE;
        uint256 end = offset >= total ? offset : (offset + limit > total ? total : offset + limit);
        ids = new uint256[](end - offset);
        page = new Prescription[](end - offset);
        for (uint256 i; i < offset && i < total; ++i) {
            id = _prescriptions[id].previous;
        }
        for (uint256 i = offset; i < end; ++i) {
            StoredPrescription storage p = _prescriptions[id];
            ids[i - offset] = id;
            page[i - offset] = _view(p);
            id = p.previous;
        }
    }

    function _view(StoredPrescription storage p) internal view returns (Prescription memory) {
        return Prescription({
            patientPrefix: p.patientPrefix,
            contentHashPrefix: p.contentHashPrefix,
            issuer: p.issuer,
            status: p.status,
            validUntil: p.validUntil,
            dispensedBps: p.dispensedBps,
            tokenKeyHash: p.tokenKeyHash
        });
    }

    function _existing(uint256 id) internal view returns (StoredPrescription storage p) {
        p = _prescriptions[id];
        if (p.status == Status.None) revert NoSuchPrescription(id);
    }

    /// @dev The prescription, which must exist, of `patientId` (`WrongPatient` otherwise).
    function _ofPatient(uint256 id, bytes32 patientId) internal view returns (StoredPrescription storage p) {
        p = _existing(id);
        _samePatient(id, p, patientId);
    }

    /// @dev Reverts `WrongPatient` unless `patientId` starts with the prescription's stored 12 bytes.
    function _samePatient(uint256 id, StoredPrescription storage p, bytes32 patientId) internal view {
        if (bytes12(patientId) != p.patientPrefix) revert WrongPatient(id, patientId);
    }

    function _cancel(uint256 id, StoredPrescription storage p, bytes32 patientId) internal {
        _requireReady(id, p);
        p.status = Status.Cancelled;
        emit PrescriptionCancelled(id, patientId, p.issuer);
    }

    /// @dev Reverts unless the prescription is ready or partly dispensed (`AlreadyDispensed` when completed).
    function _requireReady(uint256 id, StoredPrescription storage p) internal view {
        Status s = p.status;
        if (s == Status.Completed) revert AlreadyDispensed(id);
        if (s == Status.Cancelled) revert AlreadyCancelled(id);
    }

    /// @dev The checks every dispense shares, after the caller's: not completed or cancelled, not expired, the
    /// issuer still active, the signature's deadline not passed, the sealed dispense a version-3 envelope. Returns
    /// the parts dispensed so far.
    function _checkDispensable(
        uint256 id,
        StoredPrescription storage p,
        uint256 deadline,
        bytes calldata sealedDispense
    ) internal view returns (uint16 dispensed) {
        _requireReady(id, p);
        if (block.timestamp > p.validUntil) revert PrescriptionExpired(id, p.validUntil);
        uint32 issuer = p.issuer;
        (, bool issuerActive,) = hub.institutions(hub.institutionAddress(issuer));
        if (!issuerActive) revert IssuerInactive(id, issuer);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        Envelope.check(sealedDispense, MAX_BUCKET);
        return p.dispensedBps;
    }

    /// @dev Uses the card's nonce and checks its signature over Dispense(id, pharmacy, part, contentHash, nonce,
    /// deadline); returns contentHash, keccak256(sealedDispense).
    function _useCardSignature(
        bytes32 patientId,
        uint256 id,
        address pharmacy,
        uint16 part,
        uint256 deadline,
        bytes calldata sealedDispense,
        CardSig calldata sig
    ) internal returns (bytes32 contentHash) {
        contentHash = keccak256(sealedDispense);
        uint256 nonce = hub.useNonce(patientId);
        bytes32 structHash = keccak256(abi.encode(DISPENSE_TYPEHASH, id, pharmacy, part, contentHash, nonce, deadline));
        hub.verifyCardSignature(patientId, structHash, sig);
    }

    /// @dev `_checkDispensable`, then the part: at least 1 and at most what is left (`InvalidPart`). Returns the
    /// parts dispensed so far.
    function _checkPart(
        uint256 id,
        StoredPrescription storage p,
        uint16 part,
        uint256 deadline,
        bytes calldata sealedDispense
    ) internal view returns (uint16 dispensed) {
        dispensed = _checkDispensable(id, p, deadline, sealedDispense);
        if (part == 0 || part > WHOLE - dispensed) revert InvalidPart(id, part, dispensed);
    }

    /// @dev Uses the card's nonce; returns the hash of Dispense(id, pharmacy, part, contentHash, nonce, deadline).
    function _dispenseHash(
        bytes32 patientId,
        uint256 id,
        address pharmacy,
        uint16 part,
        bytes32 contentHash,
        uint256 deadline
    ) internal returns (bytes32) {
        uint256 nonce = hub.useNonce(patientId);
        return keccak256(abi.encode(DISPENSE_TYPEHASH, id, pharmacy, part, contentHash, nonce, deadline));
    }

    /// @dev Checks the token key's signature over DispenseByToken(id, pharmacy, contentHash, deadline): the
    /// prescription has a token (`NoToken`), the signing key is its token key (`InvalidToken`) and the signature is
    /// valid under the hub's domain; returns contentHash, keccak256(sealedDispense).
    function _useTokenSignature(
        StoredPrescription storage p,
        uint256 id,
        address pharmacy,
        uint256 deadline,
        bytes calldata sealedDispense,
        CardSig calldata tokenSig
    ) internal view returns (bytes32 contentHash) {
        bytes32 tokenKeyHash = p.tokenKeyHash;
        if (tokenKeyHash == 0) revert NoToken(id);
        if (keccak256(abi.encode(tokenSig.qx, tokenSig.qy)) != tokenKeyHash) revert InvalidToken(id);
        contentHash = keccak256(sealedDispense);
        bytes32 structHash = keccak256(abi.encode(DISPENSE_BY_TOKEN_TYPEHASH, id, pharmacy, contentHash, deadline));
        hub.verifyKeySignature(tokenKeyHash, structHash, tokenSig);
    }

    /// @dev Records a dispense, the parts dispensed becoming `dispensed` (completed at WHOLE); which pharmacy and
    /// when are the `PrescriptionDispensed` event's.
    function _dispense(StoredPrescription storage p, uint16 dispensed) internal {
        p.status = dispensed == WHOLE ? Status.Completed : Status.Partial;
        p.dispensedBps = dispensed;
    }
}
