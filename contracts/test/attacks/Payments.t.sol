// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Fixture} from "../utils/Fixture.sol";
import {InsuranceProvider, IHospitalRecord} from "../../src/InsuranceProvider.sol";
import {PatientSmartCard} from "../../src/PatientSmartCard.sol";
import {IPatientSmartCard} from "../../src/CareTypes.sol";

/// @notice A payment token that calls back into whatever it is armed with in the middle of a transfer (as an
/// ERC-777 hook or a malicious stablecoin upgrade would), then either swallows the callback's failure or
/// propagates it.
contract ReentrantToken is ERC20 {
    address public target;
    bytes public payload;
    bool public swallow;
    bool public armed;
    bool public attempted;
    bool public reentered;
    bytes public lastRevert;

    constructor() ERC20("Re-entering Dollar", "rUSD") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @dev The next transfer (or transferFrom) calls `target` with `payload`, once.
    function arm(address target_, bytes calldata payload_, bool swallow_) external {
        target = target_;
        payload = payload_;
        swallow = swallow_;
        armed = true;
    }

    /// @dev A propagated failure rolls back the disarming too: stop explicitly.
    function disarm() external {
        armed = false;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (!armed) return;
        armed = false;
        attempted = true;
        (bool ok, bytes memory ret) = target.call(payload);
        reentered = ok;
        lastRevert = ret;
        if (!ok && !swallow) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}

/// @notice A token whose transfer returns false instead of reverting (USDT-style failures).
contract FalseToken is ERC20 {
    bool public failing;

    constructor() ERC20("False Dollar", "fUSD") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setFailing(bool f) external {
        failing = f;
    }

    function transfer(address to, uint256 value) public override returns (bool) {
        if (failing) return false;
        return super.transfer(to, value);
    }
}

/// @notice Attacks on claims and payments: an insurer approving above coverage or paying twice, another insurer
/// deciding or paying a claim, a payment token that re-enters InsuranceProvider, a token that fails quietly, and
/// an escrow that runs dry. The invariant checked throughout: the contract's token balance equals the sum of the
/// escrows, and a hospital is paid each approved claim exactly once.
contract PaymentAttacks is Fixture {
    uint256 internal constant CLAIM = 100e18;
    uint16 internal constant BPS = 8_000;
    uint128 internal constant LIMIT = 1_000e18;

    function setUp() public override {
        super.setUp();
        enroll(pid, insurerKiosk, BPS, LIMIT);
    }

    function _approve(InsuranceProvider ins, uint256 claimId, uint256 amount) internal {
        vm.prank(insurerKiosk);
        ins.approveClaim(claimId, claimPatient(claimId), bytes32(0), amount, responseEnv());
    }

    function _pay(InsuranceProvider ins, uint256 claimId) internal {
        vm.prank(insurerKiosk);
        ins.processPayment(claimId, bytes32(0));
    }

    function _status(InsuranceProvider ins, uint256 claimId) internal view returns (InsuranceProvider.ClaimStatus s) {
        (s,,,,) = ins.getClaimStatus(claimId);
    }

    function _assertEscrowBacked(InsuranceProvider ins, IERC20 t) internal view {
        assertEq(
            t.balanceOf(address(ins)),
            ins.escrowOf(insurer) + ins.escrowOf(insurer2),
            "token balance equals the escrows"
        );
    }

    // ================================================================ above coverage

    function test_aboveCoverage_percentageCapHolds() public {
        uint256 claimId = recordAndClaim(pid, CLAIM);
        uint256 cap = CLAIM * BPS / 10_000;
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, cap + 1, cap));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), cap + 1, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, type(uint256).max, cap));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), type(uint256).max, responseEnv());
        assertTrue(_status(insurance, claimId) == InsuranceProvider.ClaimStatus.Submitted, "still pending");
        (, uint256 remaining) = insurance.coverageOf(pid);
        assertEq(remaining, LIMIT, "nothing used");
    }

    function test_aboveCoverage_annualLimitHoldsAcrossClaims() public {
        // Claims of 100 at 80 %: twelve approvals of 80, a thirteenth of the 40 left, then nothing at all.
        uint256 approvedSum;
        for (uint256 i; i < 14; ++i) {
            uint256 claimId = recordAndClaim(pid, CLAIM);
            (, uint256 remaining) = insurance.coverageOf(pid);
            uint256 cap = CLAIM * BPS / 10_000;
            if (remaining < cap) cap = remaining;
            if (cap == 0) {
                vm.prank(insurerKiosk);
                vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, 1, 0));
                insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 1, responseEnv());
                continue;
            }
            vm.prank(insurerKiosk);
            vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, cap + 1, cap));
            insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), cap + 1, responseEnv());
            _approve(insurance, claimId, cap);
            approvedSum += cap;
        }
        assertEq(approvedSum, LIMIT, "approved exactly up to the limit, never beyond");
        (InsuranceProvider.Coverage memory c, uint256 left) = insurance.coverageOf(pid);
        assertEq(c.used, LIMIT);
        assertEq(left, 0);
    }

    function test_aboveCoverage_evenAtHundredPercentNeverMoreThanClaimed() public {
        // The insurer may change its own terms, but no approval can exceed what the hospital claimed.
        enroll(pid, insurerKiosk, 10_000, type(uint88).max);
        uint256 claimId = recordAndClaim(pid, CLAIM);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, CLAIM + 1, CLAIM));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), CLAIM + 1, responseEnv());
        _approve(insurance, claimId, CLAIM);
    }

    function test_aboveCoverage_approvingTwiceOrAfterDenialRefused() public {
        uint256 a = recordAndClaim(pid, CLAIM);
        uint256 b = recordAndClaim(pid, CLAIM);
        _approve(insurance, a, 10e18);
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(
                InsuranceProvider.ClaimNotPending.selector, a, InsuranceProvider.ClaimStatus.Approved
            )
        );
        insurance.approveClaim(a, claimPatient(a), bytes32(0), 10e18, responseEnv());
        vm.prank(insurerKiosk);
        insurance.denyClaim(b, bytes32(0), 7, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(InsuranceProvider.ClaimNotPending.selector, b, InsuranceProvider.ClaimStatus.Denied)
        );
        insurance.approveClaim(b, claimPatient(b), bytes32(0), 10e18, responseEnv());
        (InsuranceProvider.Coverage memory c,) = insurance.coverageOf(pid);
        assertEq(c.used, 10e18, "only the first approval counts");
    }

    function testFuzz_aboveCoverage_neverApprovedBeyondCapOrLimit(uint256 claimed, uint256 asked, uint16 bps) public {
        bps = uint16(bound(bps, 1, 10_000));
        enroll(pid, insurerKiosk, bps, LIMIT);
        claimed = bound(claimed, 1, type(uint88).max);
        uint256 claimId = recordAndClaim(pid, claimed);
        uint256 cap = claimed * bps / 10_000;
        if (cap > LIMIT) cap = LIMIT;
        asked = bound(asked, 1, type(uint256).max);
        vm.prank(insurerKiosk);
        if (asked > cap) {
            vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, asked, cap));
            insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), asked, responseEnv());
            assertTrue(_status(insurance, claimId) == InsuranceProvider.ClaimStatus.Submitted);
        } else {
            insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), asked, responseEnv());
            (,, uint256 approved,,) = insurance.getClaimStatus(claimId);
            assertEq(approved, asked);
            assertLe(approved, claimed, "never more than claimed");
        }
    }

    // ================================================================ paying twice, the wrong insurer

    function test_payTwice_hospitalPaidOnce() public {
        uint256 claimId = recordAndClaim(pid, CLAIM);
        _approve(insurance, claimId, 80e18);
        uint256 escrow = insurance.escrowOf(insurer);
        _pay(insurance, claimId);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.AlreadyPaid.selector, claimId));
        insurance.processPayment(claimId, bytes32(0));
        // From another kiosk of the same insurer, too.
        address other = makeAddr("insurerKioskB");
        _addKiosk(insurer, other);
        vm.prank(other);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.AlreadyPaid.selector, claimId));
        insurance.processPayment(claimId, bytes32(0));
        assertEq(token.balanceOf(hospital), 80e18, "paid exactly once");
        assertEq(insurance.escrowOf(insurer), escrow - 80e18);
        _assertEscrowBacked(insurance, token);
    }

    function test_payTwice_aSecondClaimForTheSameRecordRefused() public {
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        vm.prank(hospitalKiosk);
        uint256 claimId = insurance.submitClaim(pid, index, CLAIM, env(0xc1a1));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.RecordAlreadyClaimed.selector, pid, index, claimId));
        insurance.submitClaim(pid, index, CLAIM, env(0xc1a2));
        assertEq(insurance.claimCount(), claimId);
    }

    function test_wrongInsurer_cannotDecideOrPayAnothersClaim() public {
        uint256 a = recordAndClaim(pid, CLAIM);
        uint256 b = recordAndClaim(pid, CLAIM);
        fund(insurer2, ESCROW);
        vm.startPrank(insurer2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.WrongInsurer.selector, a, insurer2Kiosk));
        insurance.approveClaim(a, claimPatient(a), bytes32(0), 1, responseEnv());
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.WrongInsurer.selector, a, insurer2Kiosk));
        insurance.denyClaim(a, bytes32(0), 1, responseEnv());
        vm.stopPrank();
        _approve(insurance, b, 80e18);
        vm.prank(insurer2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotClaimParty.selector, b, insurer2Kiosk));
        insurance.processPayment(b, bytes32(0));
        // Without the patient's consent, insurer 2 cannot take the coverage over either.
        vm.prank(insurer2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, insurer2));
        insurance.enrollPatient(pid, 10_000, type(uint128).max);
        (InsuranceProvider.Coverage memory cov,) = insurance.coverageOf(pid);
        assertEq(cov.insurer, insurer, "coverage unchanged");
        assertEq(insurance.escrowOf(insurer2), ESCROW, "insurer 2's escrow untouched");
        assertEq(token.balanceOf(hospital), 0);
    }

    // ================================================================ a payment token that re-enters

    ReentrantToken internal evil;
    InsuranceProvider internal evilIns;

    /// @dev InsuranceProvider paying in the re-entering token, on the fixture's hub and records (its insurer and
    /// patient). The token is made a kiosk of the insurer, the worst case: its callbacks pass the role checks, so
    /// only the reentrancy guard and checks-effects-interactions stand between it and a second payment.
    function _evilStack() internal returns (uint256 a, uint256 b) {
        evil = new ReentrantToken();
        evilIns = new InsuranceProvider(hub, IHospitalRecord(address(records)), IERC20(address(evil)));
        _asTheHubsInsuranceProvider(address(evilIns));
        _addKiosk(insurer, address(evil));
        vm.prank(insurerKiosk);
        evilIns.enrollPatient(pid, BPS, LIMIT);
        evil.mint(funder, 1_000e18);
        vm.startPrank(funder);
        evil.approve(address(evilIns), 1_000e18);
        evilIns.fundEscrow(insurer, 1_000e18);
        vm.stopPrank();
        for (uint256 i; i < 2; ++i) {
            uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
            vm.prank(hospitalKiosk);
            uint256 id = evilIns.submitClaim(pid, index, CLAIM, env(0xc1a1));
            _approve(evilIns, id, 80e18);
            if (i == 0) a = id;
            else b = id;
        }
    }

    /// @dev HospitalRecord lets only the hub's InsuranceProvider mark a record billed (`bill`): the hub names `ins`
    /// for these tests (the hub is wired once; only this view is answered otherwise).
    function _asTheHubsInsuranceProvider(address ins) internal {
        vm.mockCall(address(hub), abi.encodeCall(IPatientSmartCard.insuranceProvider, ()), abi.encode(ins));
    }

    function _guardError() internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
    }

    function test_reentrantToken_secondPaymentOfTheSameClaimBlocked_swallowed() public {
        (uint256 a,) = _evilStack();
        evil.arm(address(evilIns), abi.encodeCall(InsuranceProvider.processPayment, (a, bytes32(0))), true);
        _pay(evilIns, a);
        assertTrue(evil.attempted(), "the token did call back");
        assertFalse(evil.reentered(), "the call back failed");
        assertTrue(keccak256(evil.lastRevert()) == keccak256(_guardError()), "refused by the reentrancy guard");
        assertEq(evil.balanceOf(hospital), 80e18, "hospital paid once");
        assertEq(evilIns.escrowOf(insurer), 1_000e18 - 80e18, "escrow debited once");
        assertEq(evilIns.reservedOf(insurer), 80e18, "only b's reserve left");
        assertTrue(_status(evilIns, a) == InsuranceProvider.ClaimStatus.Paid);
        _assertEscrowBacked(evilIns, evil);
    }

    function test_reentrantToken_paymentOfAnotherClaimBlocked_propagated() public {
        (uint256 a, uint256 b) = _evilStack();
        evil.arm(address(evilIns), abi.encodeCall(InsuranceProvider.processPayment, (b, bytes32(0))), false);
        vm.prank(insurerKiosk);
        vm.expectRevert(_guardError());
        evilIns.processPayment(a, bytes32(0));
        // The whole payment rolled back: nothing paid, both claims still approved, escrow whole.
        assertEq(evil.balanceOf(hospital), 0);
        assertEq(evilIns.escrowOf(insurer), 1_000e18);
        assertTrue(_status(evilIns, a) == InsuranceProvider.ClaimStatus.Approved);
        assertTrue(_status(evilIns, b) == InsuranceProvider.ClaimStatus.Approved);
        // Disarmed, both pay once each.
        assertTrue(evil.armed(), "the rollback kept the token armed");
        evil.disarm();
        _pay(evilIns, a);
        _pay(evilIns, b);
        assertEq(evil.balanceOf(hospital), 160e18);
        _assertEscrowBacked(evilIns, evil);
    }

    function test_reentrantToken_withdrawDuringPaymentBlocked() public {
        (uint256 a,) = _evilStack();
        // The token re-enters as if it were the insurer's institution withdrawing the escrow it is being paid from.
        evil.arm(address(evilIns), abi.encodeCall(InsuranceProvider.withdrawEscrow, (1_000e18, address(evil))), true);
        _pay(evilIns, a);
        assertFalse(evil.reentered());
        assertTrue(keccak256(evil.lastRevert()) == keccak256(_guardError()), "refused by the reentrancy guard");
        assertEq(evil.balanceOf(address(evil)), 0, "nothing withdrawn");
        assertEq(evilIns.escrowOf(insurer), 920e18);
        _assertEscrowBacked(evilIns, evil);
    }

    function test_reentrantToken_fundEscrowReentryBlocked() public {
        _evilStack();
        evil.mint(funder, 50e18);
        vm.prank(funder);
        evil.approve(address(evilIns), 50e18);
        // During transferFrom the token tries to credit the escrow a second time.
        evil.arm(address(evilIns), abi.encodeCall(InsuranceProvider.fundEscrow, (insurer, 50e18)), true);
        vm.prank(funder);
        evilIns.fundEscrow(insurer, 50e18);
        assertFalse(evil.reentered());
        assertTrue(keccak256(evil.lastRevert()) == keccak256(_guardError()), "refused by the reentrancy guard");
        assertEq(evilIns.escrowOf(insurer), 1_050e18, "credited once");
        _assertEscrowBacked(evilIns, evil);
    }

    function test_reentrantToken_unguardedDecisionsKeepAccountsStraight() public {
        // approveClaim and denyClaim make no token calls and carry no guard: re-entering them mid-payment is
        // allowed, and the accounts stay exact (the paid claim was marked Paid before the transfer).
        (uint256 a,) = _evilStack();
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        vm.prank(hospitalKiosk);
        uint256 c = evilIns.submitClaim(pid, index, CLAIM, env(0xc1a1));
        evil.arm(address(evilIns), abi.encodeCall(InsuranceProvider.approveClaim, (c, pid, bytes32(0), 80e18, responseEnv())), false);
        _pay(evilIns, a);
        assertTrue(evil.reentered(), "the approval went through");
        assertTrue(_status(evilIns, a) == InsuranceProvider.ClaimStatus.Paid);
        assertTrue(_status(evilIns, c) == InsuranceProvider.ClaimStatus.Approved);
        (InsuranceProvider.Coverage memory cov,) = evilIns.coverageOf(pid);
        assertEq(cov.used, 240e18, "three approvals of 80, each counted once");
        assertEq(evil.balanceOf(hospital), 80e18);
        _assertEscrowBacked(evilIns, evil);
    }

    function test_falseReturningToken_paymentRevertsAndClaimStaysApproved() public {
        FalseToken f = new FalseToken();
        InsuranceProvider ins = new InsuranceProvider(hub, IHospitalRecord(address(records)), IERC20(address(f)));
        _asTheHubsInsuranceProvider(address(ins));
        vm.prank(insurerKiosk);
        ins.enrollPatient(pid, BPS, LIMIT);
        f.mint(funder, 100e18);
        vm.startPrank(funder);
        f.approve(address(ins), 100e18);
        ins.fundEscrow(insurer, 100e18);
        vm.stopPrank();
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        vm.prank(hospitalKiosk);
        uint256 id = ins.submitClaim(pid, index, CLAIM, env(0xc1a1));
        _approve(ins, id, 80e18);
        f.setFailing(true);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(f)));
        ins.processPayment(id, bytes32(0));
        assertTrue(_status(ins, id) == InsuranceProvider.ClaimStatus.Approved, "not marked paid");
        assertEq(ins.escrowOf(insurer), 100e18, "escrow not debited");
        f.setFailing(false);
        _pay(ins, id);
        assertEq(f.balanceOf(hospital), 80e18);
    }

    // ================================================================ an escrow that runs dry

    /// @dev The insurer's institution withdraws all of its unreserved escrow but `left`.
    function _drainTo(uint256 left) internal {
        uint256 free = insurance.escrowOf(insurer) - insurance.reservedOf(insurer);
        vm.prank(insurer);
        insurance.withdrawEscrow(free - left, insurer);
    }

    function test_dryEscrow_approvalRefusedUntilToppedUp() public {
        uint256 a = recordAndClaim(pid, CLAIM);
        uint256 b = recordAndClaim(pid, CLAIM);
        _drainTo(100e18);
        _approve(insurance, a, 80e18);
        // Only 20 are left unreserved: the second approval would promise money the insurer does not hold.
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, 20e18, 80e18));
        insurance.approveClaim(b, claimPatient(b), bytes32(0), 80e18, responseEnv());
        assertTrue(_status(insurance, b) == InsuranceProvider.ClaimStatus.Submitted, "b still pending");
        (InsuranceProvider.Coverage memory c,) = insurance.coverageOf(pid);
        assertEq(c.used, 80e18, "the refused approval used no coverage");
        _pay(insurance, a);
        assertEq(token.balanceOf(hospital), 80e18);
        assertEq(insurance.escrowOf(insurer), 20e18);
        _assertEscrowBacked(insurance, token);
        fund(insurer, 60e18);
        _approve(insurance, b, 80e18);
        _pay(insurance, b);
        assertEq(token.balanceOf(hospital), 160e18);
        assertEq(insurance.escrowOf(insurer), 0);
        assertEq(insurance.reservedOf(insurer), 0);
        _assertEscrowBacked(insurance, token);
    }

    function test_dryEscrow_anotherInsurersEscrowIsNeverTouched() public {
        uint256 a = recordAndClaim(pid, CLAIM);
        fund(insurer2, ESCROW);
        _drainTo(0);
        // The contract holds insurer 2's million; insurer 1 still cannot approve (or be paid) from it.
        assertEq(token.balanceOf(address(insurance)), ESCROW);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, 0, 80e18));
        insurance.approveClaim(a, claimPatient(a), bytes32(0), 80e18, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(
                InsuranceProvider.ClaimNotApproved.selector, a, InsuranceProvider.ClaimStatus.Submitted
            )
        );
        insurance.processPayment(a, bytes32(0));
        assertEq(insurance.escrowOf(insurer2), ESCROW);
        assertEq(token.balanceOf(hospital), 0);
    }

    function test_dryEscrow_withdrawingMoreThanTheEscrowRefused() public {
        _drainTo(10e18);
        vm.prank(insurer);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, 10e18, 10e18 + 1));
        insurance.withdrawEscrow(10e18 + 1, insurer);
        // An insurer's kiosk is not its institution: kiosks pay claims, only the institution withdraws.
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, insurerKiosk));
        insurance.withdrawEscrow(1, insurerKiosk);
        assertEq(insurance.escrowOf(insurer), 10e18);
    }

    function test_dryEscrow_withdrawalBetweenApprovalAndPaymentCannotTakeTheReserve() public {
        uint256 a = recordAndClaim(pid, CLAIM);
        _approve(insurance, a, 80e18);
        _drainTo(0);
        assertEq(insurance.escrowOf(insurer), 80e18, "the reserve stays");
        vm.prank(insurer);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, 0, 1));
        insurance.withdrawEscrow(1, insurer);
        _pay(insurance, a);
        assertTrue(_status(insurance, a) == InsuranceProvider.ClaimStatus.Paid);
        assertEq(token.balanceOf(hospital), 80e18, "the approved claim was paid");
        assertEq(insurance.escrowOf(insurer), 0);
        assertEq(insurance.reservedOf(insurer), 0);
        _assertEscrowBacked(insurance, token);
    }

    function testFuzz_dryEscrow_paidNeverExceedsFunded(uint256 funded, uint8 claims) public {
        _drainTo(0);
        funded = bound(funded, 0, 500e18);
        claims = uint8(bound(claims, 1, 10));
        if (funded > 0) fund(insurer, funded);
        uint256 paid;
        for (uint256 i; i < claims; ++i) {
            uint256 id = recordAndClaim(pid, CLAIM);
            uint256 available = insurance.escrowOf(insurer) - insurance.reservedOf(insurer);
            vm.prank(insurerKiosk);
            if (available < 80e18) {
                vm.expectRevert(
                    abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, available, 80e18)
                );
                insurance.approveClaim(id, claimPatient(id), bytes32(0), 80e18, responseEnv());
            } else {
                insurance.approveClaim(id, claimPatient(id), bytes32(0), 80e18, responseEnv());
                _pay(insurance, id);
                paid += 80e18;
            }
            _assertEscrowBacked(insurance, token);
            assertGe(insurance.escrowOf(insurer), insurance.reservedOf(insurer), "escrow covers the reserve");
        }
        assertLe(paid, funded, "never paid more than was funded");
        assertEq(token.balanceOf(hospital), paid);
        assertEq(insurance.escrowOf(insurer), funded - paid);
    }
}
