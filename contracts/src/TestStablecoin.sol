// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestStablecoin
/// @notice The local chain's stand-in for cUSD/USDC: 18 decimals, minted by its deployer. Never deployed on Celo.
contract TestStablecoin is ERC20 {
    address public immutable minter;

    error NotMinter(address caller);

    constructor() ERC20("carekiosk Test Dollar", "tUSD") {
        minter = msg.sender;
    }

    /// @notice The deployer mints `amount` to `to`.
    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        _mint(to, amount);
    }
}
