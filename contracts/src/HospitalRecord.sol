// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Role, Scope, IPatientSmartCard} from "./CareTypes.sol";

/// @title HospitalRecord
/// @notice Hospitals and the patient's medical record. A record is an encrypted blob that travels only in the
/// transaction's calldata; the chain keeps, per patient, a hash chain over the records' content hashes and
/// headers (kind, author, time, the version it supersedes), so a missing or reordered record is detectable.
/// Nothing is ever deleted: an amendment is a new version pointing at the one it supersedes.
contract HospitalRecord {
    /// @notice Largest sealed record accepted, in bytes.
    uint256 public constant MAX_RECORD_SIZE = 64 * 1024;
    /// @notice Largest page `getMedicalRecords` returns.
    uint256 public constant MAX_PAGE = 100;

    /// @notice One entry of a patient's record chain, packed into a single storage slot.
    /// @dev chainHash = bytes20(keccak256(abi.encode(patientId, index, previous chainHash, contentHash, kind,
    /// author, time, supersedes))); supersedes is the superseded index plus one (0: an original entry).
    struct Record {
        bytes20 chainHash;
        uint32 author;
        uint32 time;
        uint8 kind;
        uint24 supersedes;
    }

    /// @notice The hub holding institutions, patients and consent.
    IPatientSmartCard public immutable hub;

    mapping(bytes32 patientId => uint256) public recordCount;
    mapping(bytes32 patientId => mapping(uint256 index => Record)) internal _records;

    event RecordAdded(
        bytes32 indexed patientId,
        uint256 indexed index,
        uint32 indexed author,
        uint8 kind,
        uint24 supersedes,
        bytes32 contentHash,
        bytes20 chainHash
    );

    error EmptyRecord();
    error RecordTooLarge(uint256 size);
    error NoSuchRecord(bytes32 patientId, uint256 index);
    error NotRecordAuthor(bytes32 patientId, uint256 index, uint32 author);
    error TooManyRecords(bytes32 patientId);

    constructor(IPatientSmartCard hub_) {
        hub = hub_;
    }

    /// @notice The admin registers a hospital (its institution address, which then adds its kiosks).
    function registerHospital(address hospital) external returns (uint32 id) {
        return hub.registerInstitutionBy(msg.sender, hospital, Role.Hospital);
    }

    /// @notice A hospital kiosk with the patient's WRITE consent appends an encrypted record.
    /// @param sealedRecord The record encrypted for the patient's card and the hospital (never plaintext).
    function addMedicalRecord(bytes32 patientId, uint8 kind, bytes calldata sealedRecord)
        external
        returns (uint256 index)
    {
        (, uint32 author) = hub.authorize(msg.sender, patientId, Role.Hospital, Scope.WRITE);
        return _append(patientId, kind, author, 0, sealedRecord);
    }

    /// @notice The author hospital amends one of its entries: a new version that supersedes `supersedesIndex`.
    function updateMedicalHistory(bytes32 patientId, uint256 supersedesIndex, uint8 kind, bytes calldata sealedRecord)
        external
        returns (uint256 index)
    {
        (, uint32 author) = hub.authorize(msg.sender, patientId, Role.Hospital, Scope.WRITE);
        if (supersedesIndex >= recordCount[patientId]) revert NoSuchRecord(patientId, supersedesIndex);
        if (_records[patientId][supersedesIndex].author != author) {
            revert NotRecordAuthor(patientId, supersedesIndex, author);
        }
        return _append(patientId, kind, author, uint24(supersedesIndex + 1), sealedRecord);
    }

    /// @notice A page of a patient's record chain, oldest first, and the total number of entries.
    function getMedicalRecords(bytes32 patientId, uint256 offset, uint256 limit)
        external
        view
        returns (Record[] memory page, uint256 total)
    {
        total = recordCount[patientId];
        if (limit > MAX_PAGE) limit = MAX_PAGE;
        uint256 end = offset >= total ? offset : (offset + limit > total ? total : offset + limit);
        page = new Record[](end - offset);
        for (uint256 i = offset; i < end; ++i) {
            page[i - offset] = _records[patientId][i];
        }
    }

    /// @notice The institution id that authored an entry (reverts if there is none).
    function recordAuthor(bytes32 patientId, uint256 index) external view returns (uint32) {
        if (index >= recordCount[patientId]) revert NoSuchRecord(patientId, index);
        return _records[patientId][index].author;
    }

    /// @notice The head of a patient's record chain (zero when empty).
    function headOf(bytes32 patientId) external view returns (bytes20) {
        uint256 n = recordCount[patientId];
        return n == 0 ? bytes20(0) : _records[patientId][n - 1].chainHash;
    }

    function _append(bytes32 patientId, uint8 kind, uint32 author, uint24 supersedes, bytes calldata sealedRecord)
        internal
        returns (uint256 index)
    {
        uint256 size = sealedRecord.length;
        if (size == 0) revert EmptyRecord();
        if (size > MAX_RECORD_SIZE) revert RecordTooLarge(size);
        index = recordCount[patientId];
        if (index >= type(uint24).max) revert TooManyRecords(patientId);
        bytes20 prev = index == 0 ? bytes20(0) : _records[patientId][index - 1].chainHash;
        bytes32 contentHash = keccak256(sealedRecord);
        uint32 time = uint32(block.timestamp);
        bytes20 chainHash =
            bytes20(keccak256(abi.encode(patientId, index, prev, contentHash, kind, author, time, supersedes)));
        _records[patientId][index] =
            Record({chainHash: chainHash, author: author, time: time, kind: kind, supersedes: supersedes});
        recordCount[patientId] = index + 1;
        emit RecordAdded(patientId, index, author, kind, supersedes, contentHash, chainHash);
    }
}
