// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "./utils/Fixture.sol";
import {Vm} from "./utils/Vm.sol";
import {CardSig, ConsentTerms, Scope, PrescriptionOrder, Envelope} from "../src/CareTypes.sol";
import {PatientSmartCard} from "../src/PatientSmartCard.sol";
import {HospitalRecord} from "../src/HospitalRecord.sol";
import {PharmacyAccess} from "../src/PharmacyAccess.sol";
import {InsuranceProvider} from "../src/InsuranceProvider.sol";

/// @notice The gas of one whole visit of a new patient, as the kiosks send it: with the step functions
/// (8 transactions) and with today's single calls (14 transactions), every transaction's gas including the
/// intrinsic 21,000 and its calldata, at realistic sizes (every sealed payload a 658-byte envelope of random-looking
/// ciphertext, the key bundle 277 bytes). Print: `forge test --match-path test/VisitGas.t.sol -vv`.
///
/// Each test runs isolated (`isolate = true`): every top-level call is its own transaction, so storage is cold and
/// its original values are those of the transaction's start, as on a real chain. A warm-up visit of another patient
/// runs first, so the global counters, the hospital's token balance and the insurer's escrow are not new (the load
/// run's medians are of such visits). Each transaction's gas is computed from its calldata bytes with Prague's rule
/// (EIP-7623):
///
///     gas = max(21000 + 4·zero + 16·nonzero + execution, 21000 + 10·(zero + 4·nonzero))
///
/// where zero / nonzero count the calldata's zero and nonzero bytes and execution is the gas the call used beyond
/// 21,000 and its standard calldata cost (forge's isolated `gasTotalUsed` includes both).
contract VisitGasTest is Fixture {
    /// @dev The figure the step functions started from: the load run's medians of today's 14 kiosk transactions.
    uint256 internal constant TODAY_LOAD_RUN = 1_385_116;
    /// @dev A new patient whose visit is measured, and the warm-up visit's.
    uint256 internal constant NEW_PK = 0xA11CE_CA4D;
    uint256 internal constant WARM_PK = 0xB0B_CA4D;
    uint256 internal constant CLAIMED = 120e18;
    uint16 internal constant BPS = 8000;
    uint128 internal constant LIMIT = 10_000e18;

    uint256 internal visitTotal;
    uint256 internal visitTxs;
    bool internal quiet;

    // ------------------------------------------------------------ realistic payloads

    /// @dev `len` bytes of random-looking data (ciphertext: zero bytes are rare).
    function noise(uint256 len, uint256 seed) internal pure returns (bytes memory b) {
        b = new bytes(len);
        for (uint256 i; i < len; i += 32) {
            bytes32 w = keccak256(abi.encode(seed, i));
            assembly ("memory-safe") {
                mstore(add(add(b, 32), i), w)
            }
        }
        // The word loop may write past the end; the length stays `len` (memory after it is scratch).
    }

    /// @dev A sealed payload of the smallest bucket (512 + 146 = 658 bytes), version byte 3, ciphertext-like.
    function sealedEnv(uint256 seed) internal pure returns (bytes memory b) {
        b = noise(Envelope.OVERHEAD + 512, seed);
        b[0] = bytes1(Envelope.VERSION);
        b[1] = 0x02;
    }

    /// @dev A key bundle as the kiosk builds it (compact layout): the marker 0xB2, H compressed (33) and three
    /// one-key grants of 81 bytes (ephemeral point 33, key 32, tag 16): 277 bytes.
    function bundleOf(uint256 seed) internal pure returns (bytes memory b) {
        b = noise(1 + 33 + 3 * 81, seed);
        b[0] = 0xB2;
        b[1] = 0x02;
        b[34] = 0x02;
        b[34 + 81] = 0x02;
        b[34 + 2 * 81] = 0x02;
    }

    // ------------------------------------------------------------ measuring

    /// @dev Sends `data` to `target` from `kiosk` as one transaction and adds its gas (Prague's rule) to the visit.
    function send(string memory name, address kiosk, address target, bytes memory data)
        internal
        returns (bytes memory ret)
    {
        vm.prank(kiosk);
        bool ok;
        (ok, ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        Vm.Gas memory g = vm.lastCallGas();
        uint256 zeros;
        for (uint256 i; i < data.length; ++i) {
            if (data[i] == 0) ++zeros;
        }
        uint256 nonzeros = data.length - zeros;
        uint256 standard = 21_000 + 4 * zeros + 16 * nonzeros;
        uint256 execution = g.gasTotalUsed - standard;
        uint256 floor = 21_000 + 10 * (zeros + 4 * nonzeros);
        uint256 txGas = standard + execution > floor ? standard + execution : floor;
        visitTotal += txGas;
        ++visitTxs;
        if (!quiet) {
            log(string.concat(name, ": transaction gas"), txGas);
            log("    calldata bytes", data.length);
            log("    of which zero", zeros);
            log("    21000 + calldata", standard);
            log("    execution", execution);
        }
    }

    function _reset() internal {
        visitTotal = 0;
        visitTxs = 0;
    }

    // ------------------------------------------------------------ the visit with today's single calls

    function singleCallVisit(uint256 pk, uint256 seed) internal {
        bytes32 id = idOf(pk);
        // Reception: register, consent, demographics.
        _register(pk, id, seed);
        _grant("grantConsent (reception)", pk, id, hospitalKiosk, HOSPITAL_ALL);
        send(
            "addMedicalRecord (demographics)",
            hospitalKiosk,
            address(records),
            abi.encodeCall(HospitalRecord.addMedicalRecord, (id, sealedEnv(seed + 1)))
        );
        // Insurer: consent, enrolment.
        vm.warp(block.timestamp + 5 minutes);
        _grant("grantConsent (insurer)", pk, id, insurerKiosk, Scope.READ);
        send(
            "enrollPatient",
            insurerKiosk,
            address(insurance),
            abi.encodeCall(InsuranceProvider.enrollPatient, (id, BPS, LIMIT))
        );
        // Doctor: check-in, diagnosis (condition, care plan), prescription, claim.
        vm.warp(block.timestamp + 5 minutes);
        _grant("grantConsent (check-in)", pk, id, hospitalKiosk, HOSPITAL_ALL);
        vm.warp(block.timestamp + 15 minutes);
        bytes memory ret = send(
            "addMedicalRecord (condition)",
            hospitalKiosk,
            address(records),
            abi.encodeCall(HospitalRecord.addMedicalRecord, (id, sealedEnv(seed + 2)))
        );
        uint256 condition = abi.decode(ret, (uint256));
        send(
            "addMedicalRecord (care plan)",
            hospitalKiosk,
            address(records),
            abi.encodeCall(HospitalRecord.addMedicalRecord, (id, sealedEnv(seed + 3)))
        );
        uint256 rx = _prescribe(id, seed);
        uint256 claimId = _claim(id, condition, seed);
        // Pharmacy: consent, dispense.
        vm.warp(block.timestamp + 30 minutes);
        _grant("grantConsent (pharmacy)", pk, id, pharmacyKiosk, PHARMACY_ALL);
        _dispenseSingle(pk, rx, seed);
        // Insurer: approve, pay.
        send(
            "approveClaim",
            insurerKiosk,
            address(insurance),
            abi.encodeCall(InsuranceProvider.approveClaim, (claimId, id, bytes32(0), CLAIMED * BPS / 10_000, sealedEnv(seed + 6)))
        );
        send(
            "processPayment",
            insurerKiosk,
            address(insurance),
            abi.encodeCall(InsuranceProvider.processPayment, (claimId, bytes32(0)))
        );
    }

    function _register(uint256 pk, bytes32 id, uint256 seed) internal {
        _knownPatients.push(id);
        bytes32 recovery = recoveryHashOf(id);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory bundle = bundleOf(seed);
        CardSig memory s = registerSigWith(pk, hospital, recovery, bundle, deadline);
        send(
            "registerPatient",
            hospitalKiosk,
            address(hub),
            abi.encodeCall(PatientSmartCard.registerPatient, (deadline, recovery, bundle, s))
        );
    }

    function _dispenseSingle(uint256 pk, uint256 rx, uint256 seed) internal {
        uint256 deadline = block.timestamp + 10 minutes;
        bytes memory d = sealedEnv(seed + 5);
        CardSig memory s = partSig(pk, rx, pharmacyOrg, WHOLE, d, deadline);
        send(
            "dispensePrescription",
            pharmacyKiosk,
            address(pharmacy),
            abi.encodeCall(PharmacyAccess.dispensePrescription, (rx, idOf(pk), WHOLE, deadline, d, s))
        );
    }

    function _registerStep(uint256 pk, bytes32 id, uint256 seed) internal {
        _knownPatients.push(id);
        bytes32 recovery = recoveryHashOf(id);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory bundle = bundleOf(seed);
        ConsentTerms memory t = termsFor(id, hospitalKiosk, HOSPITAL_ALL);
        CardSig memory s = registerStepSigWith(pk, hospital, recovery, bundle, deadline, t);
        send(
            "registerAndConsent",
            hospitalKiosk,
            address(records),
            abi.encodeCall(HospitalRecord.registerAndConsent, (deadline, recovery, bundle, t, sealedEnv(seed + 1), s))
        );
    }

    function _dispenseStep(uint256 pk, bytes32 id, uint256 rx, uint256 seed) internal {
        uint256 deadline = block.timestamp + 10 minutes;
        bytes memory d = sealedEnv(seed + 5);
        ConsentTerms memory t = termsFor(id, pharmacyKiosk, PHARMACY_ALL);
        CardSig memory s = dispenseStepSig(pk, pharmacyKiosk, t, rx, WHOLE, d, deadline);
        send(
            "dispenseWithConsent",
            pharmacyKiosk,
            address(pharmacy),
            abi.encodeCall(PharmacyAccess.dispenseWithConsent, (rx, id, WHOLE, deadline, d, t, s))
        );
    }

    function _grant(string memory name, uint256 pk, bytes32 id, address kiosk, uint8 scope) internal {
        ConsentTerms memory t = termsFor(id, kiosk, scope);
        CardSig memory s = termsSig(pk, id, hub.kioskInstitution(kiosk), t);
        send(
            name,
            kiosk,
            address(hub),
            abi.encodeCall(PatientSmartCard.grantConsent, (id, t.scope, t.validUntil, t.epoch, t.signedAt, s))
        );
    }

    function _prescribe(bytes32 id, uint256 seed) internal returns (uint256) {
        bytes memory ret = send(
            "issuePrescription",
            hospitalKiosk,
            address(pharmacy),
            abi.encodeCall(PharmacyAccess.issuePrescription, (id, 0, bytes32(0), sealedEnv(seed + 4)))
        );
        return abi.decode(ret, (uint256));
    }

    function _claim(bytes32 id, uint256 recordIndex, uint256 seed) internal returns (uint256) {
        bytes memory ret = send(
            "submitClaim",
            hospitalKiosk,
            address(insurance),
            abi.encodeCall(InsuranceProvider.submitClaim, (id, recordIndex, CLAIMED, sealedEnv(seed + 7)))
        );
        return abi.decode(ret, (uint256));
    }

    // ------------------------------------------------------------ the visit with the step functions

    function stepVisit(uint256 pk, uint256 seed) internal {
        bytes32 id = idOf(pk);
        // Reception: the registration step (register, consent, demographics; one card signature).
        _registerStep(pk, id, seed);
        // Insurer: the enrolment step (consent, enrolment; one card signature).
        vm.warp(block.timestamp + 5 minutes);
        {
            ConsentTerms memory t = termsFor(id, insurerKiosk, Scope.READ);
            CardSig memory s = termsSig(pk, id, insurer, t);
            send(
                "enrollWithConsent",
                insurerKiosk,
                address(insurance),
                abi.encodeCall(InsuranceProvider.enrollWithConsent, (id, BPS, LIMIT, t, s))
            );
        }
        // Doctor: the consultation step (diagnosis and care plan, prescription, claim). A new patient's check-in is
        // the registration (its consent is the hospital's, at the default window): no second consent.
        vm.warp(block.timestamp + 15 minutes);
        (uint256 rx, uint256 claimId) = _consult(id, seed);
        _pharmacyAndSettle(pk, id, rx, claimId, seed);
    }

    /// @dev Pharmacy: the pharmacy step (consent, dispense; one card signature); insurer: the settle step (approve,
    /// pay).
    function _pharmacyAndSettle(uint256 pk, bytes32 id, uint256 rx, uint256 claimId, uint256 seed) internal {
        vm.warp(block.timestamp + 30 minutes);
        _dispenseStep(pk, id, rx, seed);
        send(
            "settleClaim",
            insurerKiosk,
            address(insurance),
            abi.encodeCall(InsuranceProvider.settleClaim, (claimId, id, bytes32(0), CLAIMED * BPS / 10_000, sealedEnv(seed + 6)))
        );
    }

    /// @dev The consultation step: the visit's two records, one prescription and the claim in one transaction.
    function _consult(bytes32 id, uint256 seed) internal returns (uint256 rx, uint256 claimId) {
        bytes[] memory visit = new bytes[](2);
        visit[0] = sealedEnv(seed + 2);
        visit[1] = sealedEnv(seed + 3);
        PrescriptionOrder[] memory o = new PrescriptionOrder[](1);
        o[0] = PrescriptionOrder({validUntil: 0, tokenKeyHash: bytes32(0), sealedPrescription: sealedEnv(seed + 4)});
        bytes memory ret = send(
            "consult",
            hospitalKiosk,
            address(records),
            abi.encodeCall(HospitalRecord.consult, (id, visit, o, CLAIMED, sealedEnv(seed + 7)))
        );
        (, rx, claimId) = abi.decode(ret, (uint256, uint256, uint256));
    }

    /// @dev A returning patient's visit: check-in, consultation, pharmacy, settle.
    function returningVisit(uint256 pk, uint256 seed) internal {
        bytes32 id = idOf(pk);
        _grant("grantConsent (check-in)", pk, id, hospitalKiosk, HOSPITAL_ALL);
        vm.warp(block.timestamp + 15 minutes);
        (uint256 rx, uint256 claimId) = _consult(id, seed);
        _pharmacyAndSettle(pk, id, rx, claimId, seed);
    }

    // ------------------------------------------------------------ the figures

    /// forge-config: default.isolate = true
    function test_visitGas_singleCalls() public {
        quiet = true;
        singleCallVisit(WARM_PK, 100);
        quiet = false;
        _reset();
        vm.warp(block.timestamp + 1 days);
        singleCallVisit(NEW_PK, 200);
        log("TODAY: transactions per visit", visitTxs);
        log("TODAY: gas per visit", visitTotal);
        assertEq(visitTxs, 14, "today's visit is 14 transactions");
    }

    /// forge-config: default.isolate = true
    function test_visitGas_steps() public {
        quiet = true;
        singleCallVisit(WARM_PK, 100);
        quiet = false;
        _reset();
        vm.warp(block.timestamp + 1 days);
        stepVisit(NEW_PK, 200);
        uint256 steps = visitTotal;
        log("STEPS: transactions per visit", visitTxs);
        log("STEPS: gas per visit", steps);
        assertEq(visitTxs, 5, "one transaction per desk step");
        // The same visit with today's calls, on a twin patient, for the comparison.
        quiet = true;
        _reset();
        vm.warp(block.timestamp + 1 days);
        singleCallVisit(NEW_PK + 1, 300);
        log("TODAY (same run): gas per visit", visitTotal);
        assertLe(steps, visitTotal, "the step visit costs less than today's");
        assertLe(steps, TODAY_LOAD_RUN, "below the load run's figure for today's visit");
    }

    /// forge-config: default.isolate = true
    function test_visitGas_returning() public {
        quiet = true;
        stepVisit(NEW_PK, 200);
        quiet = false;
        _reset();
        vm.warp(block.timestamp + 30 days);
        returningVisit(NEW_PK, 400);
        log("RETURNING: transactions per visit", visitTxs);
        log("RETURNING: gas per visit", visitTotal);
        assertEq(visitTxs, 4, "check-in, consultation, pharmacy, settle");
    }
}
