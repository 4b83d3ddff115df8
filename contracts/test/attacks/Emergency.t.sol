// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {Vm} from "../utils/Vm.sol";
import {Role} from "../../src/CareTypes.sol";
import {PatientSmartCard} from "../../src/PatientSmartCard.sol";

/// @notice Emergency access (docs/design-v2.md), attacked: the network's emergency key (the admin sets the
/// first one directly, every rotation goes through governance, only SEC1-compressed P-256 keys) and the emergency
/// read trace (only a kiosk of an active hospital, a 128-byte note, a nonzero tag recorded once, and nothing about
/// the patient in the event).
contract EmergencyAttacks is Fixture {
    uint256 internal constant EMERGENCY_PK = 0xE3E6_5E7;
    uint256 internal constant NEXT_EMERGENCY_PK = 0xE3E6_5E7_2;
    /// @dev What one emergency read may cost at most (execution, without the transaction's intrinsic 21,000 and
    /// calldata): a regression guard for the figure printed by test_gas_recordEmergencyAccess.
    uint256 internal constant EMERGENCY_READ_GAS_CEILING = 35_000;

    bytes32 internal constant TAG = keccak256("hmac(patient emergency key, nonce)");

    event EmergencyKeySet(bytes4 indexed keyId, bytes key);
    event EmergencyAccess(address indexed hospital, bytes32 tag, bytes note);

    // ------------------------------------------------------------ helpers

    /// @dev A note of `length` bytes that looks like ciphertext (keccak stream of `seed`).
    function noteOf(uint256 length, uint256 seed) internal pure returns (bytes memory b) {
        b = new bytes(length);
        for (uint256 i; i < length; i += 32) {
            bytes32 word = keccak256(abi.encode(seed, i));
            for (uint256 j; j < 32 && i + j < length; ++j) {
                b[i + j] = word[j];
            }
        }
    }

    /// @dev A well-formed note (EMERGENCY_NOTE_LENGTH bytes).
    function note(uint256 seed) internal pure returns (bytes memory) {
        return noteOf(128, seed);
    }

    function idOfKey(bytes memory key) internal pure returns (bytes4) {
        return bytes4(keccak256(key));
    }

    /// @dev The admin sets the first emergency key directly.
    function setFirstKey(bytes memory key) internal {
        vm.prank(admin);
        hub.setEmergencyKey(key);
    }

    function record(address kiosk, bytes32 tag, bytes memory note_) internal {
        vm.prank(kiosk);
        hub.recordEmergencyAccess(tag, note_);
    }

    function keyOf(PatientSmartCard h) internal view returns (bytes memory) {
        return h.emergencyKey();
    }

    /// @dev `who` records a well-formed trace and is refused with `err`; the tag stays unused.
    function refused(address who, bytes memory err) internal {
        vm.prank(who);
        vm.expectRevert(err);
        hub.recordEmergencyAccess(TAG, note(1));
        assertFalse(hub.emergencyTagUsed(TAG), "refused trace left no mark");
    }

    // ================================================================ the network's emergency key

    function test_key_unsetAfterDeployment() public view {
        assertEq(keyOf(hub).length, 0, "no key yet");
        assertTrue(hub.emergencyKeyId() == bytes4(0), "no key id yet");
        assertEq(hub.EMERGENCY_NOTE_LENGTH(), 128);
    }

    function test_key_adminSetsTheFirstKeyDirectly() public {
        bytes memory key = compressedKeyOf(EMERGENCY_PK);
        assertEq(key.length, 33);
        vm.expectEmit(address(hub));
        emit EmergencyKeySet(idOfKey(key), key);
        setFirstKey(key);
        assertEq(keyOf(hub), key, "key stored");
        assertTrue(hub.emergencyKeyId() == idOfKey(key), "key id = first 4 bytes of keccak256(key)");
    }

    function test_key_bothPrefixesAccepted() public {
        // 0x02 (y even) and 0x03 (y odd): find one of each among a few keys.
        bool[2] memory seen;
        for (uint256 pk = 1; !(seen[0] && seen[1]); ++pk) {
            bytes memory key = compressedKeyOf(pk);
            uint256 odd = uint8(key[0]) - 2;
            if (seen[odd]) continue;
            seen[odd] = true;
            PatientSmartCard h = new PatientSmartCard(admin, 0, guardian);
            vm.prank(admin);
            h.setEmergencyKey(key);
            assertEq(keyOf(h), key);
        }
    }

    function test_key_secondDirectSetByTheAdminRefused() public {
        bytes memory key = compressedKeyOf(EMERGENCY_PK);
        setFirstKey(key);
        bytes memory next = compressedKeyOf(NEXT_EMERGENCY_PK);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, admin));
        hub.setEmergencyKey(next);
        // Not even the same key again.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, admin));
        hub.setEmergencyKey(key);
        assertEq(keyOf(hub), key, "unchanged");
    }

    function test_key_rotationByAnyoneButGovernanceRefused() public {
        bytes memory key = compressedKeyOf(EMERGENCY_PK);
        setFirstKey(key);
        address[5] memory who = [stranger, guardian, hospital, hospitalKiosk, address(records)];
        for (uint256 i; i < who.length; ++i) {
            vm.prank(who[i]);
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, who[i]));
            hub.setEmergencyKey(compressedKeyOf(NEXT_EMERGENCY_PK));
        }
        assertEq(keyOf(hub), key, "unchanged");
    }

    function test_key_firstSetByANonAdminRefused() public {
        address[5] memory who = [stranger, guardian, hospital, hospitalKiosk, address(records)];
        for (uint256 i; i < who.length; ++i) {
            vm.prank(who[i]);
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAdmin.selector, who[i]));
            hub.setEmergencyKey(compressedKeyOf(EMERGENCY_PK));
        }
        assertEq(keyOf(hub).length, 0, "still unset");
    }

    function test_key_firstKeyMayAlsoComeThroughGovernance() public {
        bytes memory key = compressedKeyOf(EMERGENCY_PK);
        bytes memory call_ = abi.encodeCall(PatientSmartCard.setEmergencyKey, (key));
        scheduleGoverned(address(hub), call_);
        vm.expectEmit(address(hub));
        emit EmergencyKeySet(idOfKey(key), key);
        executeGoverned(address(hub), call_);
        assertEq(keyOf(hub), key);
    }

    function test_key_rotationThroughGovernance() public {
        bytes memory key = compressedKeyOf(EMERGENCY_PK);
        setFirstKey(key);
        bytes memory next = compressedKeyOf(NEXT_EMERGENCY_PK);
        bytes4 nextId = idOfKey(next);
        assertTrue(nextId != idOfKey(key), "two keys, two ids");
        bytes memory call_ = abi.encodeCall(PatientSmartCard.setEmergencyKey, (next));
        scheduleGoverned(address(hub), call_);
        vm.expectEmit(address(hub));
        emit EmergencyKeySet(nextId, next);
        executeGoverned(address(hub), call_);
        assertEq(keyOf(hub), next, "rotated");
        assertTrue(hub.emergencyKeyId() == nextId, "id of the new key");
        // And the admin still cannot rotate directly afterwards.
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, admin));
        hub.setEmergencyKey(key);
    }

    function test_key_rotationWaitsForTheDelayAndTheGuardianMayVetoIt() public {
        PatientSmartCard h = new PatientSmartCard(admin, 2 days, guardian);
        bytes memory key = compressedKeyOf(EMERGENCY_PK);
        vm.prank(admin);
        h.setEmergencyKey(key);
        bytes memory call_ = abi.encodeCall(PatientSmartCard.setEmergencyKey, (compressedKeyOf(NEXT_EMERGENCY_PK)));
        bytes32 id = keccak256(abi.encode(address(h), call_));
        vm.prank(admin);
        h.schedule(address(h), call_);
        uint256 eta = block.timestamp + 2 days;
        vm.warp(eta - 1);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotReady.selector, id, eta));
        h.execute(address(h), call_);
        vm.prank(guardian);
        h.cancel(id);
        vm.warp(eta);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotScheduled.selector, id));
        h.execute(address(h), call_);
        assertEq(keyOf(h), key, "the vetoed rotation never happened");
    }

    function test_key_invalidPrefixRefused() public {
        (uint256 px,) = vm.publicKeyP256(EMERGENCY_PK);
        bytes32 x = bytes32(px);
        uint8[6] memory prefixes = [0x00, 0x01, 0x04, 0x05, 0x06, 0xff];
        for (uint256 i; i < prefixes.length; ++i) {
            bytes memory key = abi.encodePacked(bytes1(prefixes[i]), x);
            vm.prank(admin);
            vm.expectRevert(PatientSmartCard.InvalidEmergencyKey.selector);
            hub.setEmergencyKey(key);
        }
        assertEq(keyOf(hub).length, 0, "still unset");
    }

    function test_key_invalidLengthRefused() public {
        (uint256 px, uint256 py) = vm.publicKeyP256(EMERGENCY_PK);
        bytes memory compressed = compressedKeyOf(EMERGENCY_PK);
        bytes[5] memory keys = [
            bytes(""),
            abi.encodePacked(compressed[0]),
            abi.encodePacked(bytes32(px)), // x only, no prefix
            abi.encodePacked(compressed, bytes1(0)), // 34 bytes
            abi.encodePacked(bytes1(0x04), bytes32(px), bytes32(py)) // uncompressed (65 bytes)
        ];
        for (uint256 i; i < keys.length; ++i) {
            vm.prank(admin);
            vm.expectRevert(PatientSmartCard.InvalidEmergencyKey.selector);
            hub.setEmergencyKey(keys[i]);
        }
        assertEq(keyOf(hub).length, 0, "still unset");
    }

    function test_key_invalidRotationThroughGovernanceRefused() public {
        bytes memory key = compressedKeyOf(EMERGENCY_PK);
        setFirstKey(key);
        bytes memory bad = abi.encodePacked(bytes1(0x04), bytes32(uint256(1)));
        bytes memory call_ = abi.encodeCall(PatientSmartCard.setEmergencyKey, (bad));
        scheduleGoverned(address(hub), call_);
        vm.prank(admin);
        vm.expectRevert(PatientSmartCard.InvalidEmergencyKey.selector);
        hub.execute(address(hub), call_);
        assertEq(keyOf(hub), key, "unchanged");
    }

    // ================================================================ the emergency read trace

    function test_trace_hospitalKioskRecords() public {
        bytes memory n = note(7);
        vm.expectEmit(address(hub));
        emit EmergencyAccess(hospital, TAG, n);
        record(hospitalKiosk, TAG, n);
        assertTrue(hub.emergencyTagUsed(TAG), "tag used");
        // Another hospital's kiosk: the event names that hospital, not the kiosk.
        bytes32 tag2 = keccak256("another read");
        vm.expectEmit(address(hub));
        emit EmergencyAccess(hospital2, tag2, n);
        record(hospital2Kiosk, tag2, n);
    }

    function test_trace_theEventCarriesNoPatientAndNoKiosk() public {
        bytes memory n = note(8);
        vm.recordLogs();
        record(hospitalKiosk, TAG, n);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one event");
        assertEq(logs[0].emitter, address(hub));
        assertEq(logs[0].topics.length, 2, "signature and hospital only");
        assertEq(logs[0].topics[0], keccak256("EmergencyAccess(address,bytes32,bytes)"));
        assertEq(logs[0].topics[1], bytes32(uint256(uint160(hospital))), "the institution, not the kiosk");
        assertEq(logs[0].data, abi.encode(TAG, n), "data is the tag and the note");
        // Neither the patient id nor the card key appears anywhere in the event.
        bytes memory all = abi.encodePacked(logs[0].topics, logs[0].data);
        bytes32[3] memory secrets = [pid, qx, bytes32(uint256(uint160(hospitalKiosk)))];
        for (uint256 i; i < secrets.length; ++i) {
            for (uint256 off; off + 32 <= all.length; ++off) {
                bytes32 w;
                assembly ("memory-safe") {
                    w := mload(add(add(all, 32), off))
                }
                assertTrue(w != secrets[i], "nothing that names the patient or the kiosk");
            }
        }
    }

    function test_trace_pharmacyKioskRefused() public {
        refused(
            pharmacyKiosk,
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
    }

    function test_trace_insurerKioskRefused() public {
        refused(
            insurerKiosk,
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, insurer, Role.Hospital, Role.Insurer)
        );
    }

    function test_trace_randomAddressRefused() public {
        address[4] memory who = [stranger, admin, guardian, hospital];
        for (uint256 i; i < who.length; ++i) {
            refused(who[i], abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, who[i]));
        }
    }

    function test_trace_offeredButNotAcceptedKioskRefused() public {
        address fresh = makeAddr("freshKiosk");
        vm.prank(hospital);
        hub.addKiosk(fresh);
        refused(fresh, abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, fresh));
    }

    function test_trace_removedKioskRefused() public {
        vm.prank(hospital);
        hub.removeKiosk(hospitalKiosk);
        refused(hospitalKiosk, abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, hospitalKiosk));
        // Removed by the admin (a stolen kiosk): the same.
        vm.prank(admin);
        hub.removeKiosk(hospital2Kiosk);
        refused(hospital2Kiosk, abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, hospital2Kiosk));
    }

    function test_trace_kioskOfASuspendedHospitalRefused() public {
        setActive(hospital, false);
        refused(hospitalKiosk, abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, hospital));
        // Reinstated: its kiosks record again.
        setActive(hospital, true);
        record(hospitalKiosk, TAG, note(1));
        assertTrue(hub.emergencyTagUsed(TAG));
    }

    function test_trace_governanceIsNoKiosk() public {
        bytes memory call_ = abi.encodeCall(PatientSmartCard.recordEmergencyAccess, (TAG, note(1)));
        scheduleGoverned(address(hub), call_);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, address(hub)));
        hub.execute(address(hub), call_);
        assertFalse(hub.emergencyTagUsed(TAG));
    }

    function test_trace_theCallerIsCheckedBeforeTheNote() public {
        // A refused caller learns nothing about which tags are used or what notes pass.
        record(hospitalKiosk, TAG, note(1));
        vm.prank(pharmacyKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, pharmacyOrg, Role.Hospital, Role.Pharmacy)
        );
        hub.recordEmergencyAccess(TAG, noteOf(3, 1));
    }

    function test_trace_wrongNoteLengthRefused() public {
        uint256[6] memory lengths = [uint256(0), 1, 127, 129, 256, 784];
        for (uint256 i; i < lengths.length; ++i) {
            vm.prank(hospitalKiosk);
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidEmergencyNote.selector, lengths[i]));
            hub.recordEmergencyAccess(TAG, noteOf(lengths[i], i));
        }
        assertFalse(hub.emergencyTagUsed(TAG));
    }

    function test_trace_zeroTagRefused() public {
        vm.prank(hospitalKiosk);
        vm.expectRevert(PatientSmartCard.InvalidEmergencyTag.selector);
        hub.recordEmergencyAccess(bytes32(0), note(1));
        assertFalse(hub.emergencyTagUsed(bytes32(0)));
    }

    function test_trace_sameTagTwiceRefused() public {
        record(hospitalKiosk, TAG, note(1));
        bytes memory used = abi.encodeWithSelector(PatientSmartCard.EmergencyTagUsed.selector, TAG);
        // The same trace replayed, the same tag with another note, the same tag from another hospital.
        vm.prank(hospitalKiosk);
        vm.expectRevert(used);
        hub.recordEmergencyAccess(TAG, note(1));
        vm.prank(hospitalKiosk);
        vm.expectRevert(used);
        hub.recordEmergencyAccess(TAG, note(2));
        vm.prank(hospital2Kiosk);
        vm.expectRevert(used);
        hub.recordEmergencyAccess(TAG, note(1));
    }

    function test_trace_needsNoEmergencyKeyNorConsent() public {
        // Every consent of the patient ended and no key set yet: the trace is only about the hospital's read (the
        // emergency data set comes from the card, not from the chain).
        revokeAll(PATIENT_PK, pid);
        assertEq(keyOf(hub).length, 0);
        record(hospitalKiosk, TAG, note(1));
        assertTrue(hub.emergencyTagUsed(TAG));
    }

    // ================================================================ fuzz

    function testFuzz_anyNoteLengthOtherThan128Refused(uint256 length, bytes32 tag, uint256 seed) public {
        length = bound(length, 0, 2048);
        vm.assume(length != 128);
        if (tag == 0) tag = TAG;
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidEmergencyNote.selector, length));
        hub.recordEmergencyAccess(tag, noteOf(length, seed));
        assertFalse(hub.emergencyTagUsed(tag));
    }

    function testFuzz_anyNonzeroTagRecordedExactlyOnce(bytes32 tag, uint256 seed, bool secondHospital) public {
        vm.assume(tag != 0);
        address kiosk = secondHospital ? hospital2Kiosk : hospitalKiosk;
        address inst = secondHospital ? hospital2 : hospital;
        bytes memory n = note(seed);
        assertFalse(hub.emergencyTagUsed(tag));
        vm.expectEmit(address(hub));
        emit EmergencyAccess(inst, tag, n);
        record(kiosk, tag, n);
        assertTrue(hub.emergencyTagUsed(tag));
        address other = secondHospital ? hospitalKiosk : hospital2Kiosk;
        vm.prank(other);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.EmergencyTagUsed.selector, tag));
        hub.recordEmergencyAccess(tag, note(seed ^ 1));
        vm.prank(kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.EmergencyTagUsed.selector, tag));
        hub.recordEmergencyAccess(tag, n);
    }

    // ================================================================ gas

    function test_gas_recordEmergencyAccess() public {
        bytes memory n = note(9);
        record(hospitalKiosk, TAG, n);
        uint256 used = vm.lastCallGas().gasTotalUsed;
        // What the transaction pays besides: 21,000 and the calldata (4 gas per zero byte, 16 per other byte).
        bytes memory data = abi.encodeCall(PatientSmartCard.recordEmergencyAccess, (TAG, n));
        uint256 calldataGas;
        for (uint256 i; i < data.length; ++i) {
            calldataGas += data[i] == 0 ? 4 : 16;
        }
        log("recordEmergencyAccess execution gas", used);
        log("recordEmergencyAccess calldata gas", calldataGas);
        log("recordEmergencyAccess transaction gas (21000 + calldata + execution)", 21_000 + calldataGas + used);
        assertLe(used, EMERGENCY_READ_GAS_CEILING, "one emergency read stays cheap");
    }
}
