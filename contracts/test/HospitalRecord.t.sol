// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./utils/Fixture.sol";
import {Role, Scope, MalformedEnvelope, Envelope, CardSig, ConsentTerms} from "../src/CareTypes.sol";
import {PatientSmartCard} from "../src/PatientSmartCard.sol";
import {HospitalRecord} from "../src/HospitalRecord.sol";

contract HospitalRecordTest is Fixture {
    /// @dev The chain hash as documented on HospitalRecord.Record, recomputed independently.
    function chainOf(
        bytes32 patientId,
        uint256 index,
        bytes20 prev,
        bytes memory sealedRecord,
        uint32 author,
        uint256 time,
        uint24 supersedes
    ) internal pure returns (bytes20) {
        return bytes20(
            keccak256(abi.encode(patientId, index, prev, keccak256(sealedRecord), author, uint32(time), supersedes))
        );
    }

    function _malformed(uint256 length) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(MalformedEnvelope.selector, length);
    }

    function test_constants() public view {
        assertEq(records.MAX_BUCKET(), 64 * 1024);
        assertEq(records.MAX_PAGE(), 100);
    }

    // ================================================================ registerHospital

    function test_registerHospital() public {
        address x = makeAddr("newHospital");
        (address regTarget, bytes memory regCall) = registerCall(x, Role.Hospital);
        scheduleGoverned(regTarget, regCall);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.InstitutionRegistered(x, Role.Hospital, 7);
        executeGoverned(regTarget, regCall);
        (,, uint32 newId) = hub.institutions(x);
        assertEq(newId, 7);
        (Role role, bool active, uint32 id) = hub.institutions(x);
        assertTrue(role == Role.Hospital && active && id == 7);
        assertEq(hub.institutionAddress(7), x);
    }

    function test_registerHospital_revertsForNonGovernanceOrDuplicate() public {
        address x = makeAddr("newHospital");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, stranger));
        records.registerHospital(x);
        // The admin itself goes through schedule/execute.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, admin));
        records.registerHospital(x);
        (address target, bytes memory data) = registerCall(hospital2, Role.Hospital);
        vm.startPrank(admin);
        hub.schedule(target, data);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.AlreadyRegistered.selector, hospital2));
        hub.execute(target, data);
        vm.stopPrank();
    }

    // ================================================================ addMedicalRecord

    function test_addMedicalRecord_appendsAndEmits() public {
        bytes memory sealedRecord = env(0x5ea1ed0);
        bytes20 expected = chainOf(pid, 0, 0, sealedRecord, hospitalId, block.timestamp, 0);
        vm.expectEmit(address(records));
        emit HospitalRecord.RecordAdded(pid, 0, hospitalId, 0, keccak256(sealedRecord), expected);
        vm.prank(hospitalKiosk);
        assertEq(records.addMedicalRecord(pid, sealedRecord), 0);

        assertEq(records.recordCount(pid), 1);
        assertEq(records.headOf(pid), expected);
        assertEq(records.recordAuthor(pid, 0), hospitalId);
        (HospitalRecord.Record[] memory page, uint256 total) = records.getMedicalRecords(pid, 0, 10);
        assertEq(total, 1);
        assertEq(page.length, 1);
        assertEq(page[0].author, hospitalId);
        assertEq(page[0].time, block.timestamp);
        assertEq(page[0].supersedes, 0);
        assertTrue(records.isOriginal(pid, 0), "an original");
        // Another patient's chain is untouched.
        assertEq(records.recordCount(idOf(OTHER_PK)), 0);
    }

    function test_hashChain_recomputesAcrossAuthorsAndAmendments() public {
        grant(PATIENT_PK, pid, hospital2Kiosk, Scope.WRITE, 0);
        bytes20 head;
        bytes20[] memory expected = new bytes20[](6);
        uint256[] memory times = new uint256[](6);
        for (uint256 i; i < 6; ++i) {
            vm.warp(block.timestamp + 1 hours + i);
            times[i] = block.timestamp;
            bytes memory body = envOf(512 << i, i);
            bool second = i % 2 == 1;
            address kiosk = second ? hospital2Kiosk : hospitalKiosk;
            uint32 author = second ? hospital2Id : hospitalId;
            uint24 supersedes;
            vm.prank(kiosk);
            if (i >= 2) {
                // Amend this author's entry two back.
                supersedes = uint24(i - 2 + 1);
                assertEq(records.updateMedicalHistory(pid, i - 2, body), i);
            } else {
                assertEq(records.addMedicalRecord(pid, body), i);
            }
            head = chainOf(pid, i, head, body, author, block.timestamp, supersedes);
            expected[i] = head;
            assertEq(records.headOf(pid), head, "head after append");
        }
        (HospitalRecord.Record[] memory page, uint256 total) = records.getMedicalRecords(pid, 0, 100);
        assertEq(total, 6);
        for (uint256 i; i < 6; ++i) {
            assertEq(page[i].time, times[i], "time");
            assertEq(page[i].supersedes, i >= 2 ? i - 1 : 0, "supersedes");
            assertEq(page[i].author, i % 2 == 1 ? hospital2Id : hospitalId, "author");
            assertEq(records.isOriginal(pid, i), i < 2, "originals are the first two");
        }
        // Any change of order or content gives another head.
        bytes20 reordered = chainOf(pid, 0, 0, envOf(1024, 1), hospitalId, T0, 0);
        assertTrue(reordered != expected[0]);
    }

    function test_addMedicalRecord_acceptsEveryBucket() public {
        for (uint256 b = 512; b <= 65536; b *= 2) {
            addRecord(pid, hospitalKiosk, envOf(b, b));
        }
        assertEq(records.recordCount(pid), 8);
    }

    function test_addMedicalRecord_revertsForEmpty() public {
        vm.prank(hospitalKiosk);
        vm.expectRevert(_malformed(0));
        records.addMedicalRecord(pid, "");
    }

    function test_addMedicalRecord_revertsForTooLarge() public {
        bytes memory big = envOf(131072, 1);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_malformed(big.length));
        records.addMedicalRecord(pid, big);
    }

    function test_addMedicalRecord_revertsForWrongVersionOrLength() public {
        bytes memory v1 = env(1);
        v1[0] = 0x01;
        vm.prank(hospitalKiosk);
        vm.expectRevert(_malformed(v1.length));
        records.addMedicalRecord(pid, v1);
        bytes memory odd = new bytes(Envelope.OVERHEAD + 513);
        odd[0] = bytes1(Envelope.VERSION);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_malformed(odd.length));
        records.addMedicalRecord(pid, odd);
        bytes memory tiny = new bytes(Envelope.OVERHEAD + 256);
        tiny[0] = bytes1(Envelope.VERSION);
        vm.prank(hospitalKiosk);
        vm.expectRevert(_malformed(tiny.length));
        records.addMedicalRecord(pid, tiny);
        assertEq(records.recordCount(pid), 0);
    }

    function test_addMedicalRecord_needsWriteConsent() public {
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital2));
        records.addMedicalRecord(pid, env(0x01));

        grant(PATIENT_PK, pid, hospital2Kiosk, Scope.READ | Scope.PRESCRIBE, 0);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.ScopeNotGranted.selector, pid, hospital2, Scope.WRITE)
        );
        records.addMedicalRecord(pid, env(0x01));

        vm.prank(pharmacyKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        records.addMedicalRecord(pid, env(0x01));

        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        records.addMedicalRecord(pid, env(0x01));

        bytes32 unknown = idOf(OTHER_PK);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, unknown, hospital));
        records.addMedicalRecord(unknown, env(0x01));
        assertEq(records.recordCount(pid), 0);
    }

    function test_addMedicalRecord_revertsForTooManyRecords() public {
        addRecord(pid, hospitalKiosk, env(0x01));
        bytes32 slot = keccak256(abi.encode(pid, uint256(0))); // _chains[pid]: count in the low 32 bits, head above
        uint256 word = uint256(vm.load(address(records), slot));
        assertEq(word & type(uint32).max, 1, "count in the chain slot");
        assertEq(bytes20(uint160(word >> 32)), records.headOf(pid), "head in the chain slot");
        vm.store(address(records), slot, bytes32((word & ~uint256(type(uint32).max)) | (type(uint24).max - 1)));
        assertEq(addRecord(pid, hospitalKiosk, env(0x02)), type(uint24).max - 1);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.TooManyRecords.selector, pid));
        records.addMedicalRecord(pid, env(0x03));
    }

    // ================================================================ updateMedicalHistory

    function test_updateMedicalHistory_supersedes() public {
        bytes memory first = env(0xf1);
        bytes memory second = env(0x5ec);
        addRecord(pid, hospitalKiosk, first);
        bytes20 head = records.headOf(pid);
        vm.warp(block.timestamp + 1 days);
        bytes20 expected = chainOf(pid, 1, head, second, hospitalId, block.timestamp, 1);
        vm.expectEmit(address(records));
        emit HospitalRecord.RecordAdded(pid, 1, hospitalId, 1, keccak256(second), expected);
        vm.prank(hospitalKiosk);
        assertEq(records.updateMedicalHistory(pid, 0, second), 1);
        assertEq(records.headOf(pid), expected);
        (HospitalRecord.Record[] memory page,) = records.getMedicalRecords(pid, 0, 10);
        assertEq(page.length, 2);
        assertEq(page[1].supersedes, 1);
        // Nothing is deleted: the original stays.
        assertEq(page[0].supersedes, 0);
        assertTrue(records.isOriginal(pid, 0), "the original stays an original");
        assertFalse(records.isOriginal(pid, 1), "the amendment is not");
        // The amendment can itself be amended.
        vm.prank(hospitalKiosk);
        assertEq(records.updateMedicalHistory(pid, 1, env(0x7d)), 2);
        (page,) = records.getMedicalRecords(pid, 2, 1);
        assertEq(page[0].supersedes, 2);
    }

    function test_updateMedicalHistory_onlyAuthor() public {
        addRecord(pid, hospitalKiosk, env(0x01));
        grant(PATIENT_PK, pid, hospital2Kiosk, Scope.WRITE, 0);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NotRecordAuthor.selector, pid, 0, hospital2Id));
        records.updateMedicalHistory(pid, 0, env(0x02));
        // Another kiosk of the author hospital may amend.
        address kiosk2 = makeAddr("hospitalKiosk2");
        _addKiosk(hospital, kiosk2);
        vm.prank(kiosk2);
        assertEq(records.updateMedicalHistory(pid, 0, env(0x02)), 1);
    }

    function test_updateMedicalHistory_revertsForNoSuchRecord() public {
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NoSuchRecord.selector, pid, 0));
        records.updateMedicalHistory(pid, 0, env(0x01));
        addRecord(pid, hospitalKiosk, env(0x01));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NoSuchRecord.selector, pid, 1));
        records.updateMedicalHistory(pid, 1, env(0x01));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NoSuchRecord.selector, pid, type(uint256).max));
        records.updateMedicalHistory(pid, type(uint256).max, env(0x01));
    }

    function test_updateMedicalHistory_revertsForMalformedEnvelope() public {
        addRecord(pid, hospitalKiosk, env(0x01));
        vm.prank(hospitalKiosk);
        vm.expectRevert(_malformed(0));
        records.updateMedicalHistory(pid, 0, "");
        bytes memory big = envOf(65536, 1);
        big = bytes.concat(big, hex"00");
        vm.prank(hospitalKiosk);
        vm.expectRevert(_malformed(big.length));
        records.updateMedicalHistory(pid, 0, big);
    }

    function test_updateMedicalHistory_needsConsent() public {
        addRecord(pid, hospitalKiosk, env(0x01));
        revoke(PATIENT_PK, pid, hospital);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, hospital));
        records.updateMedicalHistory(pid, 0, env(0x02));
        vm.prank(pharmacyKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        records.updateMedicalHistory(pid, 0, env(0x02));
    }

    // ================================================================ reads

    function test_getMedicalRecords_paginates() public {
        uint256[] memory heads = new uint256[](5);
        for (uint256 i; i < 5; ++i) {
            vm.warp(block.timestamp + 1 + i);
            addRecord(pid, hospitalKiosk, env(i + 1));
            heads[i] = block.timestamp;
        }
        _expectPage(0, 2, heads, 0, 2);
        _expectPage(2, 2, heads, 2, 2);
        _expectPage(4, 10, heads, 4, 1);
        _expectPage(5, 1, heads, 5, 0);
        _expectPage(100, 1, heads, 100, 0);
        _expectPage(type(uint256).max, type(uint256).max, heads, 0, 0);
        _expectPage(1, 0, heads, 1, 0);
        _expectPage(0, type(uint256).max, heads, 0, 5);
    }

    /// @dev `heads`: each entry's time (every entry appended at its own).
    function _expectPage(uint256 offset, uint256 limit, uint256[] memory heads, uint256 first, uint256 n)
        internal
        view
    {
        (HospitalRecord.Record[] memory page, uint256 total) = records.getMedicalRecords(pid, offset, limit);
        assertEq(total, heads.length, "total");
        assertEq(page.length, n, "page length");
        for (uint256 i; i < n; ++i) {
            assertEq(page[i].time, heads[first + i], "page entry");
        }
    }

    function test_getMedicalRecords_capsPageSize() public {
        vm.startPrank(hospitalKiosk);
        for (uint256 i; i < 101; ++i) {
            records.addMedicalRecord(pid, env(0x01));
        }
        vm.stopPrank();
        (HospitalRecord.Record[] memory page, uint256 total) = records.getMedicalRecords(pid, 0, 1000);
        assertEq(total, 101);
        assertEq(page.length, 100);
        (page,) = records.getMedicalRecords(pid, 100, 1000);
        assertEq(page.length, 1);
        assertEq(page[0].author, hospitalId);
        assertEq(page[0].supersedes, 0);
    }

    function test_getMedicalRecords_emptyPatient() public view {
        (HospitalRecord.Record[] memory page, uint256 total) = records.getMedicalRecords(pid, 0, 10);
        assertEq(total, 0);
        assertEq(page.length, 0);
        assertEq(records.headOf(pid), bytes20(0));
    }

    function test_recordAuthor_revertsForNoSuchRecord() public {
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NoSuchRecord.selector, pid, 0));
        records.recordAuthor(pid, 0);
        addRecord(pid, hospitalKiosk, env(0x01));
        assertEq(records.recordAuthor(pid, 0), hospitalId);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NoSuchRecord.selector, pid, 1));
        records.recordAuthor(pid, 1);
    }

    function test_isOriginal_revertsForNoSuchRecord() public {
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NoSuchRecord.selector, pid, 0));
        records.isOriginal(pid, 0);
        addRecord(pid, hospitalKiosk, env(0x01));
        assertTrue(records.isOriginal(pid, 0));
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NoSuchRecord.selector, pid, 1));
        records.isOriginal(pid, 1);
    }

    // ================================================================ step functions

    function test_registerAndConsent_registersConsentsAndAppends() public {
        uint256 pk = 0x5E9_1;
        bytes32 id = idOf(pk);
        uint256 deadline = block.timestamp + 1 hours;
        ConsentTerms memory t = termsFor(id, hospitalKiosk, HOSPITAL_ALL);
        assertEq(t.epoch, 1, "a new patient's consent is signed in epoch 1");
        CardSig memory s = registerStepSig(pk, hospital, deadline, t);
        bytes memory demographics = env(0xde);
        bytes20 expected = chainOf(id, 0, 0, demographics, hospitalId, block.timestamp, 0);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.PatientRegistered(id, hospital);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.ConsentGranted(id, hospital, HOSPITAL_ALL, t.validUntil);
        vm.expectEmit(address(records));
        emit HospitalRecord.RecordAdded(id, 0, hospitalId, 0, keccak256(demographics), expected);
        vm.prank(hospitalKiosk);
        (bytes32 got, uint256 index) =
            records.registerAndConsent(deadline, recoveryHashOf(id), keyBundle(), t, demographics, s);
        assertEq(got, id);
        assertEq(index, 0);
        // The same state as registerPatient + grantConsent + addMedicalRecord.
        assertEq(hub.cardKeyOf(id), id);
        assertEq(hub.epochOf(id), 1);
        assertEq(hub.keyBundleOf(id), bundlePrefix(keyBundle()));
        assertEq(hub.patientOfRecovery(recoveryHashOf(id)), id);
        (uint64 until, uint64 signedAt, uint64 epoch, uint8 scope) = hub.consentOf(id, hospital);
        assertTrue(until == t.validUntil && signedAt == t.signedAt && epoch == 1 && scope == HOSPITAL_ALL);
        assertEq(records.headOf(id), expected);
        assertEq(records.recordAuthor(id, 0), hospitalId);
        // The consent works for the next desk at once.
        vm.prank(hospitalKiosk);
        records.addMedicalRecord(id, env(2));
    }

    function test_recordVisit_appendsInOrder() public {
        addRecord(pid, hospitalKiosk, env(1));
        bytes[] memory recs = new bytes[](2);
        recs[0] = env(0xc0);
        recs[1] = envOf(1024, 0xca);
        bytes20 h0 = records.headOf(pid);
        bytes20 h1 = chainOf(pid, 1, h0, recs[0], hospitalId, block.timestamp, 0);
        bytes20 h2 = chainOf(pid, 2, h1, recs[1], hospitalId, block.timestamp, 0);
        vm.expectEmit(address(records));
        emit HospitalRecord.RecordAdded(pid, 1, hospitalId, 0, keccak256(recs[0]), h1);
        vm.expectEmit(address(records));
        emit HospitalRecord.RecordAdded(pid, 2, hospitalId, 0, keccak256(recs[1]), h2);
        vm.prank(hospitalKiosk);
        assertEq(records.recordVisit(pid, recs), 1);
        assertEq(records.recordCount(pid), 3);
        assertEq(records.headOf(pid), h2);
        assertTrue(records.isOriginal(pid, 1) && records.isOriginal(pid, 2));
        // One record, and the most a visit may carry.
        bytes[] memory one = new bytes[](1);
        one[0] = env(3);
        vm.prank(hospitalKiosk);
        assertEq(records.recordVisit(pid, one), 3);
        bytes[] memory most = new bytes[](records.MAX_VISIT_RECORDS());
        for (uint256 i; i < most.length; ++i) {
            most[i] = env(10 + i);
        }
        vm.prank(hospitalKiosk);
        assertEq(records.recordVisit(pid, most), 4);
        assertEq(records.recordCount(pid), 4 + most.length);
    }
}
