// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {KioskSigner} from "../../utils/Fixture.sol";
import {CardSig, Scope} from "../../../src/CareTypes.sol";
import {PatientSmartCard} from "../../../src/PatientSmartCard.sol";
import {PharmacyAccess} from "../../../src/PharmacyAccess.sol";

/// @notice Drives prescriptions through issue (with or without a token) / dispense in parts (any part, with fresh,
/// replayed, stale, misdirected and foreign signatures) / dispense by token (the right key, another key, a signature
/// for the other pharmacy, a replay) / cancel (by the issuer's kiosk, the admin, the patient's card) / card
/// replacement (after which the new card consents again) / time, and counts what succeeded.
contract PrescriptionHandler is KioskSigner {
    address[2] internal hospitalKiosks;
    address[2] internal hospitals;
    address[3] internal dispenseKiosks; // two pharmacy kiosks and a hospital kiosk (wrong role)
    address[2] internal pharmacyOrgs;

    bytes32[2] public patients;
    uint256[2] public cardPk; // current card of each patient
    uint256[2] public oldPk; // a retired card (0: none yet)

    mapping(uint256 id => uint256) public dispenseSuccesses; // card dispenses (parts) and token dispenses
    mapping(uint256 id => uint256) public dispensedParts; // the sum of the parts dispensed
    mapping(uint256 id => uint256) public completions; // dispenses that completed the prescription
    mapping(uint256 id => uint256) public tokenSuccesses;
    mapping(uint256 id => uint256) public tokenPkOf; // 0: issued without a token
    mapping(uint256 id => uint256) public cancelSuccesses;
    mapping(bytes32 patientId => uint256) public nonceUses; // card dispenses
    uint256 public dispenses;
    uint256 public tokenDispenses;
    uint256 public completed;
    uint256 public cancels;
    uint256 public replacements;
    uint256 public lossReports;
    uint256 public wrongSuccesses; // a dispense that should have failed but did not

    CardSig internal lastSig;
    uint256 internal lastDeadline;
    uint16 internal lastPart;
    CardSig internal lastTokenSig;
    uint256 internal lastTokenId;
    uint256 internal lastTokenDeadline;
    uint256 internal cardSeq;

    constructor(
        PatientSmartCard hub_,
        PharmacyAccess pharmacy_,
        address[2] memory hospitals_,
        address[2] memory hospitalKiosks_,
        address[2] memory pharmacyOrgs_,
        address[3] memory dispenseKiosks_,
        uint256[2] memory pks
    ) {
        hub = hub_;
        pharmacy = pharmacy_;
        hospitals = hospitals_;
        hospitalKiosks = hospitalKiosks_;
        pharmacyOrgs = pharmacyOrgs_;
        dispenseKiosks = dispenseKiosks_;
        cardPk = pks;
        patients[0] = idOf(pks[0]);
        patients[1] = idOf(pks[1]);
    }

    // ---------------------------------------------------------------- actions

    function issue(uint256 patientSeed, uint256 hospitalSeed, uint256 validitySeed) external {
        uint256 p = patientSeed % 2;
        uint40 validUntil = validitySeed % 3 == 0 ? 0 : uint40(block.timestamp + bound(validitySeed, 1, 20 days));
        // Every other prescription has a token for a representative.
        uint256 tokenPk =
            (patientSeed >> 1) % 2 == 0 ? 0 : uint256(keccak256(abi.encode("token", validitySeed))) % (P256_N - 1) + 1;
        vm.prank(hospitalKiosks[hospitalSeed % 2]);
        bytes memory sealedRx = new bytes(272 + 1024);
        sealedRx[0] = 0x02;
        sealedRx[1] = bytes1(uint8(validitySeed));
        try pharmacy.issuePrescription(
            patients[p], validUntil, tokenPk == 0 ? bytes32(0) : idOf(tokenPk), sealedRx
        ) returns (
            uint256 id
        ) {
            tokenPkOf[id] = tokenPk;
        } catch {}
    }

    function _sealedDispense(uint256 seed) internal pure returns (bytes memory b) {
        b = new bytes(272 + 512);
        b[0] = 0x02;
        b[1] = bytes1(uint8(seed));
    }

    /// @dev Records a successful dispense of `part`.
    function _dispensed(uint256 id, uint256 part) internal {
        ++dispenseSuccesses[id];
        ++dispenses;
        dispensedParts[id] += part;
        if (dispensedParts[id] == WHOLE) {
            ++completions[id];
            ++completed;
        }
    }

    struct Attempt {
        uint256 id;
        address kiosk;
        address pharmacyInst;
        bytes32 patientId;
        uint256 p;
        uint256 nonce;
        uint256 deadline;
        uint16 part;
        bytes sealedDispense;
        bool shouldFail;
    }

    /// @dev A card dispense of a part (any value from 0 to more than is left: 0 and too much must fail).
    function dispense(uint256 idSeed, uint256 kioskSeed, uint256 mode, uint256 partSeed) external {
        Attempt memory a;
        uint256 count = pharmacy.prescriptionCount();
        a.id = bound(idSeed, 1, count + 1); // sometimes one that does not exist
        a.kiosk = dispenseKiosks[kioskSeed % 3];
        a.pharmacyInst = hub.kioskInstitution(a.kiosk);
        a.patientId = a.id <= count ? pharmacy.getPrescription(a.id).patientId : patients[0];
        a.p = a.patientId == patients[0] ? 0 : 1;
        a.nonce = hub.nonces(a.patientId);
        a.deadline = block.timestamp + 1 hours;
        // Mostly what is left or less; sometimes 0 or more than is left.
        a.part = uint16(bound(partSeed, 0, WHOLE + 1 - dispensedParts[a.id]));
        a.sealedDispense = _sealedDispense(partSeed);
        a.shouldFail = a.part == 0 || a.part > WHOLE - dispensedParts[a.id];
        mode %= 7;
        if (mode == 3 && a.nonce == 0) return;
        CardSig memory s = _cardSig(a, mode);
        vm.prank(a.kiosk);
        try pharmacy.dispensePrescription(a.id, a.part, a.deadline, a.sealedDispense, s) {
            _dispensed(a.id, a.part);
            ++nonceUses[a.patientId];
            if (a.shouldFail) ++wrongSuccesses;
            lastSig = s;
            lastDeadline = a.deadline;
            lastPart = a.part;
        } catch {}
    }

    /// @dev The card signature of attempt `a`: fresh (mode 0, 1), the last one replayed with its part (2), at the
    /// previous nonce (3), naming the other pharmacy (4), over another part (5), by another card (6). Every mode but
    /// 0 and 1 marks the attempt as one that must fail.
    function _cardSig(Attempt memory a, uint256 mode) internal view returns (CardSig memory) {
        bytes32 contentHash = keccak256(a.sealedDispense);
        if (mode <= 1) {
            return cardSig(cardPk[a.p], dispenseHash(a.id, a.pharmacyInst, a.part, contentHash, a.nonce, a.deadline));
        }
        a.shouldFail = true;
        if (mode == 2) {
            a.deadline = lastDeadline;
            a.part = lastPart;
            return lastSig;
        }
        if (mode == 3) {
            return
                cardSig(cardPk[a.p], dispenseHash(a.id, a.pharmacyInst, a.part, contentHash, a.nonce - 1, a.deadline));
        }
        if (mode == 4) {
            address other = a.pharmacyInst == pharmacyOrgs[0] ? pharmacyOrgs[1] : pharmacyOrgs[0];
            return cardSig(cardPk[a.p], dispenseHash(a.id, other, a.part, contentHash, a.nonce, a.deadline));
        }
        if (mode == 5) {
            return
                cardSig(cardPk[a.p], dispenseHash(a.id, a.pharmacyInst, a.part ^ 1, contentHash, a.nonce, a.deadline));
        }
        // The other patient's card, or this patient's retired card.
        uint256 pk = oldPk[a.p] != 0 ? oldPk[a.p] : cardPk[1 - a.p];
        return cardSig(pk, dispenseHash(a.id, a.pharmacyInst, a.part, contentHash, a.nonce, a.deadline));
    }

    /// @dev A representative's token dispense: the right token key (mode 0, 1), another key (2), a signature naming
    /// the other pharmacy (3), the last token signature replayed (4).
    function dispenseByToken(uint256 idSeed, uint256 kioskSeed, uint256 mode) external {
        uint256 count = pharmacy.prescriptionCount();
        uint256 id = bound(idSeed, 1, count + 1);
        address kiosk = dispenseKiosks[kioskSeed % 3];
        address pharmacyInst = hub.kioskInstitution(kiosk);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sealedDispense = _sealedDispense(idSeed);
        bytes32 contentHash = keccak256(sealedDispense);
        uint256 tokenPk = tokenPkOf[id];
        bool shouldFail = tokenPk == 0;
        if (tokenPk == 0) tokenPk = uint256(keccak256(abi.encode("no token", id))) % (P256_N - 1) + 1;
        CardSig memory s;
        mode %= 5;
        if (mode <= 1) {
            s = cardSig(tokenPk, tokenDispenseHash(id, pharmacyInst, contentHash, deadline));
        } else if (mode == 2) {
            s = cardSig(tokenPk ^ 1, tokenDispenseHash(id, pharmacyInst, contentHash, deadline));
            shouldFail = true;
        } else if (mode == 3) {
            address other = pharmacyInst == pharmacyOrgs[0] ? pharmacyOrgs[1] : pharmacyOrgs[0];
            s = cardSig(tokenPk, tokenDispenseHash(id, other, contentHash, deadline));
            shouldFail = true;
        } else {
            if (lastTokenId == 0) return;
            id = lastTokenId;
            s = lastTokenSig;
            deadline = lastTokenDeadline;
            shouldFail = true;
        }
        uint256 rest = WHOLE - dispensedParts[id];
        vm.prank(kiosk);
        try pharmacy.dispenseByToken(id, deadline, sealedDispense, s) {
            _dispensed(id, rest);
            ++tokenSuccesses[id];
            ++tokenDispenses;
            if (shouldFail) ++wrongSuccesses;
            lastTokenSig = s;
            lastTokenId = id;
            lastTokenDeadline = deadline;
        } catch {}
    }

    function cancel(uint256 idSeed, uint256 kioskSeed) external {
        uint256 id = bound(idSeed, 1, pharmacy.prescriptionCount() + 1);
        vm.prank(hospitalKiosks[kioskSeed % 2]);
        try pharmacy.cancelPrescription(id) {
            ++cancelSuccesses[id];
            ++cancels;
        } catch {}
    }

    /// @dev The admin recalls a prescription.
    function recall(uint256 idSeed) external {
        uint256 id = bound(idSeed, 1, pharmacy.prescriptionCount() + 1);
        vm.prank(hub.admin());
        try pharmacy.cancelPrescription(id) {
            ++cancelSuccesses[id];
            ++cancels;
        } catch {}
    }

    /// @dev The patient's card cancels (mode 0), or a stale (mode 1) or foreign (mode 2) card signature is tried.
    function cancelByPatient(uint256 idSeed, uint256 mode) external {
        uint256 count = pharmacy.prescriptionCount();
        if (count == 0) return;
        uint256 id = bound(idSeed, 1, count);
        uint256 p = pharmacy.getPrescription(id).patientId == patients[0] ? 0 : 1;
        mode %= 3;
        uint64 sAt = mode == 1 ? uint64(block.timestamp - 1 hours - 1) : uint64(block.timestamp);
        uint256 pk = mode == 2 ? (oldPk[p] != 0 ? oldPk[p] : cardPk[1 - p]) : cardPk[p];
        CardSig memory s = cancelSig(pk, id, sAt);
        try pharmacy.cancelPrescriptionByPatient(id, sAt, s) {
            ++cancelSuccesses[id];
            ++cancels;
            if (mode != 0) ++wrongSuccesses;
        } catch {}
    }

    /// @dev The patient's current card grants `kiosk`'s institution `scope` for `window`, now.
    function _grant(uint256 p, address kiosk, uint8 scope, uint64 window) internal {
        bytes32 patientId = patients[p];
        address institution = hub.kioskInstitution(kiosk);
        uint64 sAt = nextSignedAt(patientId, institution);
        uint64 epoch = hub.epochOf(patientId);
        CardSig memory s = consentSig(cardPk[p], patientId, institution, scope, sAt + window, epoch, sAt);
        vm.prank(kiosk);
        hub.grantConsent(patientId, scope, sAt + window, epoch, sAt, s);
    }

    /// @dev Every other time the recovery key reports the card lost first; then a hospital kiosk replaces it (the
    /// recovery key and a fresh card sign, no consent needed).
    function replaceCard(uint256 patientSeed) external {
        uint256 p = patientSeed % 2;
        uint256 newPk = uint256(keccak256(abi.encode("card", ++cardSeq))) % (P256_N - 1) + 1;
        bytes32 patientId = patients[p];
        uint256 recoveryPk = recoveryPkOf(patientId);
        uint64 sAt = uint64(block.timestamp);
        if ((patientSeed >> 1) % 2 == 0) {
            CardSig memory l = reportLostSig(recoveryPk, patientId, hub.epochOf(patientId), sAt);
            try hub.reportCardLost(patientId, sAt, l) {
                ++lossReports;
            } catch {}
        }
        bytes memory bundle = keyBundleOf(cardSeq);
        (CardSig memory rec, CardSig memory s) =
            replaceSigs(recoveryPk, newPk, patientId, hospitals[0], bytes32(0), bundle, hub.epochOf(patientId), sAt);
        vm.prank(hospitalKiosks[0]);
        try hub.replaceCard(patientId, sAt, 0, bundle, rec, s) {
            oldPk[p] = cardPk[p];
            cardPk[p] = newPk;
            ++replacements;
            // The replacement ended every consent (the epoch moved): the patient consents again with the new card.
            _grant(p, hospitalKiosks[0], Scope.READ | Scope.WRITE | Scope.PRESCRIBE, 365 days);
            _grant(p, hospitalKiosks[1], Scope.READ | Scope.WRITE | Scope.PRESCRIBE, 365 days);
            _grant(p, dispenseKiosks[0], Scope.READ | Scope.DISPENSE, 30 days);
            _grant(p, dispenseKiosks[1], Scope.READ | Scope.DISPENSE, 30 days);
        } catch {}
    }

    function warp(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 2 days));
    }

    function selectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](8);
        s[7] = this.dispenseByToken.selector;
        s[0] = this.issue.selector;
        s[1] = this.dispense.selector;
        s[2] = this.cancel.selector;
        s[3] = this.replaceCard.selector;
        s[4] = this.warp.selector;
        s[5] = this.recall.selector;
        s[6] = this.cancelByPatient.selector;
    }
}
