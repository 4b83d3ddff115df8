// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./utils/Fixture.sol";
import {Role, Scope, MalformedEnvelope, Envelope, CardSig, ConsentTerms} from "../src/CareTypes.sol";
import {PatientSmartCard} from "../src/PatientSmartCard.sol";
import {HospitalRecord} from "../src/HospitalRecord.sol";
import {InsuranceProvider, IHospitalRecord} from "../src/InsuranceProvider.sol";
import {TestStablecoin} from "../src/TestStablecoin.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

contract InsuranceProviderTest is Fixture {
    uint16 internal constant BPS = 8000;
    uint128 internal constant LIMIT = 1000e18;
    uint32 internal constant PERIOD = 365 days;

    function setUp() public override {
        super.setUp();
        enroll(pid, insurerKiosk, BPS, LIMIT);
    }

    function _status(uint256 claimId) internal view returns (InsuranceProvider.ClaimStatus s) {
        (s,,,,) = insurance.getClaimStatus(claimId);
    }

    function _approve(uint256 claimId, uint256 amount) internal {
        vm.prank(insurerKiosk);
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), amount, responseEnv());
    }

    function _coverage() internal view returns (InsuranceProvider.Coverage memory c, uint256 remaining) {
        return insurance.coverageOf(pid);
    }

    function test_constantsAndWiring() public view {
        assertEq(insurance.PERIOD(), 365 days);
        assertEq(insurance.MAX_BUCKET(), 16 * 1024);
        assertEq(address(insurance.hub()), address(hub));
        assertEq(address(insurance.records()), address(records));
        assertEq(address(insurance.token()), address(token));
        assertEq(insurance.claimCount(), 0);
    }

    // ================================================================ registerInsurer

    function test_registerInsurer() public {
        address x = makeAddr("newInsurer");
        (address regTarget, bytes memory regCall) = registerCall(x, Role.Insurer);
        scheduleGoverned(regTarget, regCall);
        vm.expectEmit(address(hub));
        emit PatientSmartCard.InstitutionRegistered(x, Role.Insurer, 7);
        executeGoverned(regTarget, regCall);
        (,, uint32 newId) = hub.institutions(x);
        assertEq(newId, 7);
        vm.prank(insurer);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotGovernance.selector, insurer));
        insurance.registerInsurer(makeAddr("other"));
        (address target, bytes memory data) = registerCall(insurer2, Role.Insurer);
        vm.startPrank(admin);
        hub.schedule(target, data);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.AlreadyRegistered.selector, insurer2));
        hub.execute(target, data);
        vm.stopPrank();
    }

    // ================================================================ escrow

    function test_fundEscrow() public {
        assertEq(insurance.escrowOf(insurer), ESCROW);
        assertEq(token.balanceOf(address(insurance)), ESCROW);
        token.mint(stranger, 500);
        vm.startPrank(stranger);
        token.approve(address(insurance), 500);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.EscrowFunded(insurer2, stranger, 500);
        insurance.fundEscrow(insurer2, 500);
        vm.stopPrank();
        assertEq(insurance.escrowOf(insurer2), 500);
        assertEq(token.balanceOf(address(insurance)), ESCROW + 500);
        assertEq(token.balanceOf(stranger), 0);
    }

    function test_fundEscrow_reverts() public {
        vm.startPrank(stranger);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ZeroAmount.selector));
        insurance.fundEscrow(insurer, 0);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, hospital));
        insurance.fundEscrow(hospital, 1);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, insurerKiosk));
        insurance.fundEscrow(insurerKiosk, 1);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, stranger));
        insurance.fundEscrow(stranger, 1);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(insurance), 0, 500)
        );
        insurance.fundEscrow(insurer, 500);
        token.approve(address(insurance), 500);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, stranger, 0, 500));
        insurance.fundEscrow(insurer, 500);
        vm.stopPrank();
        assertEq(insurance.escrowOf(insurer), ESCROW);
    }

    function test_withdrawEscrow() public {
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.EscrowWithdrawn(insurer, stranger, 100);
        vm.prank(insurer);
        insurance.withdrawEscrow(100, stranger);
        assertEq(insurance.escrowOf(insurer), ESCROW - 100);
        assertEq(token.balanceOf(stranger), 100);
        assertEq(token.balanceOf(address(insurance)), ESCROW - 100);
        vm.prank(insurer);
        insurance.withdrawEscrow(ESCROW - 100, insurer);
        assertEq(insurance.escrowOf(insurer), 0);
        assertEq(token.balanceOf(insurer), ESCROW - 100);
    }

    function test_withdrawEscrow_reverts() public {
        vm.prank(insurerKiosk); // a kiosk is not the institution
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, insurerKiosk));
        insurance.withdrawEscrow(1, insurerKiosk);
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, hospital));
        insurance.withdrawEscrow(1, hospital);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, stranger));
        insurance.withdrawEscrow(0, stranger);
        vm.prank(insurer);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, ESCROW, ESCROW + 1));
        insurance.withdrawEscrow(ESCROW + 1, insurer);
        // An insurer cannot touch another's escrow.
        vm.prank(insurer2);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, 0, 1));
        insurance.withdrawEscrow(1, insurer2);
        vm.prank(insurer);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        insurance.withdrawEscrow(1, address(0));
        assertEq(insurance.escrowOf(insurer), ESCROW);
    }

    // ================================================================ enrollPatient / coverageOf

    function test_enrollPatient() public {
        bytes32 other = registerPatient(OTHER_PK);
        vm.warp(block.timestamp + 5 days);
        grant(OTHER_PK, other, insurer2Kiosk, Scope.READ, 0);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.PatientEnrolled(other, insurer2, 10_000, 7e18);
        vm.prank(insurer2Kiosk);
        insurance.enrollPatient(other, 10_000, 7e18);
        (InsuranceProvider.Coverage memory c, uint256 remaining) = insurance.coverageOf(other);
        assertEq(c.insurer, insurer2);
        assertEq(c.bps, 10_000);
        assertEq(c.periodStart, block.timestamp);
        assertEq(c.annualLimit, 7e18);
        assertEq(c.used, 0);
        assertEq(remaining, 7e18);
        // The fixture's enrolment.
        (c, remaining) = _coverage();
        assertTrue(c.insurer == insurer && c.bps == BPS && c.annualLimit == LIMIT && c.periodStart == T0);
        assertEq(remaining, LIMIT);
    }

    function test_enrollPatient_updateKeepsPeriodAndUse() public {
        uint256 claimId = recordAndClaim(pid, 100e18);
        _approve(claimId, 80e18);
        vm.warp(block.timestamp + 10 days);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.PatientEnrolled(pid, insurer, 5000, 2000e18);
        enroll(pid, insurerKiosk, 5000, 2000e18);
        (InsuranceProvider.Coverage memory c, uint256 remaining) = _coverage();
        assertEq(c.periodStart, T0);
        assertEq(c.used, 80e18);
        assertEq(c.bps, 5000);
        assertEq(remaining, 2000e18 - 80e18);
        // Lowered below what is used: nothing remains.
        enroll(pid, insurerKiosk, 5000, 50e18);
        (, remaining) = _coverage();
        assertEq(remaining, 0);
    }

    function test_coverageOf_uncovered() public view {
        (InsuranceProvider.Coverage memory c, uint256 remaining) = insurance.coverageOf(idOf(OTHER_PK));
        assertEq(c.insurer, address(0));
        assertEq(remaining, 0);
    }

    function test_enrollPatient_reverts() public {
        bytes32 other = registerPatient(OTHER_PK);
        grant(OTHER_PK, other, insurerKiosk, Scope.READ, 0);
        vm.startPrank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.InvalidCoverage.selector, 0, LIMIT));
        insurance.enrollPatient(other, 0, LIMIT);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.InvalidCoverage.selector, 10_001, LIMIT));
        insurance.enrollPatient(other, 10_001, LIMIT);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.InvalidCoverage.selector, 5000, 0));
        insurance.enrollPatient(other, 5000, 0);
        bytes32 unknown = idOf(0xDEAD);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, unknown, insurer));
        insurance.enrollPatient(unknown, 5000, LIMIT);
        vm.stopPrank();

        // Another insurer without the patient's consent cannot enrol them (nor take the coverage over).
        vm.prank(insurer2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, pid, insurer2));
        insurance.enrollPatient(pid, 5000, LIMIT);
        vm.prank(hospitalKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, hospital, Role.Insurer, Role.Hospital)
        );
        insurance.enrollPatient(other, 5000, LIMIT);
        vm.prank(insurer);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, insurer));
        insurance.enrollPatient(other, 5000, LIMIT);
        setActive(insurer, false);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, insurer));
        insurance.enrollPatient(other, 5000, LIMIT);
    }

    // ================================================================ submitClaim

    function test_submitClaim() public {
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        bytes memory sealedClaim = envOf(2048, 0xc1a1);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ClaimSubmitted(1, pid, hospital, 250e18, keccak256(sealedClaim));
        vm.prank(hospitalKiosk);
        assertEq(insurance.submitClaim(pid, index, 250e18, sealedClaim), 1);
        assertEq(insurance.claimCount(), 1);
        assertEq(insurance.claimOfRecord(pid, index), 1);

        InsuranceProvider.Claim memory c = insurance.getClaim(1);
        assertEq(c.patientPrefix, bytes12(pid), "the stored part of the patient id");
        assertEq(c.hospital, hospital);
        assertEq(c.claimed, 250e18);
        assertTrue(c.status == InsuranceProvider.ClaimStatus.Submitted);
        assertEq(c.insurer, insurer);
        assertEq(c.approved, 0);
        assertEq(c.recordIndex, index);
        assertEq(c.contentHashPrefix, bytes16(keccak256(sealedClaim)), "the stored part of the hash");

        (InsuranceProvider.ClaimStatus s, uint256 claimed, uint256 approved, address h, address i) =
            insurance.getClaimStatus(1);
        assertTrue(s == InsuranceProvider.ClaimStatus.Submitted);
        assertEq(claimed, 250e18);
        assertEq(approved, 0);
        assertEq(h, hospital);
        assertEq(i, insurer);
    }

    function test_submitClaim_revertsForRecordNotAuthored() public {
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        grant(PATIENT_PK, pid, hospital2Kiosk, Scope.WRITE, 0);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotRecordAuthor.selector, pid, index));
        insurance.submitClaim(pid, index, 1, env(0x01));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NoSuchRecord.selector, pid, index + 1));
        insurance.submitClaim(pid, index + 1, 1, env(0x01));
    }

    function test_submitClaim_revertsForBadAmountOrContent() public {
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        vm.startPrank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ZeroAmount.selector));
        insurance.submitClaim(pid, index, 0, env(0x01));
        uint256 tooLarge = uint256(type(uint88).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.AmountTooLarge.selector, tooLarge));
        insurance.submitClaim(pid, index, tooLarge, env(0x01));
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, 0));
        insurance.submitClaim(pid, index, 1, "");
        bytes memory big = envOf(32768, 1);
        vm.expectRevert(abi.encodeWithSelector(MalformedEnvelope.selector, big.length));
        insurance.submitClaim(pid, index, 1, big);
        // The largest amount and claim bucket are accepted.
        assertEq(insurance.submitClaim(pid, index, type(uint88).max, envOf(16384, 1)), 1);
        vm.stopPrank();
        assertEq(insurance.getClaim(1).claimed, type(uint88).max);
    }

    function test_submitClaim_revertsWhenNotCovered() public {
        bytes32 other = registerPatient(OTHER_PK);
        grant(OTHER_PK, other, hospitalKiosk, Scope.WRITE, 0);
        uint256 index = addRecord(other, hospitalKiosk, env(0x0bad));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotCovered.selector, other));
        insurance.submitClaim(other, index, 1, env(0x01));
    }

    function test_submitClaim_revertsWhenClaimedTwice() public {
        uint256 claimId = recordAndClaim(pid, 10e18);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.RecordAlreadyClaimed.selector, pid, 0, claimId));
        insurance.submitClaim(pid, 0, 5e18, env(0x02));
        // Still after a denial: a record is billed once.
        vm.prank(insurerKiosk);
        insurance.denyClaim(claimId, bytes32(0), 1, responseEnv());
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.RecordAlreadyClaimed.selector, pid, 0, claimId));
        insurance.submitClaim(pid, 0, 5e18, env(0x02));
        // An amendment is not billed again: one claim per visit, whatever its amendments.
        vm.prank(hospitalKiosk);
        uint256 amended = records.updateMedicalHistory(pid, 0, env(0x0bad02));
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotOriginalRecord.selector, pid, amended));
        insurance.submitClaim(pid, amended, 5e18, env(0x02));
        assertEq(insurance.claimCount(), 1);
    }

    /// The billed mark lives in the record's entry (HospitalRecord.bill): a refused claim leaves no mark, each of two
    /// entries sharing a slot keeps its own mark and its own header, and only the hub's InsuranceProvider marks.
    function test_submitClaim_markIsTheEntrys() public {
        uint256 a = addRecord(pid, hospitalKiosk, env(0x0a));
        uint256 b = addRecord(pid, hospitalKiosk, env(0x0b));
        assertEq(a >> 1, b >> 1, "the two entries share a slot");
        grant(PATIENT_PK, pid, hospital2Kiosk, Scope.WRITE, 0);
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotRecordAuthor.selector, pid, b));
        insurance.submitClaim(pid, b, 1, env(0x01));
        assertEq(insurance.claimOfRecord(pid, b), 0, "a refused claim leaves no mark");
        assertEq(records.billedBy(pid, b), 0);
        vm.startPrank(hospitalKiosk);
        uint256 cb = insurance.submitClaim(pid, b, 7e18, env(0x02));
        assertEq(insurance.claimOfRecord(pid, a), 0, "the slot's other entry stays unbilled");
        uint256 ca = insurance.submitClaim(pid, a, 5e18, env(0x03));
        vm.stopPrank();
        assertEq(insurance.claimOfRecord(pid, a), ca);
        assertEq(insurance.claimOfRecord(pid, b), cb);
        assertEq(records.recordAuthor(pid, a), hospitalId, "the headers are untouched by the marks");
        assertEq(records.recordAuthor(pid, b), hospitalId);
        assertTrue(records.isOriginal(pid, a) && records.isOriginal(pid, b));
        (HospitalRecord.Record[] memory page,) = records.getMedicalRecords(pid, a, 2);
        assertEq(page[0].time, uint32(block.timestamp));
        assertEq(page[1].supersedes, 0);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NoSuchRecord.selector, pid, b + 1));
        insurance.claimOfRecord(pid, b + 1);
        // A record index the kiosk pushes past 2^24 (which the claim's stored uint24 would wrap onto an existing
        // entry) or to its maximum is no record: the mark is asked with the whole index.
        uint256[2] memory far = [(uint256(1) << 24) + a, type(uint256).max];
        vm.startPrank(hospitalKiosk);
        for (uint256 i; i < far.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NoSuchRecord.selector, pid, far[i]));
            insurance.submitClaim(pid, far[i], 1, env(0x04));
        }
        vm.stopPrank();
        assertEq(insurance.claimCount(), 2, "nothing billed by them");
    }

    function test_bill_onlyTheHubsInsuranceProvider() public {
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0a));
        // A kiosk, the hub's admin, another InsuranceProvider on the same records: none can mark an entry billed
        // (a mark would stop the hospital from billing its visit).
        InsuranceProvider rogue = new InsuranceProvider(hub, IHospitalRecord(address(records)), IERC20(address(token)));
        address[3] memory callers = [hospitalKiosk, hub.admin(), address(rogue)];
        for (uint256 i; i < callers.length; ++i) {
            vm.prank(callers[i]);
            vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NotModule.selector, callers[i]));
            records.bill(pid, index, 1);
        }
        vm.prank(insurerKiosk);
        rogue.enrollPatient(pid, 8000, 1000e18);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.NotModule.selector, address(rogue)));
        rogue.submitClaim(pid, index, 1, env(0x01));
        // The hub's InsuranceProvider: a claim id must fit the entry's 40 bits.
        vm.startPrank(address(insurance));
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.ClaimIdOutOfRange.selector, uint256(1) << 40));
        records.bill(pid, index, uint256(1) << 40);
        vm.expectRevert(abi.encodeWithSelector(HospitalRecord.ClaimIdOutOfRange.selector, 0));
        records.bill(pid, index, 0);
        vm.stopPrank();
        assertEq(records.billedBy(pid, index), 0);
    }

    function test_submitClaim_revertsForWrongCaller() public {
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, insurer, Role.Hospital, Role.Insurer)
        );
        insurance.submitClaim(pid, index, 1, env(0x01));
        vm.prank(hospital);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, hospital));
        insurance.submitClaim(pid, index, 1, env(0x01));
        setActive(hospital, false);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, hospital));
        insurance.submitClaim(pid, index, 1, env(0x01));
    }

    // ================================================================ approveClaim

    function test_approveClaim_cappedByPercentage() public {
        uint256 claimId = recordAndClaim(pid, 1000e18); // 80 % -> 800
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, 800e18 + 1, 800e18));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 800e18 + 1, responseEnv());
        vm.warp(block.timestamp + 1 days);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ClaimApproved(claimId, insurer, 800e18, keccak256(responseEnv()));
        _approve(claimId, 800e18);
        InsuranceProvider.Claim memory c = insurance.getClaim(claimId);
        assertTrue(c.status == InsuranceProvider.ClaimStatus.Approved);
        assertEq(c.approved, 800e18);
        (InsuranceProvider.Coverage memory cov, uint256 remaining) = _coverage();
        assertEq(cov.used, 800e18);
        assertEq(remaining, 200e18);
    }

    function test_approveClaim_lessThanCap() public {
        uint256 claimId = recordAndClaim(pid, 100e18);
        _approve(claimId, 1);
        (, uint256 claimed, uint256 approved,,) = insurance.getClaimStatus(claimId);
        assertEq(claimed, 100e18);
        assertEq(approved, 1);
    }

    function test_approveClaim_cappedByAnnualLimit() public {
        enroll(pid, insurerKiosk, 10_000, LIMIT);
        uint256 c1 = recordAndClaim(pid, 600e18);
        uint256 c2 = recordAndClaim(pid, 600e18);
        uint256 c3 = recordAndClaim(pid, 600e18);
        _approve(c1, 600e18);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, 401e18, 400e18));
        insurance.approveClaim(c2, claimPatient(c2), bytes32(0), 401e18, responseEnv());
        _approve(c2, 400e18);
        (InsuranceProvider.Coverage memory cov, uint256 remaining) = _coverage();
        assertEq(cov.used, LIMIT);
        assertEq(remaining, 0);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, 1, 0));
        insurance.approveClaim(c3, claimPatient(c3), bytes32(0), 1, responseEnv());
        // Denying is always possible.
        vm.prank(insurerKiosk);
        insurance.denyClaim(c3, bytes32(0), 7, responseEnv());
    }

    function test_approveClaim_periodRollover() public {
        enroll(pid, insurerKiosk, 10_000, LIMIT);
        uint256 c1 = recordAndClaim(pid, LIMIT);
        uint256 c2 = recordAndClaim(pid, 300e18);
        _approve(c1, LIMIT);
        vm.warp(T0 + PERIOD - 1);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ExceedsCoverage.selector, 1, 0));
        insurance.approveClaim(c2, claimPatient(c2), bytes32(0), 1, responseEnv());
        (, uint256 remaining) = _coverage();
        assertEq(remaining, 0);

        vm.warp(T0 + PERIOD);
        (InsuranceProvider.Coverage memory cov, uint256 rem) = _coverage();
        assertEq(rem, LIMIT, "a new period has the whole limit");
        assertEq(cov.used, 0);
        assertEq(cov.periodStart, T0, "view does not move the period");
        _approve(c2, 300e18);
        (cov, rem) = _coverage();
        assertEq(cov.periodStart, T0 + PERIOD);
        assertEq(cov.used, 300e18);
        assertEq(rem, LIMIT - 300e18);
    }

    function test_approveClaim_rolloverSkipsWholePeriods() public {
        uint256 c1 = recordAndClaim(pid, 100e18);
        uint256 c2 = recordAndClaim(pid, 100e18);
        _approve(c1, 80e18);
        vm.warp(T0 + 2 * uint256(PERIOD) + PERIOD / 2);
        _approve(c2, 80e18);
        (InsuranceProvider.Coverage memory cov,) = _coverage();
        assertEq(cov.periodStart, T0 + 2 * uint256(PERIOD));
        assertEq(cov.used, 80e18);
    }

    function test_approveClaim_reverts() public {
        uint256 claimId = recordAndClaim(pid, 100e18);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ZeroAmount.selector));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 0, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NoSuchClaim.selector, 99));
        insurance.approveClaim(99, claimPatient(99), bytes32(0), 1, responseEnv());
        vm.prank(insurer2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.WrongInsurer.selector, claimId, insurer2Kiosk));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 1, responseEnv());
        vm.prank(hospitalKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, hospital, Role.Insurer, Role.Hospital)
        );
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 1, responseEnv());
        vm.prank(insurer);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, insurer));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 1, responseEnv());

        _approve(claimId, 10e18);
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(
                InsuranceProvider.ClaimNotPending.selector, claimId, InsuranceProvider.ClaimStatus.Approved
            )
        );
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 10e18, responseEnv());
        assertEq(insurance.getClaim(claimId).approved, 10e18);
    }

    function test_approveClaim_revertsWhenInsurerSuspended() public {
        uint256 claimId = recordAndClaim(pid, 100e18);
        setActive(insurer, false);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, insurer));
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 1, responseEnv());
    }

    // ================================================================ denyClaim

    function test_denyClaim() public {
        uint256 claimId = recordAndClaim(pid, 100e18);
        vm.warp(block.timestamp + 3 days);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ClaimDenied(claimId, insurer, 42, keccak256(responseEnv()));
        vm.prank(insurerKiosk);
        insurance.denyClaim(claimId, bytes32(0), 42, responseEnv());
        InsuranceProvider.Claim memory c = insurance.getClaim(claimId);
        assertTrue(c.status == InsuranceProvider.ClaimStatus.Denied);
        assertEq(c.approved, 0);
        (InsuranceProvider.Coverage memory cov,) = _coverage();
        assertEq(cov.used, 0);

        bytes memory notPending = abi.encodeWithSelector(
            InsuranceProvider.ClaimNotPending.selector, claimId, InsuranceProvider.ClaimStatus.Denied
        );
        vm.prank(insurerKiosk);
        vm.expectRevert(notPending);
        insurance.denyClaim(claimId, bytes32(0), 1, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(notPending);
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 1, responseEnv());
    }

    function test_denyClaim_reverts() public {
        uint256 claimId = recordAndClaim(pid, 100e18);
        vm.prank(insurer2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.WrongInsurer.selector, claimId, insurer2Kiosk));
        insurance.denyClaim(claimId, bytes32(0), 1, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NoSuchClaim.selector, 0));
        insurance.denyClaim(0, bytes32(0), 1, responseEnv());
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NotAKiosk.selector, stranger));
        insurance.denyClaim(claimId, bytes32(0), 1, responseEnv());
        _approve(claimId, 1);
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(
                InsuranceProvider.ClaimNotPending.selector, claimId, InsuranceProvider.ClaimStatus.Approved
            )
        );
        insurance.denyClaim(claimId, bytes32(0), 1, responseEnv());
    }

    // ================================================================ sealed responses and four eyes

    function test_approveClaim_andDenyClaim_revertForMalformedResponse() public {
        uint256 claimId = recordAndClaim(pid, 100e18);
        bytes[4] memory bad;
        bad[0] = "";
        bad[1] = envOf(32768, 1); // above the largest bucket
        bad[2] = new bytes(Envelope.OVERHEAD + 1000); // not a bucket
        bad[2][0] = bytes1(Envelope.VERSION);
        bad[3] = env(1);
        bad[3][0] = 0x02; // version 2, no longer written
        for (uint256 i; i < bad.length; ++i) {
            bytes memory malformed = abi.encodeWithSelector(MalformedEnvelope.selector, bad[i].length);
            vm.prank(insurerKiosk);
            vm.expectRevert(malformed);
            insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 10e18, bad[i]);
            vm.prank(insurerKiosk);
            vm.expectRevert(malformed);
            insurance.denyClaim(claimId, bytes32(0), 1, bad[i]);
        }
        assertTrue(_status(claimId) == InsuranceProvider.ClaimStatus.Submitted);
        assertEq(insurance.reservedOf(insurer), 0);
        // The largest bucket is fine; the event carries the response's hash.
        bytes memory big = envOf(16384, 7);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ClaimApproved(claimId, insurer, 10e18, keccak256(big));
        vm.prank(insurerKiosk);
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 10e18, big);
    }

    function test_setApprovalThreshold_byTheInsurerAddressOnly() public {
        assertEq(insurance.approvalThresholdOf(insurer), 0);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ApprovalThresholdSet(insurer, 500e18);
        vm.prank(insurer);
        insurance.setApprovalThreshold(500e18);
        assertEq(insurance.approvalThresholdOf(insurer), 500e18);
        assertEq(insurance.approvalThresholdOf(insurer2), 0, "per insurer");
        address[4] memory others = [insurerKiosk, hospital, stranger, admin];
        for (uint256 i; i < others.length; ++i) {
            vm.prank(others[i]);
            vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotInsurer.selector, others[i]));
            insurance.setApprovalThreshold(0);
        }
        // Back to none.
        vm.prank(insurer);
        insurance.setApprovalThreshold(0);
        assertEq(insurance.approvalThresholdOf(insurer), 0);
    }

    function test_approveClaim_aboveThresholdWaitsForASecondKiosk() public {
        address second = makeAddr("insurerKioskB");
        _addKiosk(insurer, second);
        vm.prank(insurer);
        insurance.setApprovalThreshold(500e18);
        uint256 claimId = recordAndClaim(pid, 1000e18);
        bytes memory proposed = env(0x7e51);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ClaimApprovalProposed(claimId, insurerKiosk, 800e18, keccak256(proposed));
        vm.prank(insurerKiosk);
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 800e18, proposed);
        InsuranceProvider.Claim memory c = insurance.getClaim(claimId);
        assertTrue(c.status == InsuranceProvider.ClaimStatus.PendingSecond);
        assertEq(uint256(c.status), 5, "PendingSecond is 5");
        assertEq(c.approved, 0);
        (address kiosk, uint96 amount, bytes32 contentHash) = insurance.proposalOf(claimId);
        assertEq(kiosk, insurerKiosk);
        assertEq(amount, 800e18);
        assertEq(contentHash, keccak256(proposed));
        assertEq(insurance.reservedOf(insurer), 0, "nothing reserved yet");
        (InsuranceProvider.Coverage memory cov,) = _coverage();
        assertEq(cov.used, 0, "nothing counted yet");

        vm.warp(block.timestamp + 1 hours);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ClaimApproved(claimId, insurer, 800e18, keccak256(proposed));
        vm.prank(second);
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
        c = insurance.getClaim(claimId);
        assertTrue(c.status == InsuranceProvider.ClaimStatus.Approved);
        assertEq(c.approved, 800e18);
        assertEq(insurance.reservedOf(insurer), 800e18);
        (cov,) = _coverage();
        assertEq(cov.used, 800e18);
        (kiosk, amount, contentHash) = insurance.proposalOf(claimId);
        assertEq(kiosk, address(0), "the proposal is gone");
        vm.prank(insurerKiosk);
        insurance.processPayment(claimId, bytes32(0));
        assertEq(token.balanceOf(hospital), 800e18);
    }

    function test_approveClaim_atTheThresholdOneKioskDecides() public {
        vm.prank(insurer);
        insurance.setApprovalThreshold(80e18);
        uint256 claimId = recordAndClaim(pid, 100e18);
        _approve(claimId, 80e18);
        assertTrue(_status(claimId) == InsuranceProvider.ClaimStatus.Approved);
        assertEq(insurance.reservedOf(insurer), 80e18);
    }

    function test_confirmApproval_reverts() public {
        vm.prank(insurer);
        insurance.setApprovalThreshold(1e18);
        uint256 claimId = recordAndClaim(pid, 100e18);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.WrongRole.selector, hospital, Role.Insurer, Role.Hospital));
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NoSuchClaim.selector, 9));
        insurance.confirmApproval(9, claimPatient(9), bytes32(0));
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(
                InsuranceProvider.NotPendingSecond.selector, claimId, InsuranceProvider.ClaimStatus.Submitted
            )
        );
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
        _approve(claimId, 80e18);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.SameReviewer.selector, claimId, insurerKiosk));
        insurance.confirmApproval(claimId, claimPatient(claimId), bytes32(0));
    }

    // ================================================================ processPayment

    function test_processPayment_exactlyOnce() public {
        uint256 claimId = recordAndClaim(pid, 1000e18);
        _approve(claimId, 800e18);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ClaimPaid(claimId, hospital, 800e18);
        vm.prank(insurerKiosk);
        insurance.processPayment(claimId, bytes32(0));
        assertEq(token.balanceOf(hospital), 800e18);
        assertEq(insurance.escrowOf(insurer), ESCROW - 800e18);
        assertEq(token.balanceOf(address(insurance)), ESCROW - 800e18);
        assertTrue(_status(claimId) == InsuranceProvider.ClaimStatus.Paid);

        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.AlreadyPaid.selector, claimId));
        insurance.processPayment(claimId, bytes32(0));
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(
                InsuranceProvider.ClaimNotPending.selector, claimId, InsuranceProvider.ClaimStatus.Paid
            )
        );
        insurance.approveClaim(claimId, claimPatient(claimId), bytes32(0), 1, responseEnv());
        assertEq(token.balanceOf(hospital), 800e18);
    }

    function test_processPayment_revertsWhenNotApproved() public {
        uint256 claimId = recordAndClaim(pid, 100e18);
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(
                InsuranceProvider.ClaimNotApproved.selector, claimId, InsuranceProvider.ClaimStatus.Submitted
            )
        );
        insurance.processPayment(claimId, bytes32(0));
        vm.prank(insurerKiosk);
        insurance.denyClaim(claimId, bytes32(0), 3, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(
                InsuranceProvider.ClaimNotApproved.selector, claimId, InsuranceProvider.ClaimStatus.Denied
            )
        );
        insurance.processPayment(claimId, bytes32(0));
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NoSuchClaim.selector, 2));
        insurance.processPayment(2, bytes32(0));
    }

    function test_approveClaim_reservesAndWithdrawalTakesOnlyTheRest() public {
        uint256 claimId = recordAndClaim(pid, 1000e18);
        _approve(claimId, 800e18);
        assertEq(insurance.reservedOf(insurer), 800e18);
        vm.prank(insurer);
        vm.expectRevert(
            abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, ESCROW - 800e18, ESCROW - 100e18)
        );
        insurance.withdrawEscrow(ESCROW - 100e18, insurer);
        vm.prank(insurer);
        insurance.withdrawEscrow(ESCROW - 800e18, insurer);
        assertEq(insurance.escrowOf(insurer), 800e18);
        vm.prank(insurer);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, 0, 1));
        insurance.withdrawEscrow(1, insurer);
        // The reserve pays the claim.
        vm.prank(insurerKiosk);
        insurance.processPayment(claimId, bytes32(0));
        assertEq(insurance.escrowOf(insurer), 0);
        assertEq(insurance.reservedOf(insurer), 0);
        assertEq(token.balanceOf(hospital), 800e18);
    }

    function test_approveClaim_revertsWhenEscrowUnreservedTooLow() public {
        enroll(pid, insurerKiosk, BPS, 10_000e18); // the limit is not what binds here
        uint256 a = recordAndClaim(pid, 1000e18);
        uint256 b = recordAndClaim(pid, 1000e18);
        vm.prank(insurer);
        insurance.withdrawEscrow(ESCROW - 1000e18, insurer);
        _approve(a, 800e18);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, 200e18, 800e18));
        insurance.approveClaim(b, claimPatient(b), bytes32(0), 800e18, responseEnv());
        // Another insurer's escrow is not used.
        fund(insurer2, 10_000e18);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.EscrowInsufficient.selector, 200e18, 800e18));
        insurance.approveClaim(b, claimPatient(b), bytes32(0), 800e18, responseEnv());
        // Topped up, it is approved and both are paid.
        fund(insurer, 600e18);
        _approve(b, 800e18);
        assertEq(insurance.reservedOf(insurer), 1600e18);
        vm.startPrank(insurerKiosk);
        insurance.processPayment(a, bytes32(0));
        insurance.processPayment(b, bytes32(0));
        vm.stopPrank();
        assertEq(insurance.escrowOf(insurer), 0);
        assertEq(insurance.reservedOf(insurer), 0);
        assertEq(insurance.escrowOf(insurer2), 10_000e18);
        assertEq(token.balanceOf(hospital), 1600e18);
    }

    function test_processPayment_byTheClaimsHospitalKiosk() public {
        uint256 claimId = recordAndClaim(pid, 100e18);
        _approve(claimId, 80e18);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ClaimPaid(claimId, hospital, 80e18);
        vm.prank(hospitalKiosk); // the payee may send the payment of an approved claim
        insurance.processPayment(claimId, bytes32(0));
        assertEq(token.balanceOf(hospital), 80e18);
        assertTrue(_status(claimId) == InsuranceProvider.ClaimStatus.Paid);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.AlreadyPaid.selector, claimId));
        insurance.processPayment(claimId, bytes32(0));
    }

    function test_processPayment_revertsForOthers() public {
        uint256 claimId = recordAndClaim(pid, 100e18);
        _approve(claimId, 80e18);
        address[4] memory others = [insurer2Kiosk, hospital2Kiosk, pharmacyKiosk, insurer];
        for (uint256 i; i < others.length; ++i) {
            vm.prank(others[i]);
            vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NotClaimParty.selector, claimId, others[i]));
            insurance.processPayment(claimId, bytes32(0));
        }
        // A suspended hospital's kiosk cannot pull the payment (its insurer's kiosk still pays it).
        setActive(hospital, false);
        vm.prank(hospitalKiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InstitutionInactive.selector, hospital));
        insurance.processPayment(claimId, bytes32(0));
        assertTrue(_status(claimId) == InsuranceProvider.ClaimStatus.Approved);
        vm.prank(insurerKiosk);
        insurance.processPayment(claimId, bytes32(0));
        assertEq(token.balanceOf(hospital), 80e18);
    }

    function test_getClaim_revertsForUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NoSuchClaim.selector, 0));
        insurance.getClaimStatus(0);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.NoSuchClaim.selector, 1));
        insurance.getClaim(1);
    }

    function test_claimLifecycle_statusTransitions() public {
        uint256 claimId = recordAndClaim(pid, 50e18);
        assertTrue(_status(claimId) == InsuranceProvider.ClaimStatus.Submitted);
        _approve(claimId, 40e18);
        assertTrue(_status(claimId) == InsuranceProvider.ClaimStatus.Approved);
        vm.prank(insurerKiosk);
        insurance.processPayment(claimId, bytes32(0));
        (InsuranceProvider.ClaimStatus s, uint256 claimed, uint256 approved, address h, address i) =
            insurance.getClaimStatus(claimId);
        assertTrue(s == InsuranceProvider.ClaimStatus.Paid);
        assertEq(claimed, 50e18);
        assertEq(approved, 40e18);
        assertEq(h, hospital);
        assertEq(i, insurer);
    }

    // ================================================================ TestStablecoin

    function test_stablecoin() public {
        assertEq(token.name(), "carekiosk Test Dollar");
        assertEq(token.symbol(), "tUSD");
        assertEq(token.decimals(), 18);
        assertEq(token.minter(), address(this));
        vm.expectEmit(address(token));
        emit IERC20.Transfer(address(0), stranger, 5);
        token.mint(stranger, 5);
        assertEq(token.balanceOf(stranger), 5);
        assertEq(token.totalSupply(), ESCROW + 5);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(TestStablecoin.NotMinter.selector, stranger));
        token.mint(stranger, 5);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(TestStablecoin.NotMinter.selector, admin));
        token.mint(admin, 5);
    }

    function test_stablecoin_minterIsDeployer() public {
        vm.prank(stranger);
        TestStablecoin t = new TestStablecoin();
        assertEq(t.minter(), stranger);
        vm.prank(stranger);
        t.mint(admin, 1);
        assertEq(t.balanceOf(admin), 1);
    }

    // ================================================================ step functions

    function test_enrollWithConsent_consentsThenEnrols() public {
        uint256 pk = 0xE9_07;
        bytes32 id = registerPatient(pk);
        ConsentTerms memory t = termsFor(id, insurer2Kiosk, Scope.READ);
        CardSig memory s = cardSig(pk, consentHashOf(id, insurer2, t));
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.PatientEnrolled(id, insurer2, 7000, 5e18);
        vm.recordLogs();
        vm.prank(insurer2Kiosk);
        insurance.enrollWithConsent(id, 7000, 5e18, t, s);
        assertEq(vm.getRecordedLogs().length, 1, "only PatientEnrolled: the consent is not stored");
        (InsuranceProvider.Coverage memory c, uint256 remaining) = insurance.coverageOf(id);
        assertTrue(c.insurer == insurer2 && c.bps == 7000 && c.annualLimit == 5e18 && remaining == 5e18);
        (uint64 until,,, uint8 scope) = hub.consentOf(id, insurer2);
        assertTrue(until == 0 && scope == 0, "the insurer holds no standing consent");
        // So a later change of terms without the card is refused.
        vm.prank(insurer2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.NoConsent.selector, id, insurer2));
        insurance.enrollPatient(id, 9000, 5e18);
    }

    function test_decisions_nameTheClaimsPatient() public {
        // Another patient the same insurer covers: a decision naming them would count against their limit.
        uint256 pk = 0x0_7AE2;
        bytes32 other = registerPatient(pk);
        grant(pk, other, insurerKiosk, Scope.READ, uint64(block.timestamp + 30 days));
        enroll(other, insurerKiosk, 10_000, 10_000e18);
        uint256 claimId = recordAndClaim(pid, 100e18);
        bytes memory wrongPatient = abi.encodeWithSelector(InsuranceProvider.WrongPatient.selector, claimId, other);
        vm.prank(insurerKiosk);
        vm.expectRevert(wrongPatient);
        insurance.approveClaim(claimId, other, bytes32(0), 80e18, responseEnv());
        vm.prank(insurerKiosk);
        vm.expectRevert(wrongPatient);
        insurance.settleClaim(claimId, other, bytes32(0), 80e18, responseEnv());
        // Zero and all ones: ids that share nothing.
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.WrongPatient.selector, claimId, bytes32(0)));
        insurance.settleClaim(claimId, bytes32(0), bytes32(0), 80e18, responseEnv());
        bytes32 ones = bytes32(type(uint256).max);
        vm.prank(insurerKiosk);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.WrongPatient.selector, claimId, ones));
        insurance.approveClaim(claimId, ones, bytes32(0), 80e18, responseEnv());
        // Four eyes: the confirmation names the patient too.
        fourEyes(50e18);
        vm.prank(insurerKiosk);
        insurance.approveClaim(claimId, pid, bytes32(0), 80e18, responseEnv());
        vm.prank(insurerKioskB);
        vm.expectRevert(wrongPatient);
        insurance.confirmApproval(claimId, other, bytes32(0));
        (InsuranceProvider.Coverage memory cov,) = insurance.coverageOf(other);
        assertEq(cov.used, 0, "nothing counted against the other patient");
        // Named right, it goes through against the claim's patient.
        vm.prank(insurerKioskB);
        insurance.confirmApproval(claimId, pid, bytes32(0));
        assertTrue(_status(claimId) == InsuranceProvider.ClaimStatus.Approved);
        (cov,) = _coverage();
        assertEq(cov.used, 80e18);
    }

    function test_settleClaim_approvesAndPaysWithoutAReserve() public {
        uint256 id = recordAndClaim(pid, 100e18);
        uint256 escrow = insurance.escrowOf(insurer);
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ClaimApproved(id, insurer, 80e18, keccak256(responseEnv()));
        vm.expectEmit(address(insurance));
        emit InsuranceProvider.ClaimPaid(id, hospital, 80e18);
        vm.prank(insurerKiosk);
        insurance.settleClaim(id, claimPatient(id), bytes32(0), 80e18, responseEnv());
        assertTrue(_status(id) == InsuranceProvider.ClaimStatus.Paid);
        (, uint256 claimed, uint256 approved, address h, address i) = insurance.getClaimStatus(id);
        assertTrue(claimed == 100e18 && approved == 80e18 && h == hospital && i == insurer);
        assertEq(token.balanceOf(hospital), 80e18);
        assertEq(insurance.escrowOf(insurer), escrow - 80e18);
        assertEq(insurance.reservedOf(insurer), 0);
        (, uint256 remaining) = _coverage();
        assertEq(remaining, LIMIT - 80e18);
    }

    /// A reorganisation renumbers claims: a decision names the claim's content hash, and one that names another
    /// claim under this number refuses (ClaimChanged) instead of deciding it — settle, approve, deny, confirm, pay.
    function test_everyDecisionNamingAnotherClaimsContentIsRefused() public {
        uint256 a = recordAndClaim(pid, 100e18);
        uint256 index = addRecord(pid, hospitalKiosk, env(0x0bad));
        vm.prank(hospitalKiosk);
        uint256 b = insurance.submitClaim(pid, index, 100e18, env(0xc1a2));
        bytes32 ha = keccak256(env(0xc1a1)); // recordAndClaim's sealed claim, as ClaimSubmitted names it
        bytes32 hb = keccak256(env(0xc1a2));
        assertEq(insurance.getClaim(a).contentHashPrefix, bytes16(ha));
        assertEq(insurance.getClaim(b).contentHashPrefix, bytes16(hb));
        assertTrue(bytes16(ha) != bytes16(hb));
        bytes memory changed = abi.encodeWithSelector(InsuranceProvider.ClaimChanged.selector, a, hb, bytes16(ha));
        vm.startPrank(insurerKiosk);
        vm.expectRevert(changed);
        insurance.settleClaim(a, claimPatient(a), hb, 80e18, responseEnv());
        vm.expectRevert(changed);
        insurance.approveClaim(a, claimPatient(a), hb, 80e18, responseEnv());
        vm.expectRevert(changed);
        insurance.denyClaim(a, hb, 1, responseEnv());
        assertTrue(_status(a) == InsuranceProvider.ClaimStatus.Submitted, "nothing decided");
        // Named right, it is decided; paying it names it too.
        insurance.approveClaim(a, claimPatient(a), ha, 80e18, responseEnv());
        vm.expectRevert(changed);
        insurance.processPayment(a, hb);
        insurance.processPayment(a, ha);
        assertTrue(_status(a) == InsuranceProvider.ClaimStatus.Paid);
        insurance.settleClaim(b, claimPatient(b), hb, 80e18, responseEnv());
        vm.stopPrank();
        assertEq(token.balanceOf(hospital), 160e18, "each claim paid once, as decided");
        // The four-eyes confirmation names it as well.
        address second = makeAddr("insurerKioskB");
        _addKiosk(insurer, second);
        vm.prank(insurer);
        insurance.setApprovalThreshold(50e18);
        uint256 c = recordAndClaim(pid, 100e18);
        bytes32 hc = keccak256(env(0xc1a1));
        vm.prank(insurerKiosk);
        insurance.approveClaim(c, claimPatient(c), hc, 80e18, responseEnv());
        vm.prank(second);
        vm.expectRevert(abi.encodeWithSelector(InsuranceProvider.ClaimChanged.selector, c, hb, bytes16(hc)));
        insurance.confirmApproval(c, claimPatient(c), hb);
        vm.prank(second);
        insurance.confirmApproval(c, claimPatient(c), hc);
        assertTrue(_status(c) == InsuranceProvider.ClaimStatus.Approved);
    }

    function test_enrollPatient_limitAboveUint88Refused() public {
        // The coverage is one packed slot: a limit is at most 2^88 - 1 (as every claimed amount is).
        vm.prank(insurerKiosk);
        vm.expectRevert(
            abi.encodeWithSelector(InsuranceProvider.InvalidCoverage.selector, BPS, uint128(type(uint88).max) + 1)
        );
        insurance.enrollPatient(pid, BPS, uint128(type(uint88).max) + 1);
        vm.prank(insurerKiosk);
        insurance.enrollPatient(pid, BPS, type(uint88).max);
        (InsuranceProvider.Coverage memory c,) = _coverage();
        assertEq(c.annualLimit, type(uint88).max);
        assertEq(c.insurer, insurer);
    }
}
