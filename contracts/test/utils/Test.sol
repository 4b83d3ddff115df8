// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Vm, VM_ADDRESS, CONSOLE_ADDRESS} from "./Vm.sol";

/// @notice A tiny stand-in for forge-std's Test: the cheatcode handle, assertions that revert with a message
/// (forge counts a reverting test as failed), `bound` and `makeAddr`.
abstract contract Test {
    bool public IS_TEST = true;

    Vm internal constant vm = Vm(VM_ADDRESS);

    error AssertionFailed(string message);

    // ------------------------------------------------------------ assertions

    function fail(string memory message) internal pure {
        revert AssertionFailed(message);
    }

    function assertTrue(bool condition) internal pure {
        if (!condition) fail("assertTrue");
    }

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) fail(message);
    }

    function assertFalse(bool condition) internal pure {
        if (condition) fail("assertFalse");
    }

    function assertFalse(bool condition, string memory message) internal pure {
        if (condition) fail(message);
    }

    function assertEq(uint256 a, uint256 b) internal pure {
        assertEq(a, b, "assertEq(uint256)");
    }

    function assertEq(uint256 a, uint256 b, string memory message) internal pure {
        if (a != b) fail(string.concat(message, ": ", _dec(a), " != ", _dec(b)));
    }

    function assertEq(address a, address b) internal pure {
        assertEq(a, b, "assertEq(address)");
    }

    function assertEq(address a, address b, string memory message) internal pure {
        if (a != b) fail(string.concat(message, ": ", _hex(uint256(uint160(a))), " != ", _hex(uint256(uint160(b)))));
    }

    function assertEq(bytes32 a, bytes32 b) internal pure {
        assertEq(a, b, "assertEq(bytes32)");
    }

    function assertEq(bytes32 a, bytes32 b, string memory message) internal pure {
        if (a != b) fail(string.concat(message, ": ", _hex(uint256(a)), " != ", _hex(uint256(b))));
    }

    function assertEq(bool a, bool b) internal pure {
        assertEq(a, b, "assertEq(bool)");
    }

    function assertEq(bool a, bool b, string memory message) internal pure {
        if (a != b) fail(string.concat(message, ": ", a ? "true" : "false", " != ", b ? "true" : "false"));
    }

    function assertEq(string memory a, string memory b) internal pure {
        if (keccak256(bytes(a)) != keccak256(bytes(b))) fail(string.concat("assertEq(string): ", a, " != ", b));
    }

    function assertNotEq(bytes32 a, bytes32 b, string memory message) internal pure {
        if (a == b) fail(string.concat(message, ": both ", _hex(uint256(a))));
    }

    function assertLe(uint256 a, uint256 b, string memory message) internal pure {
        if (a > b) fail(string.concat(message, ": ", _dec(a), " > ", _dec(b)));
    }

    function assertGe(uint256 a, uint256 b, string memory message) internal pure {
        if (a < b) fail(string.concat(message, ": ", _dec(a), " < ", _dec(b)));
    }

    function assertEq(bytes memory a, bytes memory b) internal pure {
        assertEq(a, b, "assertEq(bytes)");
    }

    function assertEq(bytes memory a, bytes memory b, string memory message) internal pure {
        if (keccak256(a) != keccak256(b)) fail(string.concat(message, ": bytes differ"));
    }

    // ------------------------------------------------------------ helpers

    /// @dev forge-std's console.log(string, uint256): printed by `forge test -vv`.
    function log(string memory label, uint256 value) internal view {
        (bool ok,) = CONSOLE_ADDRESS.staticcall(abi.encodeWithSignature("log(string,uint256)", label, value));
        ok;
    }

    /// @dev Maps `x` into [min, max] (forge-std's bound, without the logging).
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min;
        if (size == type(uint256).max) return x;
        return min + x % (size + 1);
    }

    function makeAddr(string memory name) internal returns (address a) {
        a = vm.addr(uint256(keccak256(bytes(name))));
        vm.label(a, name);
    }

    function _dec(uint256 v) internal pure returns (string memory) {
        if (v == 0) return "0";
        uint256 len;
        for (uint256 t = v; t != 0; t /= 10) ++len;
        bytes memory b = new bytes(len);
        for (; v != 0; v /= 10) b[--len] = bytes1(uint8(48 + v % 10));
        return string(b);
    }

    function _hex(uint256 v) internal pure returns (string memory) {
        bytes memory b = new bytes(66);
        b[0] = "0";
        b[1] = "x";
        for (uint256 i = 65; i > 1; --i) {
            b[i] = bytes16("0123456789abcdef")[v & 15];
            v >>= 4;
        }
        return string(b);
    }
}
