// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {KioskSigner} from "../../utils/Fixture.sol";
import {CardSig, Scope} from "../../../src/CareTypes.sol";
import {PatientSmartCard} from "../../../src/PatientSmartCard.sol";
import {HospitalRecord} from "../../../src/HospitalRecord.sol";
import {InsuranceProvider} from "../../../src/InsuranceProvider.sol";
import {TestStablecoin} from "../../../src/TestStablecoin.sol";

/// @notice Drives claims through submit / approve (above the first insurer's threshold: a proposal) / confirm (by
/// the proposer, another kiosk of the insurer, the other insurer's kiosk) / deny / pay and escrow funding and
/// withdrawal, from the right and the wrong insurer, and keeps the ghost ledger the invariants compare with.
contract ClaimHandler is KioskSigner {
    HospitalRecord internal immutable records;
    InsuranceProvider internal immutable insurance;
    TestStablecoin internal immutable token;

    address[2] internal hospitalKiosks;
    address[2] internal insurers;
    address[2] internal insurerKiosks;
    address internal immutable secondKiosk; // a second kiosk of insurers[0], whose approvals above its threshold
    // need two kiosks
    bytes32[2] public patients;
    uint256[2] internal pks;
    address public immutable sink; // where withdrawn escrow goes

    mapping(uint256 claimId => uint256) public paySuccesses;
    mapping(uint256 claimId => uint256) public paidAmount;
    mapping(uint256 claimId => uint256) public approveSuccesses; // approvals (direct or confirmed)
    mapping(uint256 claimId => uint256) public proposals;
    mapping(uint256 claimId => address) public proposer;
    mapping(uint256 claimId => bool) public confirmedBySecondKiosk;
    uint256 internal lastProposed;
    uint256 public totalPaid;
    uint256 public totalFunded;
    uint256 public totalWithdrawn;
    uint256 public wrongSuccesses; // an action that must fail went through

    constructor(
        PatientSmartCard hub_,
        HospitalRecord records_,
        InsuranceProvider insurance_,
        TestStablecoin token_,
        address[2] memory hospitalKiosks_,
        address[2] memory insurers_,
        address[2] memory insurerKiosks_,
        uint256[2] memory pks_,
        address sink_,
        address secondKiosk_
    ) {
        secondKiosk = secondKiosk_;
        hub = hub_;
        records = records_;
        insurance = insurance_;
        token = token_;
        hospitalKiosks = hospitalKiosks_;
        insurers = insurers_;
        insurerKiosks = insurerKiosks_;
        pks = pks_;
        patients[0] = idOf(pks_[0]);
        patients[1] = idOf(pks_[1]);
        sink = sink_;
    }

    /// @dev Called once by the test after it minted tokens to this handler.
    function approveToken() external {
        token.approve(address(insurance), type(uint256).max);
    }

    // ---------------------------------------------------------------- actions

    function submit(uint256 patientSeed, uint256 hospitalSeed, uint256 amountSeed) external {
        uint256 p = patientSeed % 2;
        bytes32 patientId = patients[p];
        address kiosk = hospitalKiosks[hospitalSeed % 2];
        _keepConsent(p, kiosk);
        bytes memory sealedRecord = new bytes(272 + 512);
        sealedRecord[0] = 0x02;
        sealedRecord[1] = bytes1(uint8(amountSeed));
        vm.prank(kiosk);
        uint256 index = records.addMedicalRecord(patientId, sealedRecord);
        uint256 amount = bound(amountSeed, 1, 3000e18);
        vm.prank(kiosk);
        try insurance.submitClaim(patientId, index, amount, _claimEnvelope()) {} catch {}
    }

    /// @dev Bills a record twice, or another hospital's record: must fail.
    function resubmit(uint256 claimSeed, uint256 otherHospital) external {
        uint256 count = insurance.claimCount();
        if (count == 0) return;
        InsuranceProvider.Claim memory c = insurance.getClaim(bound(claimSeed, 1, count));
        address kiosk = hospitalKiosks[otherHospital % 2];
        vm.prank(kiosk);
        try insurance.submitClaim(c.patientId, c.recordIndex, 1, _claimEnvelope()) {
            ++wrongSuccesses;
        } catch {}
    }

    /// @dev One of the three insurer kiosks: the first insurer's two, the second insurer's.
    function _insurerKiosk(uint256 seed) internal view returns (address) {
        seed %= 3;
        return seed == 2 ? secondKiosk : insurerKiosks[seed];
    }

    function approve(uint256 claimSeed, uint256 amountSeed, uint256 insurerSeed) external {
        uint256 count = insurance.claimCount();
        if (count == 0) return;
        uint256 claimId = bound(claimSeed, 1, count);
        InsuranceProvider.Claim memory c = insurance.getClaim(claimId);
        // Mostly within the claimed amount, sometimes beyond.
        uint256 amount = bound(amountSeed, 0, uint256(c.claimed) * 11 / 10 + 1);
        address kiosk = _insurerKiosk(insurerSeed);
        bool wrongInsurer = hub.kioskInstitution(kiosk) != c.insurer;
        vm.prank(kiosk);
        try insurance.approveClaim(claimId, amount, responseEnv()) {
            if (wrongInsurer) ++wrongSuccesses;
            if (insurance.getClaim(claimId).status == InsuranceProvider.ClaimStatus.PendingSecond) {
                ++proposals[claimId];
                proposer[claimId] = kiosk;
                lastProposed = claimId;
            } else {
                ++approveSuccesses[claimId];
            }
        } catch {}
    }

    /// @dev A kiosk confirms a proposal: the proposer and the other insurer's kiosk must fail.
    function confirm(uint256 claimSeed, uint256 insurerSeed) external {
        uint256 count = insurance.claimCount();
        if (count == 0) return;
        // Half the time the latest proposal, else any claim.
        uint256 claimId = claimSeed % 2 == 0 && lastProposed != 0 ? lastProposed : bound(claimSeed, 1, count);
        address kiosk = _insurerKiosk(insurerSeed);
        bool wrong = hub.kioskInstitution(kiosk) != insurance.getClaim(claimId).insurer || kiosk == proposer[claimId];
        vm.prank(kiosk);
        try insurance.confirmApproval(claimId) {
            ++approveSuccesses[claimId];
            confirmedBySecondKiosk[claimId] = true;
            if (wrong) ++wrongSuccesses;
        } catch {}
    }

    function deny(uint256 claimSeed, uint16 reason, uint256 insurerSeed) external {
        uint256 count = insurance.claimCount();
        if (count == 0) return;
        uint256 claimId = bound(claimSeed, 1, count);
        address kiosk = _insurerKiosk(insurerSeed);
        bool wrongInsurer = hub.kioskInstitution(kiosk) != insurance.getClaim(claimId).insurer;
        vm.prank(kiosk);
        try insurance.denyClaim(claimId, reason, responseEnv()) {
            if (wrongInsurer) ++wrongSuccesses;
        } catch {}
    }

    function pay(uint256 claimSeed, uint256 insurerSeed) external {
        uint256 count = insurance.claimCount();
        if (count == 0) return;
        uint256 claimId = bound(claimSeed, 1, count);
        InsuranceProvider.Claim memory c = insurance.getClaim(claimId);
        address kiosk = insurerKiosks[insurerSeed % 2];
        bool wrongInsurer = hub.kioskInstitution(kiosk) != c.insurer;
        uint256 before = token.balanceOf(c.hospital);
        vm.prank(kiosk);
        try insurance.processPayment(claimId) {
            uint256 received = token.balanceOf(c.hospital) - before;
            ++paySuccesses[claimId];
            paidAmount[claimId] += received;
            totalPaid += received;
            if (wrongInsurer) ++wrongSuccesses;
        } catch {}
    }

    /// @dev The claim's hospital's kiosk (or the other hospital's, which must fail) sends the payment.
    function payByHospital(uint256 claimSeed, uint256 hospitalSeed) external {
        uint256 count = insurance.claimCount();
        if (count == 0) return;
        uint256 claimId = bound(claimSeed, 1, count);
        InsuranceProvider.Claim memory c = insurance.getClaim(claimId);
        address kiosk = hospitalKiosks[hospitalSeed % 2];
        bool wrongHospital = hub.kioskInstitution(kiosk) != c.hospital;
        uint256 before = token.balanceOf(c.hospital);
        vm.prank(kiosk);
        try insurance.processPayment(claimId) {
            uint256 received = token.balanceOf(c.hospital) - before;
            ++paySuccesses[claimId];
            paidAmount[claimId] += received;
            totalPaid += received;
            if (wrongHospital) ++wrongSuccesses;
        } catch {}
    }

    function fund(uint256 insurerSeed, uint256 amountSeed) external {
        uint256 amount = bound(amountSeed, 1, 5000e18);
        try insurance.fundEscrow(insurers[insurerSeed % 2], amount) {
            totalFunded += amount;
        } catch {}
    }

    function withdraw(uint256 insurerSeed, uint256 amountSeed) external {
        address insurer = insurers[insurerSeed % 2];
        uint256 amount = bound(amountSeed, 0, insurance.escrowOf(insurer) + 1);
        vm.prank(insurer);
        try insurance.withdrawEscrow(amount, sink) {
            totalWithdrawn += amount;
        } catch {}
    }

    function warp(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 60 days));
    }

    function _claimEnvelope() internal pure returns (bytes memory b) {
        b = new bytes(272 + 1024);
        b[0] = 0x02;
    }

    function _keepConsent(uint256 p, address kiosk) internal {
        bytes32 patientId = patients[p];
        address institution = hub.kioskInstitution(kiosk);
        (uint64 until, uint64 last,,) = hub.consentOf(patientId, institution);
        if (until >= block.timestamp) return;
        uint64 sAt = last < block.timestamp ? uint64(block.timestamp) : last + 1;
        uint64 epoch = hub.epochOf(patientId);
        CardSig memory s = consentSig(pks[p], patientId, institution, HOSPITAL_ALL, sAt + 90 days, epoch, sAt);
        vm.prank(kiosk);
        hub.grantConsent(patientId, HOSPITAL_ALL, sAt + 90 days, epoch, sAt, s);
    }

    function selectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](10);
        s[8] = this.payByHospital.selector;
        s[9] = this.confirm.selector;
        s[0] = this.submit.selector;
        s[1] = this.resubmit.selector;
        s[2] = this.approve.selector;
        s[3] = this.deny.selector;
        s[4] = this.pay.selector;
        s[5] = this.fund.selector;
        s[6] = this.withdraw.selector;
        s[7] = this.warp.selector;
    }
}
