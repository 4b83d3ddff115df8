// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {KioskSigner} from "../../utils/Fixture.sol";
import {CardSig, ConsentTerms, Role} from "../../../src/CareTypes.sol";

/// @notice The consents a handler's patients gave, as the handler saw them given: per (patient, institution) the
/// terms of the last grant a card signed — a plain `grantConsent` or a step function's — or the last revocation.
/// `checkConsents` asserts the hub holds exactly these: a step stores the terms the card signed, a refused step
/// stores nothing, and nothing else moves a consent. `_revokeByCard` has the patient's card revoke a consent (a
/// step's included) and checks that it ends the institution's access at once.
abstract contract ConsentLedger is KioskSigner {
    struct Entry {
        uint64 validUntil;
        uint64 signedAt;
        uint64 epoch;
        uint8 scope;
        bool byStep; // stored by a step function (and not replaced or revoked since)
    }

    mapping(bytes32 patientId => mapping(address institution => Entry)) internal _ledger;
    mapping(bytes32 patientId => mapping(address institution => bool)) internal _tracked;
    bytes32[] internal _trackedPatients;
    address[] internal _trackedInstitutions;

    uint256 public stepConsentsRevoked; // live consents a step stored, revoked by the card
    uint256 public revokeFailures; // the patient's current card could not revoke a consent
    uint256 public accessAfterRevoke; // an institution still authorized right after the card revoked its consent

    /// @dev From now on the consent of (patient, institution) is checked; it starts as the hub holds it.
    function _track(bytes32 patientId, address institution) internal {
        if (_tracked[patientId][institution]) return;
        _tracked[patientId][institution] = true;
        _trackedPatients.push(patientId);
        _trackedInstitutions.push(institution);
        (uint64 until, uint64 signedAt, uint64 epoch, uint8 scope) = hub.consentOf(patientId, institution);
        _ledger[patientId][institution] =
            Entry({validUntil: until, signedAt: signedAt, epoch: epoch, scope: scope, byStep: false});
    }

    /// @dev A grant of `t` to `institution` went through (`byStep`: in a step function).
    function _noteGrant(bytes32 patientId, address institution, ConsentTerms memory t, bool byStep) internal {
        _track(patientId, institution);
        _ledger[patientId][institution] =
            Entry({validUntil: t.validUntil, signedAt: t.signedAt, epoch: t.epoch, scope: t.scope, byStep: byStep});
    }

    /// @dev The card `pk` grants `kiosk`'s institution `scope` for `window` from now, in the patient's epoch (a
    /// desk's plain `grantConsent`).
    function _grantNow(uint256 pk, bytes32 patientId, address kiosk, uint8 scope, uint64 window) internal {
        address institution = hub.kioskInstitution(kiosk);
        uint64 signedAt = nextSignedAt(patientId, institution);
        ConsentTerms memory t = termsOf(scope, signedAt + window, hub.epochOf(patientId), signedAt);
        CardSig memory s = termsSig(pk, patientId, institution, t);
        vm.prank(kiosk);
        hub.grantConsent(patientId, t.scope, t.validUntil, t.epoch, t.signedAt, s);
        _noteGrant(patientId, institution, t, false);
    }

    /// @dev The patient's current card `pk` revokes the consent of `kiosk`'s institution (submitted by the handler:
    /// anyone may submit a revocation). It must go through, and `kiosk` must then be authorized for nothing.
    function _revokeByCard(uint256 pk, bytes32 patientId, address kiosk, Role role) internal {
        address institution = hub.kioskInstitution(kiosk);
        _track(patientId, institution);
        uint64 signedAt = nextSignedAt(patientId, institution);
        CardSig memory s = revokeSig(pk, patientId, institution, signedAt);
        try hub.revokeConsent(patientId, institution, signedAt, s) {
            Entry memory e = _ledger[patientId][institution];
            if (e.byStep && e.validUntil >= block.timestamp) ++stepConsentsRevoked;
            _ledger[patientId][institution] =
                Entry({validUntil: 0, signedAt: signedAt, epoch: e.epoch, scope: 0, byStep: false});
            try hub.authorize(kiosk, patientId, role, 0) {
                ++accessAfterRevoke;
            } catch {}
        } catch {
            ++revokeFailures;
        }
    }

    /// @dev Whether the ledger's consent of (patient, institution) is live now and holds `scope`.
    function _live(bytes32 patientId, address institution, uint8 scope) internal view returns (bool) {
        Entry memory e = _ledger[patientId][institution];
        return e.validUntil >= block.timestamp && e.epoch == hub.epochOf(patientId) && e.scope & scope == scope;
    }

    /// @notice Asserts the hub holds, for every tracked (patient, institution), the ledger's consent; returns how
    /// many pairs it checked.
    function checkConsents() external view returns (uint256 n) {
        n = _trackedPatients.length;
        for (uint256 i; i < n; ++i) {
            bytes32 patientId = _trackedPatients[i];
            address institution = _trackedInstitutions[i];
            Entry memory e = _ledger[patientId][institution];
            (uint64 until, uint64 signedAt, uint64 epoch, uint8 scope) = hub.consentOf(patientId, institution);
            assertEq(until, e.validUntil, "consent window other than the card signed");
            assertEq(signedAt, e.signedAt, "consent signing time other than the card signed");
            assertEq(epoch, e.epoch, "consent epoch other than the card signed");
            assertEq(scope, e.scope, "consent scope other than the card signed");
        }
    }
}
