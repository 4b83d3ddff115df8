// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @notice What forge's invariant runner reads from a test contract (forge-std's StdInvariant, the part used here):
/// `targetContracts()` and `targetSelectors()` restrict the fuzzed calls to the handlers' action functions.
abstract contract InvariantTargets {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetedContracts;
    FuzzSelector[] private _targetedSelectors;

    function targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    function targetSelector(address target, bytes4[] memory selectors) internal {
        _targetedSelectors.push(FuzzSelector({addr: target, selectors: selectors}));
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }
}
