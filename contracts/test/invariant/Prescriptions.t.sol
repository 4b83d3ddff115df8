// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {InvariantTargets} from "../utils/Invariant.sol";
import {PharmacyAccess} from "../../src/PharmacyAccess.sol";
import {PrescriptionHandler} from "./handlers/PrescriptionHandler.sol";

/// @notice A prescription is completed at most once, never dispensed beyond its whole (the parts add up, whether
/// dispensed by single calls, the pharmacy step or a token), a token is redeemed at most once, and the stored status
/// agrees with what happened to it; the hub holds exactly the consents the cards signed, and the card can revoke any.
contract PrescriptionInvariantTest is Fixture, InvariantTargets {
    PrescriptionHandler internal handler;
    bytes32 internal other;

    function setUp() public override {
        super.setUp();
        other = registerPatient(OTHER_PK);
        grant(PATIENT_PK, pid, hospital2Kiosk, HOSPITAL_ALL, uint64(block.timestamp + 365 days));
        grant(OTHER_PK, other, hospitalKiosk, HOSPITAL_ALL, uint64(block.timestamp + 365 days));
        grant(OTHER_PK, other, hospital2Kiosk, HOSPITAL_ALL, uint64(block.timestamp + 365 days));
        // Long enough for 32 steps of at most 2 days.
        grant(PATIENT_PK, pid, hospitalKiosk, HOSPITAL_ALL, uint64(block.timestamp + 365 days));
        grant(PATIENT_PK, pid, pharmacyKiosk, PHARMACY_ALL, uint64(block.timestamp + 30 days));
        grant(PATIENT_PK, pid, pharmacy2Kiosk, PHARMACY_ALL, uint64(block.timestamp + 30 days));
        grant(OTHER_PK, other, pharmacyKiosk, PHARMACY_ALL, uint64(block.timestamp + 30 days));
        grant(OTHER_PK, other, pharmacy2Kiosk, PHARMACY_ALL, uint64(block.timestamp + 30 days));

        handler = new PrescriptionHandler(
            hub,
            pharmacy,
            [hospital, hospital2],
            [hospitalKiosk, hospital2Kiosk],
            [pharmacyOrg, pharmacyOrg2],
            [pharmacyKiosk, pharmacy2Kiosk, hospitalKiosk],
            [PATIENT_PK, OTHER_PK]
        );
        targetContract(address(handler));
        targetSelector(address(handler), handler.selectors());
    }

    function invariant_dispensedAtMostOnce_statusConsistent() public view {
        uint256 count = pharmacy.prescriptionCount();
        uint256 completed;
        uint256 cancelled;
        for (uint256 id = 1; id <= count; ++id) {
            uint256 d = handler.dispenseSuccesses(id);
            uint256 done = handler.completions(id);
            uint256 c = handler.cancelSuccesses(id);
            uint256 parts = handler.dispensedParts(id);
            assertLe(done, 1, "completed more than once");
            assertLe(c, 1, "cancelled more than once");
            assertLe(done + c, 1, "both completed and cancelled");
            assertLe(handler.tokenSuccesses(id), 1, "a token redeemed twice");
            if (handler.tokenPkOf(id) == 0) assertEq(handler.tokenSuccesses(id), 0, "a token without a token key");
            PharmacyAccess.Prescription memory p = pharmacy.getPrescription(id);
            assertEq(p.dispensedBps, parts, "dispensed parts == the sum of the successful parts");
            assertLe(p.dispensedBps, WHOLE, "never more than the whole");
            if (p.status == PharmacyAccess.Status.Completed) {
                assertEq(done, 1, "completed without the last part");
                assertEq(p.dispensedBps, WHOLE, "completed below the whole");
                ++completed;
            } else if (p.status == PharmacyAccess.Status.Cancelled) {
                assertEq(c, 1, "cancelled without a cancel");
                assertLe(p.dispensedBps, WHOLE - 1, "cancelled after the whole was dispensed");
                ++cancelled;
            } else if (p.status == PharmacyAccess.Status.Partial) {
                assertEq(c + done, 0, "partial after a cancel or completion");
                assertTrue(p.dispensedBps > 0 && p.dispensedBps < WHOLE, "partial between 0 and the whole");
            } else {
                assertTrue(p.status == PharmacyAccess.Status.Ready, "status");
                assertEq(d + c, 0, "ready after a dispense or cancel");
                assertEq(p.dispensedBps, 0);
            }
            if (d == 0) assertEq(p.dispensedBps, 0, "parts without a dispense");
        }
        assertEq(completed, handler.completed(), "completed == dispenses that completed");
        assertEq(cancelled, handler.cancels(), "cancelled == successful cancels");
        // Nothing beyond the last id exists.
        assertEq(handler.dispenseSuccesses(count + 1), 0);
    }

    function invariant_noBadSignatureDispenses() public view {
        assertEq(handler.wrongSuccesses(), 0, "a replayed / stale / misdirected / foreign signature dispensed");
    }

    function invariant_eachDispenseUsesOneCardNonce() public view {
        assertEq(hub.nonces(pid), handler.nonceUses(pid), "patient nonce");
        assertEq(hub.nonces(other), handler.nonceUses(other), "other patient nonce");
    }

    /// @dev A part dispensed through the pharmacy step (dispenseWithConsent) counts against the same whole as the
    /// single calls: the prescription's dispensed parts are exactly the card's, the steps' and the token's together
    /// (which pharmacy dispensed is each dispense's event).
    function invariant_stepDispensesCountAgainstTheSameWhole() public view {
        uint256 count = pharmacy.prescriptionCount();
        for (uint256 id = 1; id <= count; ++id) {
            PharmacyAccess.Prescription memory p = pharmacy.getPrescription(id);
            assertEq(
                p.dispensedBps,
                handler.cardParts(id) + handler.stepParts(id) + handler.tokenParts(id),
                "dispensed parts == the single calls' + the steps' + the token's"
            );
        }
    }

    /// @dev The hub holds exactly the consents the cards last signed or revoked: a pharmacy step stores the terms the
    /// card signed with the dispense, a refused step stores nothing; and the card revokes any consent, a step's
    /// included, which ends the pharmacy's access at once.
    function invariant_consentsAreWhatTheCardsSigned() public view {
        handler.checkConsents();
        assertEq(handler.revokeFailures(), 0, "the patient's card could not revoke a consent");
        assertEq(handler.accessAfterRevoke(), 0, "a pharmacy kept access after the card revoked its consent");
    }

    function invariant_replacedCardsAreTheCurrentOnes() public view {
        // Every loss report is followed by a replacement: each patient's card is the handler's latest, not lost,
        // and each replacement (and each report) moved the epoch by one.
        for (uint256 i; i < 2; ++i) {
            bytes32 patientId = handler.patients(i);
            assertEq(hub.cardKeyOf(patientId), idOf(handler.cardPk(i)), "current card");
            assertEq(hub.patientOfCard(idOf(handler.cardPk(i))), patientId, "the card finds its patient");
            assertFalse(hub.cardLost(patientId), "card left lost");
            if (handler.oldPk(i) != 0) assertEq(hub.patientOfCard(idOf(handler.oldPk(i))), bytes32(0), "retired");
        }
        assertEq(
            uint256(hub.epochOf(pid)) + hub.epochOf(other),
            2 + handler.replacements() + handler.lossReports(),
            "epochs: one step per replacement and per loss report"
        );
    }
}
