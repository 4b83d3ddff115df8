// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {KioskSigner} from "../../utils/Fixture.sol";
import {Role, CardSig, ConsentTerms, Scope} from "../../../src/CareTypes.sol";
import {PatientSmartCard} from "../../../src/PatientSmartCard.sol";
import {HospitalRecord} from "../../../src/HospitalRecord.sol";
import {PharmacyAccess} from "../../../src/PharmacyAccess.sol";
import {InsuranceProvider} from "../../../src/InsuranceProvider.sol";
import {TestStablecoin} from "../../../src/TestStablecoin.sol";

/// @notice Calls every mutating function of the hub, the modules and the token from random unregistered
/// addresses, with arguments that point at real institutions, kiosks, patients, records, prescriptions and claims,
/// and, where the only gate is the caller's role, with valid card signatures — the desks' step functions included.
/// The hub's step hooks, whose only gate is the calling module, are also called by the kiosks themselves. Every
/// success is counted.
contract AccessHandler is KioskSigner {
    HospitalRecord internal immutable records;
    InsuranceProvider internal immutable insurance;
    TestStablecoin internal immutable token;
    bytes32 internal immutable pid;
    uint256 internal immutable pk;
    address internal immutable admin;

    mapping(address => bool) internal known;
    address[] internal knownList;

    uint256 public calls;
    uint256 public successes;
    uint256 public hookSuccesses; // a step hook of the hub answered a kiosk
    bytes4 public lastSuccess;
    address[] internal _touchedAddrs;
    bytes32[] internal _touchedIds;

    constructor(
        PatientSmartCard hub_,
        HospitalRecord records_,
        PharmacyAccess pharmacy_,
        InsuranceProvider insurance_,
        TestStablecoin token_,
        bytes32 pid_,
        uint256 pk_,
        address[] memory known_
    ) {
        hub = hub_;
        records = records_;
        pharmacy = pharmacy_;
        insurance = insurance_;
        token = token_;
        pid = pid_;
        pk = pk_;
        admin = hub_.admin();
        for (uint256 i; i < known_.length; ++i) {
            known[known_[i]] = true;
            knownList.push(known_[i]);
        }
        known[address(0)] = true;
        known[address(this)] = true;
        known[address(vm)] = true;
        known[msg.sender] = true;
    }

    function touchedAddrs() external view returns (address[] memory) {
        return _touchedAddrs;
    }

    function touchedIds() external view returns (bytes32[] memory) {
        return _touchedIds;
    }

    // ---------------------------------------------------------------- argument pickers

    function _do(uint256 callerSeed, address target, bytes memory data) internal {
        address caller = address(uint160(uint256(keccak256(abi.encode("unregistered caller", callerSeed)))));
        if (known[caller]) return;
        _touchedAddrs.push(caller);
        ++calls;
        vm.prank(caller);
        (bool ok,) = target.call(data);
        if (ok) {
            ++successes;
            lastSuccess = bytes4(data);
        }
    }

    /// @dev `caller` — a kiosk or any other address but a module — sends `data` to a step hook of the hub.
    function _doHookAs(address caller, bytes memory data) internal {
        if (caller == address(records) || caller == address(pharmacy) || caller == address(insurance)) return;
        vm.prank(caller);
        (bool ok,) = address(hub).call(data);
        if (ok) ++hookSuccesses;
    }

    /// @dev A known address (institution, kiosk, admin, module...) or a fresh one.
    function _addr(uint256 seed) internal returns (address a) {
        if (seed % 3 != 0) return knownList[seed % knownList.length];
        a = address(uint160(uint256(keccak256(abi.encode("fresh address", seed)))));
        _touchedAddrs.push(a);
    }

    /// @dev The real patient, or a fresh id.
    function _pid(uint256 seed) internal returns (bytes32 p) {
        if (seed % 2 == 0) return pid;
        p = keccak256(abi.encode("fresh patient", seed));
        _touchedIds.push(p);
    }

    function _freshPk(uint256 seed) internal returns (uint256 k) {
        k = uint256(keccak256(abi.encode("fresh card", seed))) % (P256_N - 1) + 1;
        _touchedIds.push(idOf(k));
    }

    /// @dev Not a valid signature of the patient's card for anything the contracts ask.
    function _badSig(uint256 seed) internal view returns (CardSig memory s) {
        if (seed % 2 == 0) {
            s = cardSig(pk, keccak256(abi.encode("unrelated", seed)));
        } else {
            s = CardSig({
                qx: bytes32(seed), qy: keccak256(abi.encode(seed)), r: bytes32(seed >> 1), s: bytes32(seed >> 2)
            });
        }
    }

    // ---------------------------------------------------------------- PatientSmartCard

    function transferAdmin(uint256 cs, uint256 a) external {
        _do(cs, address(hub), abi.encodeCall(hub.transferAdmin, (_addr(a))));
    }

    function acceptAdmin(uint256 cs) external {
        _do(cs, address(hub), abi.encodeCall(hub.acceptAdmin, ()));
    }

    function wire(uint256 cs, uint256 a, uint256 b, uint256 c) external {
        _do(cs, address(hub), abi.encodeCall(hub.wire, (_addr(a), _addr(b), _addr(c))));
    }

    function registerInstitutionBy(uint256 cs, uint256 inst, uint8 role, bool adminAsOperator) external {
        address operator = adminAsOperator ? admin : _addr(inst >> 8);
        _do(
            cs,
            address(hub),
            abi.encodeCall(hub.registerInstitutionBy, (operator, _addr(inst), Role(bound(role, 0, 3))))
        );
    }

    function setInstitutionActive(uint256 cs, uint256 inst, bool active) external {
        _do(cs, address(hub), abi.encodeCall(hub.setInstitutionActive, (_addr(inst), active)));
    }

    function setGuardian(uint256 cs, uint256 a) external {
        _do(cs, address(hub), abi.encodeCall(hub.setGuardian, (_addr(a))));
    }

    /// @dev A governed call aimed at the hub or a module: suspend an institution, or register one.
    function _governed(uint256 seed) internal returns (address target, bytes memory data) {
        if (seed % 2 == 0) return (address(hub), abi.encodeCall(hub.setInstitutionActive, (_addr(seed >> 1), false)));
        return (address(records), abi.encodeCall(records.registerHospital, (_addr(seed >> 1))));
    }

    function schedule(uint256 cs, uint256 seed) external {
        (address target, bytes memory data) = _governed(seed);
        _do(cs, address(hub), abi.encodeCall(hub.schedule, (target, data)));
    }

    function execute(uint256 cs, uint256 seed) external {
        (address target, bytes memory data) = _governed(seed);
        _do(cs, address(hub), abi.encodeCall(hub.execute, (target, data)));
    }

    function cancel(uint256 cs, uint256 seed) external {
        (address target, bytes memory data) = _governed(seed);
        _do(cs, address(hub), abi.encodeCall(hub.cancel, (keccak256(abi.encode(target, data)))));
    }

    function addKiosk(uint256 cs, uint256 k) external {
        _do(cs, address(hub), abi.encodeCall(hub.addKiosk, (_addr(k))));
    }

    function acceptKiosk(uint256 cs, uint256 inst) external {
        _do(cs, address(hub), abi.encodeCall(hub.acceptKiosk, (_addr(inst))));
    }

    function removeKiosk(uint256 cs, uint256 k) external {
        _do(cs, address(hub), abi.encodeCall(hub.removeKiosk, (_addr(k))));
    }

    function registerPatient(uint256 cs, uint256 cardSeed, uint256 inst) external {
        uint256 k = _freshPk(cardSeed);
        uint256 deadline = block.timestamp + 1 hours;
        address hospital_ = _addr(inst);
        bytes32 rk = recoveryHashOf(idOf(k));
        bytes memory bundle = keyBundleOf(cardSeed);
        CardSig memory s = registerSigWith(k, hospital_, rk, bundle, deadline);
        _do(cs, address(hub), abi.encodeCall(hub.registerPatient, (deadline, rk, bundle, s)));
    }

    /// @dev The patient's real recovery key and a fresh card both sign the replacement: only the caller's role (a
    /// hospital kiosk) is missing.
    function replaceCard(uint256 cs, uint256 cardSeed, uint256 inst) external {
        uint256 k = _freshPk(cardSeed);
        uint64 sAt = uint64(block.timestamp);
        bytes memory bundle = keyBundleOf(cardSeed);
        (CardSig memory rec, CardSig memory s) =
            replaceSigs(recoveryPkOf(pid), k, pid, _addr(inst), bytes32(cardSeed), bundle, hub.epochOf(pid), sAt);
        _do(cs, address(hub), abi.encodeCall(hub.replaceCard, (pid, sAt, bytes32(cardSeed), bundle, rec, s)));
    }

    /// @dev Anyone may submit a loss report; without the recovery key's or the card's signature it fails.
    function reportCardLost(uint256 cs, uint256 sigSeed) external {
        _do(cs, address(hub), abi.encodeCall(hub.reportCardLost, (pid, uint64(block.timestamp), _badSig(sigSeed))));
    }

    function grantConsent(uint256 cs, uint256 inst, uint8 scope) external {
        address institution = _addr(inst);
        scope = uint8(bound(scope, 1, Scope.READ));
        uint64 sAt = nextSignedAt(pid, institution);
        uint64 until = sAt + 1 days;
        uint64 epoch = hub.epochOf(pid);
        CardSig memory s = consentSig(pk, pid, institution, scope, until, epoch, sAt);
        _do(cs, address(hub), abi.encodeCall(hub.grantConsent, (pid, scope, until, epoch, sAt, s)));
    }

    function revokeConsent(uint256 cs, uint256 inst, uint256 sigSeed) external {
        address institution = _addr(inst);
        uint64 sAt = nextSignedAt(pid, institution);
        _do(cs, address(hub), abi.encodeCall(hub.revokeConsent, (pid, institution, sAt, _badSig(sigSeed))));
    }

    function revokeAllConsents(uint256 cs, uint256 sigSeed) external {
        _do(
            cs,
            address(hub),
            abi.encodeCall(hub.revokeAllConsents, (pid, hub.epochOf(pid), uint64(block.timestamp), _badSig(sigSeed)))
        );
    }

    function useNonce(uint256 cs, uint256 p) external {
        _do(cs, address(hub), abi.encodeCall(hub.useNonce, (_pid(p))));
    }

    // ---------------------------------------------------------------- HospitalRecord

    function registerHospital(uint256 cs, uint256 a) external {
        _do(cs, address(records), abi.encodeCall(records.registerHospital, (_addr(a))));
    }

    /// @dev Random bytes, or (every other time) a well-formed envelope, so only the caller check refuses it.
    function _sealed(uint256 seed, bytes calldata data) internal pure returns (bytes memory b) {
        if (seed % 2 == 0) return data;
        b = new bytes(272 + 512);
        b[0] = 0x02;
    }

    function addMedicalRecord(uint256 cs, uint256 p, bytes calldata data) external {
        _do(cs, address(records), abi.encodeCall(records.addMedicalRecord, (_pid(p), _sealed(cs, data))));
    }

    function updateMedicalHistory(uint256 cs, uint256 p, uint256 index, bytes calldata data) external {
        _do(cs, address(records), abi.encodeCall(records.updateMedicalHistory, (_pid(p), index % 3, _sealed(cs, data))));
    }

    // ---------------------------------------------------------------- PharmacyAccess

    function registerPharmacy(uint256 cs, uint256 a) external {
        _do(cs, address(pharmacy), abi.encodeCall(pharmacy.registerPharmacy, (_addr(a))));
    }

    function issuePrescription(uint256 cs, uint256 p, uint40 validUntil, bytes calldata data) external {
        _do(
            cs,
            address(pharmacy),
            abi.encodeCall(pharmacy.issuePrescription, (_pid(p), validUntil, bytes32(0), _sealed(cs, data)))
        );
    }

    function cancelPrescription(uint256 cs, uint256 id) external {
        _do(cs, address(pharmacy), abi.encodeCall(pharmacy.cancelPrescription, (id % 3, pid, bytes32(0))));
    }

    function cancelPrescriptionByPatient(uint256 cs, uint256 id, uint256 sigSeed) external {
        _do(
            cs,
            address(pharmacy),
            abi.encodeCall(pharmacy.cancelPrescriptionByPatient, (id % 3, pid, uint64(block.timestamp), _badSig(sigSeed)))
        );
    }

    function dispensePrescription(uint256 cs, uint256 id, uint256 inst) external {
        id = id % 3;
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = cardSig(pk, dispenseHash(id, _addr(inst), hub.nonces(pid), deadline));
        _do(
            cs,
            address(pharmacy),
            abi.encodeCall(pharmacy.dispensePrescription, (id, pid, WHOLE, deadline, dispenseEnv(), s))
        );
    }

    /// @dev A token dispense signed by the real token key of prescription 2 (valid: only the caller is wrong) or by
    /// a key the caller made up.
    function dispenseByToken(uint256 cs, uint256 id, uint256 inst, uint256 keySeed) external {
        id = id % 3;
        uint256 deadline = block.timestamp + 1 hours;
        uint256 tokenPk = keySeed % 2 == 0 ? TOKEN_PK : keySeed % (P256_N - 1) + 1;
        CardSig memory s = tokenSig(tokenPk, id, _addr(inst), dispenseEnv(), deadline);
        _do(cs, address(pharmacy), abi.encodeCall(pharmacy.dispenseByToken, (id, pid, deadline, dispenseEnv(), s)));
    }

    // ---------------------------------------------------------------- InsuranceProvider

    function registerInsurer(uint256 cs, uint256 a) external {
        _do(cs, address(insurance), abi.encodeCall(insurance.registerInsurer, (_addr(a))));
    }

    function fundEscrow(uint256 cs, uint256 inst, uint256 amount) external {
        _do(cs, address(insurance), abi.encodeCall(insurance.fundEscrow, (_addr(inst), amount)));
    }

    function withdrawEscrow(uint256 cs, uint256 amount, uint256 to) external {
        _do(cs, address(insurance), abi.encodeCall(insurance.withdrawEscrow, (amount % 2e18, _addr(to))));
    }

    function enrollPatient(uint256 cs, uint256 p, uint16 bps, uint128 limit) external {
        _do(cs, address(insurance), abi.encodeCall(insurance.enrollPatient, (_pid(p), bps, limit)));
    }

    function submitClaim(uint256 cs, uint256 index, uint256 amount, bytes calldata data) external {
        _do(cs, address(insurance), abi.encodeCall(insurance.submitClaim, (pid, index % 3, amount, _sealed(cs, data))));
    }

    function approveClaim(uint256 cs, uint256 id, uint256 amount) external {
        _do(cs, address(insurance), abi.encodeCall(insurance.approveClaim, (id % 4, pid, bytes32(0), amount % 100e18, responseEnv())));
    }

    function confirmApproval(uint256 cs, uint256 id) external {
        _do(cs, address(insurance), abi.encodeCall(insurance.confirmApproval, (id % 4, pid, bytes32(0))));
    }

    function setApprovalThreshold(uint256 cs, uint256 amount) external {
        _do(cs, address(insurance), abi.encodeCall(insurance.setApprovalThreshold, (amount)));
    }

    function denyClaim(uint256 cs, uint256 id, uint16 reason) external {
        _do(cs, address(insurance), abi.encodeCall(insurance.denyClaim, (id % 4, bytes32(0), reason, responseEnv())));
    }

    function processPayment(uint256 cs, uint256 id) external {
        _do(cs, address(insurance), abi.encodeCall(insurance.processPayment, (id % 4, bytes32(0))));
    }

    // ---------------------------------------------------------------- the desks' step functions

    /// @dev A fresh card's valid registration step at a real or made-up hospital (any scope with WRITE up to the
    /// hospital's, a well-formed demographics record): only the caller (a kiosk of that hospital) is missing.
    function registerAndConsent(uint256 cs, uint256 cardSeed, uint256 inst, uint8 scope) external {
        uint256 k = _freshPk(cardSeed);
        scope = uint8(bound(scope, 1, HOSPITAL_ALL)) | Scope.WRITE;
        ConsentTerms memory t = termsOf(scope, uint64(block.timestamp + 1 days), 1, uint64(block.timestamp));
        _do(cs, address(records), _registerStepCall(k, _addr(inst), t, env(cardSeed)));
    }

    function _registerStepCall(uint256 k, address hospital_, ConsentTerms memory t, bytes memory sealedRecord)
        internal
        view
        returns (bytes memory)
    {
        uint256 deadline = block.timestamp + 1 hours;
        CardSig memory s = registerStepSig(k, hospital_, deadline, t);
        return abi.encodeCall(
            records.registerAndConsent, (deadline, recoveryHashOf(idOf(k)), keyBundle(), t, sealedRecord, s)
        );
    }

    function recordVisit(uint256 cs, uint256 p, bytes calldata data) external {
        bytes[] memory sealedRecords = new bytes[](2);
        sealedRecords[0] = _sealed(cs, data);
        sealedRecords[1] = _sealed(cs >> 1, data);
        _do(cs, address(records), abi.encodeCall(records.recordVisit, (_pid(p), sealedRecords)));
    }

    /// @dev The patient's valid pharmacy-step signature (a consent of any scope up to a pharmacy's, and the whole
    /// of a prescription) naming a real or made-up pharmacy: only the caller is wrong.
    function dispenseWithConsent(uint256 cs, uint256 id, uint256 inst, uint8 scope) external {
        id = id % 3;
        address pharmacy_ = _addr(inst);
        uint256 deadline = block.timestamp + 1 hours;
        uint64 sAt = nextSignedAt(pid, pharmacy_);
        ConsentTerms memory t = termsOf(uint8(bound(scope, 1, PHARMACY_ALL)), sAt + 1 days, hub.epochOf(pid), sAt);
        CardSig memory s = cardSig(
            pk,
            dispenseWithConsentHash(pid, pharmacy_, t, id, WHOLE, keccak256(dispenseEnv()), hub.nonces(pid), deadline)
        );
        _do(
            cs,
            address(pharmacy),
            abi.encodeCall(pharmacy.dispenseWithConsent, (id, pid, WHOLE, deadline, dispenseEnv(), t, s))
        );
    }

    /// @dev The patient's valid READ consent for a real or made-up insurer, any valid coverage: only the caller is
    /// wrong.
    function enrollWithConsent(uint256 cs, uint256 inst, uint16 bps, uint128 limit) external {
        bps = uint16(bound(bps, 1, 10_000));
        limit = uint128(bound(limit, 1, type(uint88).max));
        address insurer_ = _addr(inst);
        uint64 sAt = nextSignedAt(pid, insurer_);
        ConsentTerms memory t = termsOf(Scope.READ, sAt + 1 days, hub.epochOf(pid), sAt);
        CardSig memory s = termsSig(pk, pid, insurer_, t);
        _do(cs, address(insurance), abi.encodeCall(insurance.enrollWithConsent, (pid, bps, limit, t, s)));
    }

    function settleClaim(uint256 cs, uint256 id, uint256 amount) external {
        _do(cs, address(insurance), abi.encodeCall(insurance.settleClaim, (id % 4, pid, bytes32(0), amount % 100e18, responseEnv())));
    }

    /// @dev The hub's registration hook called directly, naming a real kiosk (or any address) as the kiosk, with a
    /// fresh card's valid step signature for that kiosk's hospital: only HospitalRecord may call it. Sent by a
    /// stranger or by the named kiosk itself.
    function registerWithConsentFor(uint256 cs, uint256 cardSeed, uint256 k, bool byKiosk) external {
        uint256 card = _freshPk(cardSeed);
        address kiosk = _addr(k);
        uint256 deadline = block.timestamp + 1 hours;
        ConsentTerms memory t = termsOf(HOSPITAL_ALL, uint64(block.timestamp + 1 days), 1, uint64(block.timestamp));
        bytes memory bundle = keyBundle();
        CardSig memory s = registerStepSig(card, hub.kioskInstitution(kiosk), deadline, t);
        bytes memory data = abi.encodeCall(
            hub.registerWithConsentFor,
            (kiosk, deadline, recoveryHashOf(idOf(card)), keccak256(bundle), bundle.length, t, s)
        );
        if (byKiosk) _doHookAs(kiosk, data);
        else _do(cs, address(hub), data);
    }

    /// @dev The hub's consent hook called directly, naming a real kiosk (or any address) as the kiosk, with the
    /// patient's valid signature for that kiosk's institution: a plain Consent (stepHash zero) or a
    /// DispenseWithConsent over a real Dispense. Only the modules may call it. Sent by a stranger or by the kiosk.
    function useConsentFor(uint256 cs, uint256 k, bool withDispense, bool byKiosk) external {
        address kiosk = _addr(k);
        address institution = hub.kioskInstitution(kiosk);
        uint64 sAt = nextSignedAt(pid, institution);
        ConsentTerms memory t = termsOf(Scope.READ, sAt + 1 days, hub.epochOf(pid), sAt);
        bytes32 stepHash;
        CardSig memory s;
        if (withDispense) {
            uint256 deadline = block.timestamp + 1 hours;
            stepHash = dispenseHash(1, institution, hub.nonces(pid), deadline);
            s = cardSig(
                pk,
                dispenseWithConsentHash(
                    pid, institution, t, 1, WHOLE, keccak256(dispenseEnv()), hub.nonces(pid), deadline
                )
            );
        } else {
            s = termsSig(pk, pid, institution, t);
        }
        bytes memory data = abi.encodeCall(hub.useConsentFor, (kiosk, pid, t, stepHash, s));
        if (byKiosk) _doHookAs(kiosk, data);
        else _do(cs, address(hub), data);
    }

    // ---------------------------------------------------------------- TestStablecoin

    function mint(uint256 cs, uint256 to, uint256 amount) external {
        _do(cs, address(token), abi.encodeCall(token.mint, (_addr(to), amount)));
    }

    function selectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](26);
        s[0] = this.transferAdmin.selector;
        s[1] = this.acceptAdmin.selector;
        s[2] = this.wire.selector;
        s[3] = this.registerInstitutionBy.selector;
        s[4] = this.setInstitutionActive.selector;
        s[5] = this.addKiosk.selector;
        s[6] = this.removeKiosk.selector;
        s[7] = this.registerPatient.selector;
        s[8] = this.replaceCard.selector;
        s[9] = this.grantConsent.selector;
        s[10] = this.revokeConsent.selector;
        s[11] = this.useNonce.selector;
        s[12] = this.registerHospital.selector;
        s[13] = this.addMedicalRecord.selector;
        s[14] = this.updateMedicalHistory.selector;
        s[15] = this.registerPharmacy.selector;
        s[16] = this.issuePrescription.selector;
        s[17] = this.cancelPrescription.selector;
        s[18] = this.dispensePrescription.selector;
        s[19] = this.registerInsurer.selector;
        s[20] = this.fundEscrow.selector;
        s[21] = this.withdrawEscrow.selector;
        s[22] = this.enrollPatient.selector;
        s[23] = this.submitClaim.selector;
        s[24] = this.approveClaim.selector;
        s[25] = this.denyClaim.selector;
        s = _append(s, this.processPayment.selector, this.mint.selector);
        s = _append(s, this.reportCardLost.selector, this.reportCardLost.selector);
        s = _append(s, this.setGuardian.selector, this.schedule.selector);
        s = _append(s, this.execute.selector, this.cancel.selector);
        s = _append(s, this.acceptKiosk.selector, this.revokeAllConsents.selector);
        s = _append(s, this.cancelPrescriptionByPatient.selector, this.cancelPrescriptionByPatient.selector);
        s = _append(s, this.dispenseByToken.selector, this.confirmApproval.selector);
        s = _append(s, this.setApprovalThreshold.selector, this.setApprovalThreshold.selector);
        s = _append(s, this.registerAndConsent.selector, this.recordVisit.selector);
        s = _append(s, this.dispenseWithConsent.selector, this.enrollWithConsent.selector);
        s = _append(s, this.settleClaim.selector, this.registerWithConsentFor.selector);
        s = _append(s, this.useConsentFor.selector, this.useConsentFor.selector);
    }

    function _append(bytes4[] memory a, bytes4 x, bytes4 y) internal pure returns (bytes4[] memory b) {
        b = new bytes4[](a.length + 2);
        for (uint256 i; i < a.length; ++i) {
            b[i] = a[i];
        }
        b[a.length] = x;
        b[a.length + 1] = y;
    }
}
