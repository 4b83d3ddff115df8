// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {CardSig, ConsentTerms, Role, Scope} from "../../../src/CareTypes.sol";
import {PatientSmartCard} from "../../../src/PatientSmartCard.sol";
import {HospitalRecord} from "../../../src/HospitalRecord.sol";
import {InsuranceProvider} from "../../../src/InsuranceProvider.sol";
import {TestStablecoin} from "../../../src/TestStablecoin.sol";
import {ConsentLedger} from "./ConsentLedger.sol";

/// @notice Drives claims through submit / approve (above the first insurer's threshold: a proposal) / confirm (by
/// the proposer, another kiosk of the insurer, the other insurer's kiosk) / deny / pay and escrow funding and
/// withdrawal, from the right and the wrong insurer, and keeps the ghost ledger the invariants compare with. The
/// desks' step functions run among them: reception registers new patients (registerAndConsent), the insurer's desk
/// enrols (enrollWithConsent, an insurer taking a patient over included), the doctor records a visit of several
/// records and bills one (recordVisit), the insurer settles a claim in one step (settleClaim) — each also with what
/// must be refused — and the patient's card revokes consents the steps stored (ConsentLedger).
contract ClaimHandler is ConsentLedger {
    struct Setup {
        PatientSmartCard hub;
        HospitalRecord records;
        InsuranceProvider insurance;
        TestStablecoin token;
        address[2] hospitalKiosks;
        address[2] insurers;
        address[2] insurerKiosks;
        address secondKiosk; // a second kiosk of insurers[0], whose approvals above its threshold need two kiosks
        uint256[2] pks; // the cards of the patients enrolled before the handler runs
        uint16[2] bps; // each insurer's terms: every enrolment of the insurer is on these
        uint128[2] limits;
        address sink; // where withdrawn escrow goes
    }

    HospitalRecord internal immutable records;
    InsuranceProvider internal immutable insurance;
    TestStablecoin internal immutable token;

    address[2] internal hospitalKiosks;
    address[2] internal insurers;
    address[2] internal insurerKiosks;
    address internal immutable secondKiosk;
    bytes32[] public patients; // the two enrolled at the start, then those reception registered
    uint256[] internal pks;
    address public immutable sink;
    mapping(address insurer => uint16) public bpsOf;
    mapping(address insurer => uint128) public limitOf;

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

    // The settle step (settleClaim), per claim.
    mapping(uint256 claimId => uint256) public settlements;
    mapping(uint256 claimId => uint256) public settledAmount; // the amount the settle was sent with
    mapping(uint256 claimId => uint256) public settleEscrowDrop; // how much the insurer's escrow went down in it
    uint256 public settleReserveMoves; // settles during which the insurer's reserve moved

    // Patients, records and coverage as the steps and single calls left them.
    mapping(bytes32 patientId => uint256) public recordsOf; // records appended (single calls, visits, registrations)
    mapping(bytes32 patientId => address) public insurerOf; // the insurer of the last enrolment
    mapping(bytes32 patientId => address) public registeredAt; // the hospital of a registration step
    bytes32[] public refused; // new cards whose registration step was refused
    uint256 internal cardSeq;

    /// @dev The last enrolment step that went through, for a replay.
    struct EnrolCall {
        address kiosk;
        bytes32 patientId;
        uint16 bps;
        uint128 limit;
        ConsentTerms terms;
        CardSig sig;
    }

    EnrolCall internal lastEnrol;

    constructor(Setup memory s) {
        hub = s.hub;
        records = s.records;
        insurance = s.insurance;
        token = s.token;
        hospitalKiosks = s.hospitalKiosks;
        insurers = s.insurers;
        insurerKiosks = s.insurerKiosks;
        secondKiosk = s.secondKiosk;
        sink = s.sink;
        for (uint256 i; i < 2; ++i) {
            bpsOf[s.insurers[i]] = s.bps[i];
            limitOf[s.insurers[i]] = s.limits[i];
        }
        for (uint256 i; i < 2; ++i) {
            bytes32 id = idOf(s.pks[i]);
            _addPatient(id, s.pks[i]);
            recordsOf[id] = records.recordCount(id);
            (InsuranceProvider.Coverage memory c,) = insurance.coverageOf(id);
            insurerOf[id] = c.insurer;
        }
    }

    function patientCount() external view returns (uint256) {
        return patients.length;
    }

    function refusedCount() external view returns (uint256) {
        return refused.length;
    }

    /// @dev A patient of the handler from now on; its consents to the hospitals and insurers are followed.
    function _addPatient(bytes32 id, uint256 pk) internal {
        patients.push(id);
        pks.push(pk);
        for (uint256 i; i < 2; ++i) {
            _track(id, hub.kioskInstitution(hospitalKiosks[i]));
            _track(id, insurers[i]);
        }
    }

    /// @dev Called once by the test after it minted tokens to this handler.
    function approveToken() external {
        token.approve(address(insurance), type(uint256).max);
    }

    // ---------------------------------------------------------------- actions

    function submit(uint256 patientSeed, uint256 hospitalSeed, uint256 amountSeed) external {
        uint256 p = patientSeed % patients.length;
        bytes32 patientId = patients[p];
        address kiosk = hospitalKiosks[hospitalSeed % 2];
        _keepConsent(p, kiosk);
        bytes memory sealedRecord = _recordEnvelope(amountSeed);
        vm.prank(kiosk);
        uint256 index = records.addMedicalRecord(patientId, sealedRecord);
        ++recordsOf[patientId];
        uint256 amount = bound(amountSeed, 1, 3000e18);
        vm.prank(kiosk);
        try insurance.submitClaim(patientId, index, amount, _claimEnvelope()) {} catch {}
    }

    /// @dev Bills a record twice, or another hospital's record: must fail.
    function resubmit(uint256 claimSeed, uint256 otherHospital) external {
        uint256 count = insurance.claimCount();
        if (count == 0) return;
        uint256 claimId = bound(claimSeed, 1, count);
        InsuranceProvider.Claim memory c = insurance.getClaim(claimId);
        bytes32 patientId = _patientOf(claimId);
        address kiosk = hospitalKiosks[otherHospital % 2];
        vm.prank(kiosk);
        try insurance.submitClaim(patientId, c.recordIndex, 1, _claimEnvelope()) {
            ++wrongSuccesses;
        } catch {}
    }

    /// @dev The patient of claim `claimId` (as a kiosk names it from `ClaimSubmitted`): the handler's patient whose
    /// id starts with the claim's stored 12 bytes.
    function _patientOf(uint256 claimId) internal view returns (bytes32) {
        bytes12 prefix = insurance.getClaim(claimId).patientPrefix;
        for (uint256 i; i < patients.length; ++i) {
            if (bytes12(patients[i]) == prefix) return patients[i];
        }
        revert("claim of an unknown patient");
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
        bytes32 patientId = _patientOf(claimId);
        vm.prank(kiosk);
        try insurance.approveClaim(claimId, patientId, bytes32(0), amount, responseEnv()) {
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
        bytes32 patientId = _patientOf(claimId);
        vm.prank(kiosk);
        try insurance.confirmApproval(claimId, patientId, bytes32(0)) {
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
        try insurance.denyClaim(claimId, bytes32(0), reason, responseEnv()) {
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
        try insurance.processPayment(claimId, bytes32(0)) {
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
        try insurance.processPayment(claimId, bytes32(0)) {
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

    // ---------------------------------------------------------------- the desks' step functions

    /// @dev Reception's registration step for a new card (registerAndConsent: the patient, the hospital's consent and
    /// the demographics record on one card signature), as reception sends it (modes 0-3: READ|WRITE|PRESCRIBE or
    /// READ|WRITE), or with a consent without WRITE (4), a malformed demographics record (5), the card's signature for
    /// the other hospital (6), a card already registered (7): 4-7 must fail and leave no patient, consent or record.
    function registerStep(uint256 hospitalSeed, uint256 mode) external {
        mode %= 8;
        uint256 k = mode == 7
            ? pks[hospitalSeed % pks.length]
            : uint256(keccak256(abi.encode("new card", ++cardSeq))) % (P256_N - 1) + 1;
        bytes32 id = idOf(k);
        address kiosk = hospitalKiosks[hospitalSeed % 2];
        address hospital = hub.kioskInstitution(kiosk);
        uint8 scope = mode == 4 ? Scope.READ | Scope.PRESCRIBE : mode % 2 == 0 ? HOSPITAL_ALL : Scope.READ | Scope.WRITE;
        ConsentTerms memory t = termsFor(id, kiosk, scope);
        uint256 deadline = block.timestamp + 1 hours;
        address signedFor = mode == 6 ? hub.kioskInstitution(hospitalKiosks[(hospitalSeed + 1) % 2]) : hospital;
        CardSig memory s = registerStepSig(k, signedFor, deadline, t);
        bytes memory demographics = mode == 5 ? new bytes(100) : _recordEnvelope(cardSeq);
        bytes32 recovery = recoveryHashOf(id);
        bytes memory bundle = keyBundle();
        vm.prank(kiosk);
        try records.registerAndConsent(deadline, recovery, bundle, t, demographics, s) {
            if (mode >= 4) ++wrongSuccesses;
            _addPatient(id, k);
            registeredAt[id] = hospital;
            ++recordsOf[id];
            _noteGrant(id, hospital, t, true);
        } catch {
            if (mode != 7) refused.push(id);
        }
    }

    /// @dev The insurer desk's enrolment step (enrollWithConsent: the card signs the insurer's READ consent, the
    /// patient is enrolled on the insurer's terms; another insurer takes the patient over), from one of the three
    /// insurer kiosks, as the desk sends it (modes 0-2), or with invalid coverage (3: bps 0, or a limit above
    /// 2^88 - 1), a scope above an insurer's ceiling (4), the last enrolment step replayed (5), the consent signed for
    /// the other insurer (6): 3-6 must fail; no mode stores a consent.
    function enrollStep(uint256 patientSeed, uint256 kioskSeed, uint256 mode) external {
        mode %= 12;
        if (mode > 6) mode = 0; // mostly as the desk sends it
        if (mode == 5) return _replayEnrol();
        uint256 p = patientSeed % patients.length;
        EnrolCall memory e;
        e.patientId = patients[p];
        e.kiosk = _insurerKiosk(kioskSeed);
        address insurer = hub.kioskInstitution(e.kiosk);
        e.bps = bpsOf[insurer];
        e.limit = limitOf[insurer];
        if (mode == 3) {
            if ((kioskSeed >> 8) % 2 == 0) e.bps = 0;
            else e.limit = uint128(type(uint88).max) + 1;
        }
        e.terms = termsFor(e.patientId, e.kiosk, mode == 4 ? Scope.READ | Scope.WRITE : Scope.READ);
        address signedFor = mode != 6 ? insurer : insurer == insurers[0] ? insurers[1] : insurers[0];
        e.sig = termsSig(pks[p], e.patientId, signedFor, e.terms);
        vm.prank(e.kiosk);
        try insurance.enrollWithConsent(e.patientId, e.bps, e.limit, e.terms, e.sig) {
            if (mode >= 3) ++wrongSuccesses;
            insurerOf[e.patientId] = insurer;
            // The step's consent is not stored: the ledger expects the hub's consent unchanged.
            lastEnrol = e;
        } catch {}
    }

    /// @dev The last enrolment step sent again as it was. Its consent is not stored, so within its hour it may
    /// restate the same insurer's enrolment; it must fail once another insurer covers the patient (it was signed
    /// before that coverage began), after a revocation or in a later epoch.
    function _replayEnrol() internal {
        EnrolCall memory e = lastEnrol;
        if (e.kiosk == address(0)) return;
        address insurer = hub.kioskInstitution(e.kiosk);
        address before = insurerOf[e.patientId];
        vm.prank(e.kiosk);
        try insurance.enrollWithConsent(e.patientId, e.bps, e.limit, e.terms, e.sig) {
            if (before != insurer) ++wrongSuccesses;
        } catch {}
    }

    /// @dev The doctor's diagnosis step (recordVisit): a hospital kiosk appends 0 to 9 records in one transaction (0
    /// and 9 must fail and append none), then bills one of them.
    function visit(uint256 patientSeed, uint256 hospitalSeed, uint256 countSeed, uint256 amountSeed) external {
        uint256 p = patientSeed % patients.length;
        bytes32 patientId = patients[p];
        address kiosk = hospitalKiosks[hospitalSeed % 2];
        _keepConsent(p, kiosk);
        uint256 n = countSeed % 10;
        bytes[] memory sealedRecords = new bytes[](n);
        for (uint256 i; i < n; ++i) {
            sealedRecords[i] = _recordEnvelope(amountSeed ^ i);
        }
        vm.prank(kiosk);
        try records.recordVisit(patientId, sealedRecords) returns (uint256 first) {
            recordsOf[patientId] += n;
            if (n == 0 || n > records.MAX_VISIT_RECORDS()) {
                ++wrongSuccesses;
                return;
            }
            uint256 index = first + (countSeed >> 8) % n;
            uint256 amount = bound(amountSeed, 1, 3000e18);
            vm.prank(kiosk);
            try insurance.submitClaim(patientId, index, amount, _claimEnvelope()) {} catch {}
        } catch {}
    }

    /// @dev The insurer's settle step (settleClaim: approve and pay at once), from any of the three insurer kiosks. It
    /// must fail unless the claim is Submitted, the kiosk is its insurer's and the amount is within the insurer's
    /// four-eyes threshold (and within coverage and unreserved escrow, which the invariants check through the
    /// amounts).
    function settle(uint256 claimSeed, uint256 amountSeed, uint256 insurerSeed) external {
        uint256 count = insurance.claimCount();
        if (count == 0) return;
        // Half the time the newest claim (most likely still submitted), else any claim.
        uint256 claimId = claimSeed % 2 == 0 ? count : bound(claimSeed, 1, count);
        InsuranceProvider.Claim memory c = insurance.getClaim(claimId);
        uint256 threshold = insurance.approvalThresholdOf(c.insurer);
        // Half the time what `approve` tries; else up to the claimed amount and the threshold, as the desk's "pay at
        // once" offers it.
        uint256 amount = amountSeed % 2 == 0
            ? bound(amountSeed, 0, uint256(c.claimed) * 11 / 10 + 1)
            : bound(amountSeed, 1, threshold != 0 && threshold < c.claimed ? threshold : c.claimed);
        address kiosk = _insurerKiosk(insurerSeed);
        bool shouldFail = hub.kioskInstitution(kiosk) != c.insurer
            || c.status != InsuranceProvider.ClaimStatus.Submitted || (threshold != 0 && amount > threshold);
        uint256 balanceBefore = token.balanceOf(c.hospital);
        uint256 escrowBefore = insurance.escrowOf(c.insurer);
        uint256 reservedBefore = insurance.reservedOf(c.insurer);
        // Now and then the settle names another patient (whose coverage it would count against): must fail.
        bytes32 patientId = _patientOf(claimId);
        if ((insurerSeed >> 8) % 7 == 0) {
            bytes32 other = patients[(insurerSeed >> 16) % patients.length];
            if (other != patientId) {
                patientId = other;
                shouldFail = true;
            }
        }
        vm.prank(kiosk);
        try insurance.settleClaim(claimId, patientId, bytes32(0), amount, responseEnv()) {
            uint256 received = token.balanceOf(c.hospital) - balanceBefore;
            uint256 escrowAfter = insurance.escrowOf(c.insurer);
            ++settlements[claimId];
            settledAmount[claimId] = amount;
            settleEscrowDrop[claimId] = escrowBefore >= escrowAfter ? escrowBefore - escrowAfter : type(uint256).max;
            if (insurance.reservedOf(c.insurer) != reservedBefore) ++settleReserveMoves;
            ++approveSuccesses[claimId];
            ++paySuccesses[claimId];
            paidAmount[claimId] += received;
            totalPaid += received;
            if (shouldFail) ++wrongSuccesses;
        } catch {}
    }

    /// @dev The patient's card revokes a hospital's or an insurer's consent, often one a registration or enrolment
    /// step stored: it must go through and end the institution's access at once. (The next bill at that hospital
    /// has the card consent again.)
    function revoke(uint256 patientSeed, uint256 institutionSeed) external {
        uint256 p = patientSeed % patients.length;
        uint256 i = institutionSeed % 4;
        address kiosk = i < 2 ? hospitalKiosks[i] : insurerKiosks[i - 2];
        _revokeByCard(pks[p], patients[p], kiosk, i < 2 ? Role.Hospital : Role.Insurer);
    }

    function warp(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 60 days));
    }

    /// @dev A sealed record (the smallest bucket) whose content depends on `seed`.
    function _recordEnvelope(uint256 seed) internal pure returns (bytes memory b) {
        b = new bytes(272 + 512);
        b[0] = 0x02;
        b[1] = bytes1(uint8(seed));
    }

    function _claimEnvelope() internal pure returns (bytes memory b) {
        b = new bytes(272 + 1024);
        b[0] = 0x02;
    }

    /// @dev The hospital of `kiosk` holds patient `p`'s consent: if it expired or was revoked, the card grants
    /// READ|WRITE|PRESCRIBE for 90 days.
    function _keepConsent(uint256 p, address kiosk) internal {
        (uint64 until,,,) = hub.consentOf(patients[p], hub.kioskInstitution(kiosk));
        if (until < block.timestamp) _grantNow(pks[p], patients[p], kiosk, HOSPITAL_ALL, 90 days);
    }

    function selectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](15);
        s[10] = this.registerStep.selector;
        s[11] = this.enrollStep.selector;
        s[12] = this.visit.selector;
        s[13] = this.settle.selector;
        s[14] = this.revoke.selector;
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
