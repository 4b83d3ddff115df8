// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {
    Role,
    Scope,
    CardSig,
    ConsentTerms,
    IPatientSmartCard,
    Envelope,
    PrescriptionOrder,
    IPrescriber,
    IClaimant
} from "./CareTypes.sol";

/// @title HospitalRecord
/// @notice Hospitals and the patient's medical record. A record is an encrypted blob that travels only in the
/// transaction's calldata; the chain keeps, per patient, a hash chain over the records' content hashes and
/// headers (author, time, the version it supersedes), so a missing or reordered record is detectable. The record's
/// kind travels inside the encryption. Nothing is ever deleted: an amendment is a new version pointing at the one
/// it supersedes.
contract HospitalRecord {
    /// @notice Largest padded plaintext (envelope bucket) a sealed record may have.
    uint256 public constant MAX_BUCKET = 65536;
    /// @notice Largest page `getMedicalRecords` returns.
    uint256 public constant MAX_PAGE = 100;
    /// @notice Most records one `recordVisit` appends.
    uint256 public constant MAX_VISIT_RECORDS = 8;
    /// @notice Most prescriptions one `consult` issues.
    uint256 public constant MAX_VISIT_PRESCRIPTIONS = 8;

    /// @notice One entry of a patient's record chain: its author, time, and the superseded index plus one (0: an
    /// original entry).
    /// @dev Two entries share a storage slot (entry 2k in the low 128 bits, 2k + 1 in the high 128; in each half,
    /// from the low bits: supersedes 24, time 32, author 32, and the claim that billed it 40 — written once, by
    /// InsuranceProvider through `bill`). An entry's chain hash, bytes20(keccak256(abi.encode(patientId, index,
    /// previous chain hash, contentHash, author, time, supersedes))), is in its `RecordAdded` event; the chain's head
    /// is stored (`headOf`), so a missing or reordered entry is still detectable against it.
    struct Record {
        uint32 author;
        uint32 time;
        uint24 supersedes;
    }

    /// @notice The hub holding institutions, patients and consent.
    IPatientSmartCard public immutable hub;

    /// @dev Per patient, in one slot: the number of entries and the head of the chain, and the patient's
    /// prescription list that PharmacyAccess keeps here (`linkPrescription`): how many, and the newest (each
    /// prescription links to the one before). The consultation step writes this slot for its records before it
    /// issues its prescriptions, so the list costs it a warm write instead of a new slot.
    struct ChainState {
        uint32 count;
        bytes20 head;
        uint24 prescriptions;
        uint40 latestPrescription;
    }

    mapping(bytes32 patientId => ChainState) internal _chains;
    mapping(bytes32 patientId => mapping(uint256 pair => uint256 packed)) internal _records;

    event RecordAdded(
        bytes32 indexed patientId,
        uint256 indexed index,
        uint32 indexed author,
        uint24 supersedes,
        bytes32 contentHash,
        bytes20 chainHash
    );

    error NoSuchRecord(bytes32 patientId, uint256 index);
    error NotRecordAuthor(bytes32 patientId, uint256 index, uint32 author);
    error TooManyRecords(bytes32 patientId);
    error InvalidRecordCount(uint256 count);
    error InvalidPrescriptionCount(uint256 count);
    /// @dev The hub's error of the same name (the same selector): only InsuranceProvider may mark an entry billed.
    error NotModule(address caller);
    /// @dev A claim id that does not fit an entry's 40 bits (never reached: claims are numbered from 1, one a call).
    error ClaimIdOutOfRange(uint256 claimId);
    /// @dev A prescription id that does not fit the list's 40 bits (never reached: prescriptions are numbered from
    /// 1, one a call).
    error PrescriptionIdOutOfRange(uint256 id);
    /// @dev A patient's prescription list is full (2^24 - 1 prescriptions).
    error TooManyPrescriptions(bytes32 patientId);
    /// @dev The hub's error of the same name (the same selector): the consent a step grants lacks `scope`.
    error ScopeNotGranted(bytes32 patientId, address institution, uint8 scope);

    constructor(IPatientSmartCard hub_) {
        hub = hub_;
    }

    /// @notice Governance registers a hospital (its institution address, which then offers its kiosks); reached
    /// through the hub's `execute`.
    function registerHospital(address hospital) external returns (uint32 id) {
        return hub.registerInstitutionBy(msg.sender, hospital, Role.Hospital);
    }

    /// @notice A hospital kiosk with the patient's WRITE consent appends an encrypted record.
    /// @param sealedRecord A version-3 envelope of one of the bucket sizes (the kind is inside the encryption).
    function addMedicalRecord(bytes32 patientId, bytes calldata sealedRecord) external returns (uint256 index) {
        (, uint32 author) = hub.authorize(msg.sender, patientId, Role.Hospital, Scope.WRITE);
        return _append(patientId, author, 0, sealedRecord);
    }

    /// @notice The registration step, one transaction at reception (docs/design-v2.md, "Step functions"): registers
    /// the patient whose card holds `sig`'s key (as `PatientSmartCard.registerPatient`), stores the hospital's consent
    /// `consent` (as `grantConsent`, at the new patient's epoch 1; it must include WRITE) and appends the
    /// demographics record `sealedRecord` (as `addMedicalRecord`). The card signs once, over
    /// RegisterWithConsent(RegisterPatient registration, Consent consent). Any part refused: nothing happens.
    /// @return patientId keccak256 of the card key; index the demographics record's index (0).
    function registerAndConsent(
        uint256 deadline,
        bytes32 recoveryKeyHash,
        bytes calldata keyBundle,
        ConsentTerms calldata consent,
        bytes calldata sealedRecord,
        CardSig calldata sig
    ) external returns (bytes32 patientId, uint256 index) {
        uint32 author;
        (patientId, author) = hub.registerWithConsentFor(
            msg.sender, deadline, recoveryKeyHash, keccak256(keyBundle), keyBundle.length, consent, sig
        );
        if (consent.scope & Scope.WRITE == 0) {
            revert ScopeNotGranted(patientId, hub.kioskInstitution(msg.sender), Scope.WRITE);
        }
        index = _append(patientId, author, 0, sealedRecord);
    }

    /// @notice The diagnosis step, one transaction at the doctor's desk: a hospital kiosk with the patient's WRITE
    /// consent appends 1 to MAX_VISIT_RECORDS records (the condition and the care plan), each checked as
    /// `addMedicalRecord` checks one; any malformed: none is appended.
    /// @return firstIndex The index of the first record appended (the others follow it).
    function recordVisit(bytes32 patientId, bytes[] calldata sealedRecords) external returns (uint256 firstIndex) {
        return _recordVisit(patientId, sealedRecords);
    }

    /// @notice The consultation step, one transaction at the doctor's desk (docs/design-v2.md, "The consultation
    /// step"): `recordVisit`'s records (the first is the visit's diagnosis), then each of `prescriptions` issued as
    /// `PharmacyAccess.issuePrescription` would issue it for this kiosk, then, when `claimAmount` or `sealedClaim` is
    /// given, the visit billed as `InsuranceProvider.submitClaim` would bill the first record for this kiosk. Every
    /// part runs its single call's checks with this kiosk as the caller; any refused: nothing happens.
    /// @return firstIndex The diagnosis' index; firstPrescription the first prescription's id (0: none); claimId the
    /// claim's id (0: none).
    function consult(
        bytes32 patientId,
        bytes[] calldata sealedRecords,
        PrescriptionOrder[] calldata prescriptions,
        uint256 claimAmount,
        bytes calldata sealedClaim
    ) external returns (uint256 firstIndex, uint256 firstPrescription, uint256 claimId) {
        firstIndex = _recordVisit(patientId, sealedRecords);
        firstPrescription = _prescribe(patientId, prescriptions);
        if (claimAmount != 0 || sealedClaim.length != 0) {
            claimId = IClaimant(hub.insuranceProvider())
                .submitClaimFor(msg.sender, patientId, firstIndex, claimAmount, sealedClaim);
        }
    }

    function _prescribe(bytes32 patientId, PrescriptionOrder[] calldata prescriptions)
        internal
        returns (uint256 firstId)
    {
        uint256 n = prescriptions.length;
        if (n > MAX_VISIT_PRESCRIPTIONS) revert InvalidPrescriptionCount(n);
        if (n == 0) return 0;
        IPrescriber pharmacy = IPrescriber(hub.pharmacyAccess());
        for (uint256 i; i < n; ++i) {
            PrescriptionOrder calldata o = prescriptions[i];
            uint256 id = pharmacy.issuePrescriptionFor(
                msg.sender, patientId, o.validUntil, o.tokenKeyHash, o.sealedPrescription
            );
            if (i == 0) firstId = id;
        }
    }

    function _recordVisit(bytes32 patientId, bytes[] calldata sealedRecords) internal returns (uint256 firstIndex) {
        (, uint32 author) = hub.authorize(msg.sender, patientId, Role.Hospital, Scope.WRITE);
        uint256 n = sealedRecords.length;
        if (n == 0 || n > MAX_VISIT_RECORDS) revert InvalidRecordCount(n);
        firstIndex = _append(patientId, author, 0, sealedRecords[0]);
        for (uint256 i = 1; i < n; ++i) {
            _append(patientId, author, 0, sealedRecords[i]);
        }
    }

    /// @notice The author hospital amends one of its entries: a new version that supersedes `supersedesIndex`.
    function updateMedicalHistory(bytes32 patientId, uint256 supersedesIndex, bytes calldata sealedRecord)
        external
        returns (uint256 index)
    {
        (, uint32 author) = hub.authorize(msg.sender, patientId, Role.Hospital, Scope.WRITE);
        if (supersedesIndex >= _chains[patientId].count) revert NoSuchRecord(patientId, supersedesIndex);
        if (_recordAt(patientId, supersedesIndex).author != author) {
            revert NotRecordAuthor(patientId, supersedesIndex, author);
        }
        return _append(patientId, author, uint24(supersedesIndex + 1), sealedRecord);
    }

    /// @notice A page of a patient's record chain, oldest first, and the total number of entries.
    function getMedicalRecords(bytes32 patientId, uint256 offset, uint256 limit)
        external
        view
        returns (Record[] memory page, uint256 total)
    {
        total = _chains[patientId].count;
        if (limit > MAX_PAGE) limit = MAX_PAGE;
        uint256 end = offset >= total ? offset : (offset + limit > total ? total : offset + limit);
        page = new Record[](end - offset);
        for (uint256 i = offset; i < end; ++i) {
            page[i - offset] = _recordAt(patientId, i);
        }
    }

    /// @notice The number of entries in a patient's record chain.
    function recordCount(bytes32 patientId) external view returns (uint256) {
        return _chains[patientId].count;
    }

    /// @notice The institution id that authored an entry (reverts if there is none).
    function recordAuthor(bytes32 patientId, uint256 index) external view returns (uint32) {
        if (index >= _chains[patientId].count) revert NoSuchRecord(patientId, index);
        return _recordAt(patientId, index).author;
    }

    /// @notice Whether an entry is an original (not an amendment of another); reverts if there is none.
    function isOriginal(bytes32 patientId, uint256 index) external view returns (bool) {
        if (index >= _chains[patientId].count) revert NoSuchRecord(patientId, index);
        return _recordAt(patientId, index).supersedes == 0;
    }

    /// @notice The claim that billed an entry (0: none); reverts if there is no such entry.
    function billedBy(bytes32 patientId, uint256 index) external view returns (uint256) {
        if (index >= _chains[patientId].count) revert NoSuchRecord(patientId, index);
        return _half(patientId, index) >> 88;
    }

    /// @notice InsuranceProvider's claim part (the hub's `insuranceProvider`, the only caller): the entry's author,
    /// whether it is an original, and the claim that billed it before; when none did, the entry is marked billed by
    /// `claimId` (1 ≤ claimId < 2^40, else `ClaimIdOutOfRange`). InsuranceProvider refuses the claim on what this
    /// returns (a refusal reverts the mark with it). Reverts `NoSuchRecord` for an entry that does not exist.
    function bill(bytes32 patientId, uint256 index, uint256 claimId)
        external
        returns (uint32 author, bool original, uint256 previousClaim)
    {
        if (msg.sender != hub.insuranceProvider()) revert NotModule(msg.sender);
        if (index >= _chains[patientId].count) revert NoSuchRecord(patientId, index);
        uint256 v = _half(patientId, index);
        author = uint32(v >> 56);
        original = uint24(v) == 0;
        previousClaim = v >> 88;
        if (previousClaim == 0) {
            if (claimId == 0 || claimId >> 40 != 0) revert ClaimIdOutOfRange(claimId);
            _records[patientId][index >> 1] |= (claimId << 88) << ((index & 1) << 7);
        }
    }

    /// @notice PharmacyAccess's list part (the hub's `pharmacyAccess`, the only caller): prescription `id`
    /// (1 ≤ id < 2^40, else `PrescriptionIdOutOfRange`) becomes the patient's newest; returns the one before it
    /// (0: none). `TooManyPrescriptions` past 2^24 - 1 prescriptions of one patient.
    function linkPrescription(bytes32 patientId, uint256 id) external returns (uint256 previous) {
        if (msg.sender != hub.pharmacyAccess()) revert NotModule(msg.sender);
        if (id == 0 || id >> 40 != 0) revert PrescriptionIdOutOfRange(id);
        ChainState storage st = _chains[patientId];
        uint24 n = st.prescriptions;
        if (n == type(uint24).max) revert TooManyPrescriptions(patientId);
        previous = st.latestPrescription;
        st.prescriptions = n + 1;
        st.latestPrescription = uint40(id);
    }

    /// @notice A patient's prescription list (PharmacyAccess pages it): how many, and the newest id (0: none).
    function prescriptionsOf(bytes32 patientId) external view returns (uint256 count, uint256 latest) {
        ChainState storage st = _chains[patientId];
        return (st.prescriptions, st.latestPrescription);
    }

    /// @notice The head of a patient's record chain (zero when empty).
    function headOf(bytes32 patientId) external view returns (bytes20) {
        return _chains[patientId].head;
    }

    function _append(bytes32 patientId, uint32 author, uint24 supersedes, bytes calldata sealedRecord)
        internal
        returns (uint256 index)
    {
        Envelope.check(sealedRecord, MAX_BUCKET);
        ChainState storage st = _chains[patientId];
        index = st.count;
        if (index >= type(uint24).max) revert TooManyRecords(patientId);
        bytes32 contentHash = keccak256(sealedRecord);
        Record memory r = Record({author: author, time: uint32(block.timestamp), supersedes: supersedes});
        bytes20 chainHash = _link(patientId, index, st.head, contentHash, r);
        // The entry's half of its pair's slot is zero until now: entries are only appended.
        _records[patientId][index >> 1] |= ((uint256(author) << 56) | (uint256(r.time) << 24) | uint256(supersedes))
            << ((index & 1) << 7);
        st.count = uint32(index + 1);
        st.head = chainHash;
        emit RecordAdded(patientId, index, author, supersedes, contentHash, chainHash);
    }

    function _recordAt(bytes32 patientId, uint256 index) internal view returns (Record memory) {
        uint256 v = _half(patientId, index);
        return Record({author: uint32(v >> 56), time: uint32(v >> 24), supersedes: uint24(v)});
    }

    /// @dev Entry `index`'s 128 bits of its pair's slot.
    function _half(bytes32 patientId, uint256 index) internal view returns (uint256) {
        return uint128(_records[patientId][index >> 1] >> ((index & 1) << 7));
    }

    function _link(bytes32 patientId, uint256 index, bytes20 prev, bytes32 contentHash, Record memory r)
        internal
        pure
        returns (bytes20)
    {
        return bytes20(keccak256(abi.encode(patientId, index, prev, contentHash, r.author, r.time, r.supersedes)));
    }
}
