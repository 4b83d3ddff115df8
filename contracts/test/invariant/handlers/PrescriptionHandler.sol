// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {CardSig, ConsentTerms, Role, Scope} from "../../../src/CareTypes.sol";
import {PatientSmartCard} from "../../../src/PatientSmartCard.sol";
import {PharmacyAccess} from "../../../src/PharmacyAccess.sol";
import {ConsentLedger} from "./ConsentLedger.sol";

/// @notice Drives prescriptions through issue (with or without a token) / dispense in parts (any part, with fresh,
/// replayed, stale, misdirected and foreign signatures) / the pharmacy step, consent and a part on one card signature
/// (dispenseWithConsent: the terms the patient chose or refused ones, the same signature faults and the step's own) /
/// dispense by token (the right key, another key, a signature for the other pharmacy, a replay) / cancel (by the
/// issuer's kiosk, the admin, the patient's card) / the card revoking a pharmacy's consent / card replacement (after
/// which the new card consents again) / time, and counts what succeeded. The consent ledger follows every grant and
/// revocation; a single-call dispense without a live DISPENSE consent in it must fail.
contract PrescriptionHandler is ConsentLedger {
    address[2] internal hospitalKiosks;
    address[2] internal hospitals;
    address[3] internal dispenseKiosks; // two pharmacy kiosks and a hospital kiosk (wrong role)
    address[2] internal pharmacyOrgs;

    bytes32[2] public patients;
    uint256[2] public cardPk; // current card of each patient
    uint256[2] public oldPk; // a retired card (0: none yet)

    mapping(uint256 id => uint256) public dispenseSuccesses; // card dispenses (parts) and token dispenses
    mapping(uint256 id => uint256) public dispensedParts; // the sum of the parts dispensed
    mapping(uint256 id => uint256) public cardParts; // of which by dispensePrescription
    mapping(uint256 id => uint256) public stepParts; // of which by the pharmacy step (dispenseWithConsent)
    mapping(uint256 id => uint256) public tokenParts; // of which by dispenseByToken
    mapping(uint256 id => uint32) public lastDispensedBy; // the pharmacy (institution id) of the last dispense
    mapping(uint256 id => uint256) public completions; // dispenses that completed the prescription
    mapping(uint256 id => uint256) public tokenSuccesses;
    mapping(uint256 id => uint256) public tokenPkOf; // 0: issued without a token
    mapping(uint256 id => uint256) public cancelSuccesses;
    mapping(bytes32 patientId => uint256) public nonceUses; // card dispenses and pharmacy steps
    uint256 public dispenses;
    uint256 public tokenDispenses;
    uint256 public stepDispenses;
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

    /// @dev The last pharmacy step that went through, for a replay.
    struct StepCall {
        address kiosk;
        uint256 id;
        uint16 part;
        uint256 deadline;
        bytes sealedDispense;
        ConsentTerms terms;
        CardSig sig;
    }

    StepCall internal lastStep;

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
        for (uint256 p; p < 2; ++p) {
            for (uint256 i; i < 2; ++i) {
                _track(patients[p], hospitals_[i]);
                _track(patients[p], pharmacyOrgs_[i]);
            }
        }
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

    /// @dev Records a successful dispense of `part` by `pharmacyInst`.
    function _dispensed(uint256 id, uint256 part, address pharmacyInst) internal {
        (,, lastDispensedBy[id]) = hub.institutions(pharmacyInst);
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

    /// @dev A dispense of a part of a prescription (sometimes one that does not exist) at one of the three kiosks:
    /// any part from 0 to more than is left (0 and too much must fail).
    function _attempt(uint256 idSeed, uint256 kioskSeed, uint256 partSeed) internal view returns (Attempt memory a) {
        uint256 count = pharmacy.prescriptionCount();
        a.id = bound(idSeed, 1, count + 1);
        a.kiosk = dispenseKiosks[kioskSeed % 3];
        a.pharmacyInst = hub.kioskInstitution(a.kiosk);
        a.patientId = a.id <= count ? _patientOf(a.id) : patients[0];
        a.p = a.patientId == patients[0] ? 0 : 1;
        a.nonce = hub.nonces(a.patientId);
        a.deadline = block.timestamp + 1 hours;
        // Mostly what is left or less; sometimes 0 or more than is left.
        a.part = uint16(bound(partSeed, 0, WHOLE + 1 - dispensedParts[a.id]));
        a.sealedDispense = _sealedDispense(partSeed);
        a.shouldFail = a.part == 0 || a.part > WHOLE - dispensedParts[a.id];
    }

    /// @dev The other pharmacy than `pharmacyInst`.
    function _otherPharmacy(address pharmacyInst) internal view returns (address) {
        return pharmacyInst == pharmacyOrgs[0] ? pharmacyOrgs[1] : pharmacyOrgs[0];
    }

    /// @dev A card that is not patient `p`'s: its retired card, or the other patient's.
    function _otherCard(uint256 p) internal view returns (uint256) {
        return oldPk[p] != 0 ? oldPk[p] : cardPk[1 - p];
    }

    /// @dev A card dispense of a part; it must fail unless the kiosk's institution holds a live DISPENSE consent.
    function dispense(uint256 idSeed, uint256 kioskSeed, uint256 mode, uint256 partSeed) external {
        Attempt memory a = _attempt(idSeed, kioskSeed, partSeed);
        if (!_live(a.patientId, a.pharmacyInst, Scope.DISPENSE)) a.shouldFail = true;
        mode %= 7;
        if (mode == 3 && a.nonce == 0) return;
        CardSig memory s = _cardSig(a, mode);
        vm.prank(a.kiosk);
        try pharmacy.dispensePrescription(a.id, a.patientId, a.part, a.deadline, a.sealedDispense, s) {
            _dispensed(a.id, a.part, a.pharmacyInst);
            cardParts[a.id] += a.part;
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
            return cardSig(
                cardPk[a.p],
                dispenseHash(a.id, _otherPharmacy(a.pharmacyInst), a.part, contentHash, a.nonce, a.deadline)
            );
        }
        if (mode == 5) {
            return
                cardSig(cardPk[a.p], dispenseHash(a.id, a.pharmacyInst, a.part ^ 1, contentHash, a.nonce, a.deadline));
        }
        return cardSig(_otherCard(a.p), dispenseHash(a.id, a.pharmacyInst, a.part, contentHash, a.nonce, a.deadline));
    }

    /// @dev The pharmacy step as the counter sends it (dispenseWithConsent): the patient chooses the pharmacy's terms
    /// and the card signs them and the part at once. Terms (`termsSeed`): READ|DISPENSE or DISPENSE for a window of
    /// up to 31 days (above 30 must fail), READ alone (no DISPENSE) or WRITE added (above a pharmacy's ceiling), both
    /// of which must fail. Signature (`mode`): as `dispense`'s modes, the last step replayed (2), or the step's own
    /// faults (`_stepSig`). A hospital's kiosk must fail. A step that goes through stores no consent.
    function dispenseStep(uint256 idSeed, uint256 kioskSeed, uint256 mode, uint256 partSeed, uint256 termsSeed)
        external
    {
        mode %= 16;
        if (mode > 8) mode = 0; // mostly as the counter sends it
        if (mode == 2) return _replayStep();
        Attempt memory a = _attempt(idSeed, kioskSeed, partSeed);
        if (mode == 3 && a.nonce == 0) return;
        if (a.kiosk == dispenseKiosks[2]) a.shouldFail = true;
        ConsentTerms memory t = _stepTerms(a, termsSeed);
        CardSig memory s = _stepSig(a, t, mode);
        vm.prank(a.kiosk);
        try pharmacy.dispenseWithConsent(a.id, a.patientId, a.part, a.deadline, a.sealedDispense, t, s) {
            _dispensed(a.id, a.part, a.pharmacyInst);
            stepParts[a.id] += a.part;
            ++stepDispenses;
            ++nonceUses[a.patientId];
            // The step's consent is not stored: the ledger expects the hub's consent unchanged.
            if (a.shouldFail) ++wrongSuccesses;
            lastStep = StepCall({
                kiosk: a.kiosk,
                id: a.id,
                part: a.part,
                deadline: a.deadline,
                sealedDispense: a.sealedDispense,
                terms: t,
                sig: s
            });
        } catch {}
    }

    /// @dev The terms of a pharmacy step (see `dispenseStep`), signed now in the patient's epoch.
    function _stepTerms(Attempt memory a, uint256 seed) internal view returns (ConsentTerms memory t) {
        uint256 kind = seed % 8; // mostly what the patient would choose
        uint8 scope =
            kind <= 4 ? PHARMACY_ALL : kind == 5 ? Scope.DISPENSE : kind == 6 ? Scope.READ : PHARMACY_ALL | Scope.WRITE;
        uint64 window = uint64(bound(seed >> 8, 1, 31 days));
        if (kind >= 6 || window > 30 days) a.shouldFail = true;
        uint64 signedAt = nextSignedAt(a.patientId, a.pharmacyInst);
        t = termsOf(scope, signedAt + window, hub.epochOf(a.patientId), signedAt);
    }

    /// @dev The card signature of pharmacy step `a` with terms `t`: fresh (mode 0, 1), at the previous nonce (3),
    /// both structs naming the other pharmacy (4), over another part (5), by another card (6), a single-call Dispense
    /// signature without the consent (7), terms widened after the card signed them (8: `t` changes). Every mode but 0
    /// and 1 marks the attempt as one that must fail. (In `g`, the attempt as signed, `p` is the signing card's key.)
    function _stepSig(Attempt memory a, ConsentTerms memory t, uint256 mode) internal view returns (CardSig memory s) {
        // What the card signs: (card, pharmacy, part, nonce), each what the call carries unless the mode changes it.
        Attempt memory g = Attempt({
            id: a.id,
            kiosk: a.kiosk,
            pharmacyInst: a.pharmacyInst,
            patientId: a.patientId,
            p: cardPk[a.p],
            nonce: a.nonce,
            deadline: a.deadline,
            part: a.part,
            sealedDispense: a.sealedDispense,
            shouldFail: mode > 1
        });
        if (mode > 1) a.shouldFail = true;
        if (mode == 3) g.nonce -= 1;
        else if (mode == 4) g.pharmacyInst = _otherPharmacy(g.pharmacyInst);
        else if (mode == 5) g.part ^= 1;
        else if (mode == 6) g.p = _otherCard(a.p);
        bytes32 contentHash = keccak256(g.sealedDispense);
        if (mode == 7) {
            return cardSig(g.p, dispenseHash(g.id, g.pharmacyInst, g.part, contentHash, g.nonce, g.deadline));
        }
        s = cardSig(
            g.p, dispenseWithConsentHash(g.patientId, g.pharmacyInst, t, g.id, g.part, contentHash, g.nonce, g.deadline)
        );
        if (mode == 8) t.validUntil += 1;
    }

    /// @dev The last pharmacy step sent again as it was: its nonce is used (its consent was not stored), so it must
    /// fail.
    function _replayStep() internal {
        StepCall memory c = lastStep;
        if (c.kiosk == address(0)) return;
        bytes32 patientId = _patientOf(c.id);
        vm.prank(c.kiosk);
        try pharmacy.dispenseWithConsent(c.id, patientId, c.part, c.deadline, c.sealedDispense, c.terms, c.sig) {
            ++wrongSuccesses;
        } catch {}
    }

    /// @dev The patient's card revokes a pharmacy's consent, often one a pharmacy step stored: it must go through and
    /// end the pharmacy's access at once (its single-call dispenses must fail until it holds a new consent).
    function revokePharmacy(uint256 patientSeed, uint256 pharmacySeed) external {
        uint256 p = patientSeed % 2;
        _revokeByCard(cardPk[p], patients[p], dispenseKiosks[pharmacySeed % 2], Role.Pharmacy);
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
            s = cardSig(tokenPk, tokenDispenseHash(id, _otherPharmacy(pharmacyInst), contentHash, deadline));
            shouldFail = true;
        } else {
            if (lastTokenId == 0) return;
            id = lastTokenId;
            s = lastTokenSig;
            deadline = lastTokenDeadline;
            shouldFail = true;
        }
        uint256 rest = WHOLE - dispensedParts[id];
        bytes32 patientId = _patientOf(id);
        vm.prank(kiosk);
        try pharmacy.dispenseByToken(id, patientId, deadline, sealedDispense, s) {
            _dispensed(id, rest, pharmacyInst);
            tokenParts[id] += rest;
            ++tokenSuccesses[id];
            ++tokenDispenses;
            if (shouldFail) ++wrongSuccesses;
            lastTokenSig = s;
            lastTokenId = id;
            lastTokenDeadline = deadline;
        } catch {}
    }

    /// @dev The patient of prescription `id` as a kiosk names it (its `PrescriptionIssued` event's): the handler's
    /// patient whose id starts with the prescription's stored 12 bytes (the first one for an id not issued).
    function _patientOf(uint256 id) internal view returns (bytes32) {
        if (id == 0 || id > pharmacy.prescriptionCount()) return patients[0];
        bytes12 prefix = pharmacy.getPrescription(id).patientPrefix;
        return prefix == bytes12(patients[1]) ? patients[1] : patients[0];
    }

    function cancel(uint256 idSeed, uint256 kioskSeed) external {
        uint256 id = bound(idSeed, 1, pharmacy.prescriptionCount() + 1);
        bytes32 patientId = _patientOf(id);
        vm.prank(hospitalKiosks[kioskSeed % 2]);
        try pharmacy.cancelPrescription(id, patientId, bytes32(0)) {
            ++cancelSuccesses[id];
            ++cancels;
        } catch {}
    }

    /// @dev The admin recalls a prescription.
    function recall(uint256 idSeed) external {
        uint256 id = bound(idSeed, 1, pharmacy.prescriptionCount() + 1);
        bytes32 patientId = _patientOf(id);
        vm.prank(hub.admin());
        try pharmacy.cancelPrescription(id, patientId, bytes32(0)) {
            ++cancelSuccesses[id];
            ++cancels;
        } catch {}
    }

    /// @dev The patient's card cancels (mode 0), or a stale (mode 1) or foreign (mode 2) card signature is tried.
    function cancelByPatient(uint256 idSeed, uint256 mode) external {
        uint256 count = pharmacy.prescriptionCount();
        if (count == 0) return;
        uint256 id = bound(idSeed, 1, count);
        uint256 p = _patientOf(id) == patients[0] ? 0 : 1;
        mode %= 3;
        uint64 sAt = mode == 1 ? uint64(block.timestamp - 1 hours - 1) : uint64(block.timestamp);
        uint256 pk = mode == 2 ? _otherCard(p) : cardPk[p];
        CardSig memory s = cancelSig(pk, id, sAt);
        try pharmacy.cancelPrescriptionByPatient(id, patients[p], sAt, s) {
            ++cancelSuccesses[id];
            ++cancels;
            if (mode != 0) ++wrongSuccesses;
        } catch {}
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
            _grantNow(newPk, patientId, hospitalKiosks[0], HOSPITAL_ALL, 365 days);
            _grantNow(newPk, patientId, hospitalKiosks[1], HOSPITAL_ALL, 365 days);
            _grantNow(newPk, patientId, dispenseKiosks[0], PHARMACY_ALL, 30 days);
            _grantNow(newPk, patientId, dispenseKiosks[1], PHARMACY_ALL, 30 days);
        } catch {}
    }

    function warp(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 2 days));
    }

    function selectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](10);
        s[8] = this.dispenseStep.selector;
        s[9] = this.revokePharmacy.selector;
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
