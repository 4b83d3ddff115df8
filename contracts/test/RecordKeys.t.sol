// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {PatientSmartCard} from "../src/PatientSmartCard.sol";

/// Institutions publish their record-encryption keys on chain: only the institution itself, only a
/// compressed P-256 key, and anyone can read it.
contract RecordKeysTest is Fixture {
    function _key(uint8 prefix) internal pure returns (bytes memory k) {
        k = new bytes(33);
        k[0] = bytes1(prefix);
        for (uint256 i = 1; i < 33; i++) {
            k[i] = bytes1(uint8(i));
        }
    }

    function test_anInstitutionPublishesAndRotatesItsKey() public {
        bytes memory k = _key(0x02);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.RecordKeySet(hospital, k);
        vm.prank(hospital);
        hub.setRecordKey(k);
        assertEq(hub.recordKeyOf(hospital), k);
        bytes memory k2 = _key(0x03);
        vm.prank(hospital);
        hub.setRecordKey(k2);
        assertEq(hub.recordKeyOf(hospital), k2);
        assertEq(hub.recordKeyOf(pharmacyOrg).length, 0, "none published");
    }

    function test_aKioskOrAStrangerCannotSetAnInstitutionsKey() public {
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownInstitution.selector, hospitalKiosk));
        hub.setRecordKey(_key(0x02));
        vm.prank(address(0xBEEF));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.UnknownInstitution.selector, address(0xBEEF)));
        hub.setRecordKey(_key(0x02));
    }

    function test_onlyACompressedP256KeyIsAccepted() public {
        vm.startPrank(hospital);
        vm.expectRevert(PatientSmartCard.InvalidRecordKey.selector);
        hub.setRecordKey(_key(0x04));
        vm.expectRevert(PatientSmartCard.InvalidRecordKey.selector);
        hub.setRecordKey(new bytes(32));
        vm.expectRevert(PatientSmartCard.InvalidRecordKey.selector);
        hub.setRecordKey(new bytes(65));
        vm.stopPrank();
    }

    /// Any key a caller passes that is not 33 bytes with a compressed prefix is refused, whatever its length.
    function testFuzz_anythingButACompressedKeyRefused(bytes calldata key) public {
        vm.assume(!(key.length == 33 && (key[0] == 0x02 || key[0] == 0x03)));
        vm.prank(hospital);
        vm.expectRevert(PatientSmartCard.InvalidRecordKey.selector);
        hub.setRecordKey(key);
        assertEq(hub.recordKeyOf(hospital).length, 0);
    }
}
