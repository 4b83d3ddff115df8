// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {InsuranceProvider} from "../../src/InsuranceProvider.sol";

contract CoverageFuzzTest is Fixture {
    uint256 internal constant PERIOD = 365 days;

    function setUp() public override {
        super.setUp();
        // Escrow far above any fuzzed approval: these tests are about the coverage caps, not the reserves.
        fund(insurer, 2 ** 100);
    }

    function _used() internal view returns (uint256) {
        (InsuranceProvider.Coverage memory c,) = insurance.coverageOf(pid);
        return c.used;
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    /// @dev Enrols with fuzzed terms and optionally uses part of the limit first; returns the terms.
    function _setup(uint256 bpsSeed, uint256 limitSeed, uint256 priorSeed)
        internal
        returns (uint16 bps, uint128 limit, uint256 used)
    {
        bps = uint16(bound(bpsSeed, 1, 10_000));
        // A limit is at most 2^88 - 1 (the coverage is one slot; every claimed amount is within uint88 too).
        limit = uint128(bound(limitSeed, 1, type(uint88).max));
        enroll(pid, insurerKiosk, bps, limit);
        uint256 prior = bound(priorSeed, 0, type(uint88).max);
        if (prior != 0) {
            uint256 c0 = recordAndClaim(pid, prior);
            uint256 cap0 = _min(prior * bps / 10_000, limit);
            if (cap0 != 0) {
                vm.prank(insurerKiosk);
                insurance.approveClaim(c0, claimPatient(c0), bytes32(0), cap0, responseEnv());
            }
        }
        used = _used();
    }

    function testFuzz_approvedNeverExceedsCoverage(
        uint256 bpsSeed,
        uint256 limitSeed,
        uint256 priorSeed,
        uint256 claimedSeed,
        uint256 amountSeed
    ) public {
        (uint16 bps, uint128 limit, uint256 used) = _setup(bpsSeed, limitSeed, priorSeed);
        uint256 claimed = bound(claimedSeed, 1, type(uint88).max);
        uint256 claimId = recordAndClaim(pid, claimed);
        uint256 pct = claimed * bps / 10_000;
        uint256 cap = _min(pct, limit - used);
        uint256 amount = bound(amountSeed, 1, uint256(type(uint96).max));

        vm.prank(insurerKiosk);
        if (amount > cap) {
            vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, amount, cap));
            insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), amount, responseEnv());
            assertEq(_used(), used, "use unchanged");
        } else {
            insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), amount, responseEnv());
            (, , uint256 approved,,) = insurance.getClaimStatus(claimId);
            assertEq(approved, amount);
            assertLe(approved, pct, "approved <= claimed * bps / 10000");
            assertLe(approved, limit - used, "approved <= what was left");
            assertEq(_used(), used + amount);
        }
        assertLe(_used(), limit, "used <= limit");
    }

    function testFuzz_approvingExactlyTheCapSucceeds(
        uint256 bpsSeed,
        uint256 limitSeed,
        uint256 priorSeed,
        uint256 claimedSeed
    ) public {
        (uint16 bps, uint128 limit, uint256 used) = _setup(bpsSeed, limitSeed, priorSeed);
        uint256 claimed = bound(claimedSeed, 1, type(uint88).max);
        uint256 claimId = recordAndClaim(pid, claimed);
        uint256 cap = _min(claimed * bps / 10_000, limit - used);
        if (cap == 0) {
            vm.prank(insurerKiosk);
            vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, 1, 0));
            insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 1, responseEnv());
            return;
        }
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, cap + 1, cap));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), cap + 1, responseEnv());
        vm.prank(insurerKiosk);
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), cap, responseEnv());
        assertEq(insurance.getClaim(claimId).approved, cap);
        assertEq(_used(), used + cap);
        (, uint256 remaining) = insurance.coverageOf(pid);
        assertEq(remaining, limit - used - cap);
    }

    function testFuzz_periodRollover(uint256 dtSeed, uint256 amountSeed) public {
        uint128 limit = 1000e18;
        enroll(pid, insurerKiosk, 10_000, limit);
        uint256 c1 = recordAndClaim(pid, limit);
        uint256 c2 = recordAndClaim(pid, limit);
        vm.prank(insurerKiosk);
        insurance.approveClaim(c1, claimPatient(c1), bytes32(0), limit, responseEnv());

        uint256 dt = bound(dtSeed, 0, 10 * PERIOD);
        vm.warp(T0 + dt);
        bool rolled = dt >= PERIOD;
        (, uint256 remaining) = insurance.coverageOf(pid);
        assertEq(remaining, rolled ? limit : 0, "remaining after dt");

        uint256 amount = bound(amountSeed, 1, limit);
        vm.prank(insurerKiosk);
        if (!rolled) {
            vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, amount, 0));
            insurance.approveClaim(c2, claimPatient(c2), bytes32(0), amount, responseEnv());
            return;
        }
        insurance.approveClaim(c2, claimPatient(c2), bytes32(0), amount, responseEnv());
        (InsuranceProvider.Coverage memory c, uint256 rem) = insurance.coverageOf(pid);
        assertEq(c.periodStart, T0 + (dt / PERIOD) * PERIOD, "period start moves by whole periods");
        assertEq(c.used, amount);
        assertEq(rem, limit - amount);
    }
}
