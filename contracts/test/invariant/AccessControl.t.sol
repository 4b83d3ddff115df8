// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {InvariantTargets} from "../utils/Invariant.sol";
import {Role, Scope} from "../../src/CareTypes.sol";
import {HospitalRecord} from "../../src/HospitalRecord.sol";
import {PharmacyAccess} from "../../src/PharmacyAccess.sol";
import {InsuranceProvider} from "../../src/InsuranceProvider.sol";
import {AccessHandler} from "./handlers/AccessHandler.sol";

/// @notice No state changes without the right role: unregistered callers hitting every mutating function (the
/// desks' step functions and the hub's step hooks included, and the hooks also hit by the kiosks themselves) leave
/// the hub, the modules and the token exactly as they were.
contract AccessControlInvariantTest is Fixture, InvariantTargets {
    AccessHandler internal handler;
    address[] internal known;
    bytes32 internal snapshot;
    address internal offeredKiosk = makeAddr("offeredKiosk");

    function setUp() public override {
        super.setUp();
        // Something for every function to aim at: three records, a prescription without and one with a token, a
        // submitted, an approved and a claim waiting for a second insurer kiosk.
        grant(PATIENT_PK, pid, pharmacyKiosk, Scope.READ | Scope.DISPENSE, 0);
        // A pending governance call and an open kiosk offer, for the strangers to try to execute, cancel or accept.
        vm.prank(admin);
        hub.schedule(address(hub), abi.encodeCall(hub.setInstitutionActive, (hospital2, false)));
        vm.prank(hospital2);
        hub.addKiosk(offeredKiosk);
        enroll(pid, insurerKiosk, 8000, 1000e18);
        addRecord(pid, hospitalKiosk, env(0x01));
        addRecord(pid, hospitalKiosk, env(0x02));
        addRecord(pid, hospitalKiosk, env(0x03));
        issue(pid, hospitalKiosk, 0);
        // A prescription with a token whose key the strangers hold (only their kiosk is missing).
        issueWithToken(pid, hospitalKiosk, TOKEN_PK);
        vm.prank(hospitalKiosk);
        insurance.submitClaim(pid, 0, 10e18, env(0xc1));
        vm.prank(hospitalKiosk);
        insurance.submitClaim(pid, 1, 10e18, env(0xc2));
        vm.prank(hospitalKiosk);
        insurance.submitClaim(pid, 2, 10e18, env(0xc3));
        vm.prank(insurerKiosk);
        insurance.approveClaim(2, claimPatient(2), bytes32(0), 8e18, responseEnv());
        // Four eyes: claim 3 waits for a second insurer kiosk.
        vm.prank(insurer);
        insurance.setApprovalThreshold(5e18);
        vm.prank(insurerKiosk);
        insurance.approveClaim(3, claimPatient(3), bytes32(0), 8e18, responseEnv());

        known = [
            admin,
            hospital,
            hospitalKiosk,
            hospital2,
            hospital2Kiosk,
            pharmacyOrg,
            pharmacyKiosk,
            pharmacyOrg2,
            pharmacy2Kiosk,
            insurer,
            insurerKiosk,
            insurer2,
            insurer2Kiosk,
            funder,
            stranger,
            address(hub),
            address(records),
            address(pharmacy),
            address(insurance),
            address(token),
            address(this)
        ];
        handler = new AccessHandler(hub, records, pharmacy, insurance, token, pid, PATIENT_PK, known);
        targetContract(address(handler));
        targetSelector(address(handler), handler.selectors());
        snapshot = stateHash();
    }

    // ---------------------------------------------------------------- state hashes

    function stateHash() public view returns (bytes32) {
        return keccak256(
            abi.encode(
                _hubHash(), _governanceHash(), _institutionsHash(), _consentsHash(), _modulesHash(), _moneyHash()
            )
        );
    }

    function _governanceHash() internal view returns (bytes32) {
        bytes32 pending =
            keccak256(abi.encode(address(hub), abi.encodeCall(hub.setInstitutionActive, (hospital2, false))));
        return keccak256(
            abi.encode(
                hub.guardian(),
                hub.governanceDelay(),
                hub.etaOf(pending),
                hub.kioskOffer(offeredKiosk),
                hub.epochOf(pid),
                hub.institutionAddress(1),
                hub.institutionAddress(7)
            )
        );
    }

    function _hubHash() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                hub.admin(),
                hub.pendingAdmin(),
                hub.hospitalRecord(),
                hub.pharmacyAccess(),
                hub.insuranceProvider(),
                hub.institutionCount(),
                hub.cardKeyOf(pid),
                hub.nonces(pid),
                hub.domainSeparator(),
                hub.cardLost(pid),
                hub.patientOfRecovery(recoveryHashOf(pid)),
                hub.keyBundleOf(pid)
            )
        );
    }

    function _institutionsHash() internal view returns (bytes32 h) {
        for (uint256 i; i < known.length; ++i) {
            (Role role, bool active, uint32 id) = hub.institutions(known[i]);
            h = keccak256(abi.encode(h, known[i], role, active, id, hub.kioskInstitution(known[i])));
        }
    }

    function _consentsHash() internal view returns (bytes32 h) {
        for (uint256 i; i < known.length; ++i) {
            (uint64 until, uint64 signedAt, uint64 epoch, uint8 scope) = hub.consentOf(pid, known[i]);
            h = keccak256(abi.encode(h, until, signedAt, epoch, scope));
        }
    }

    function _modulesHash() internal view returns (bytes32) {
        (HospitalRecord.Record[] memory page, uint256 total) = records.getMedicalRecords(pid, 0, 100);
        PharmacyAccess.Prescription memory p = pharmacy.getPrescription(1);
        PharmacyAccess.Prescription memory p2 = pharmacy.getPrescription(2);
        (InsuranceProvider.Coverage memory cov, uint256 remaining) = insurance.coverageOf(pid);
        return keccak256(
            abi.encode(
                keccak256(abi.encode(page, total, records.headOf(pid))),
                pharmacy.prescriptionCount(),
                keccak256(abi.encode(p, p2)),
                insurance.claimCount(),
                keccak256(abi.encode(insurance.getClaim(1), insurance.getClaim(2), insurance.getClaim(3))),
                _fourEyesHash(),
                keccak256(abi.encode(cov, remaining)),
                insurance.claimOfRecord(pid, 0),
                insurance.claimOfRecord(pid, 1)
            )
        );
    }

    function _fourEyesHash() internal view returns (bytes32) {
        (address kiosk, uint96 amount, bytes32 contentHash) = insurance.proposalOf(3);
        return keccak256(
            abi.encode(
                kiosk,
                amount,
                contentHash,
                insurance.approvalThresholdOf(insurer),
                insurance.approvalThresholdOf(insurer2)
            )
        );
    }

    function _moneyHash() internal view returns (bytes32 h) {
        h = keccak256(
            abi.encode(
                token.totalSupply(),
                insurance.escrowOf(insurer),
                insurance.escrowOf(insurer2),
                insurance.reservedOf(insurer),
                insurance.reservedOf(insurer2),
                token.balanceOf(address(insurance))
            )
        );
        for (uint256 i; i < known.length; ++i) {
            h = keccak256(abi.encode(h, token.balanceOf(known[i])));
        }
    }

    // ---------------------------------------------------------------- invariants

    function invariant_unregisteredCallersChangeNothing() public view {
        assertEq(handler.successes(), 0, "a call from an unregistered address succeeded");
        assertEq(handler.hookSuccesses(), 0, "a step hook of the hub answered another caller than its module");
        assertEq(stateHash(), snapshot, "state changed");
    }

    function invariant_nothingRegisteredForStrangers() public view {
        address[] memory addrs = handler.touchedAddrs();
        for (uint256 i; i < addrs.length; ++i) {
            (Role role,,) = hub.institutions(addrs[i]);
            assertTrue(role == Role.None, "a stranger became an institution");
            assertEq(hub.kioskInstitution(addrs[i]), address(0), "a stranger became a kiosk");
            assertEq(token.balanceOf(addrs[i]), 0, "a stranger received tokens");
            assertEq(insurance.escrowOf(addrs[i]), 0, "escrow for a stranger");
        }
        bytes32[] memory ids = handler.touchedIds();
        for (uint256 i; i < ids.length; ++i) {
            assertEq(hub.cardKeyOf(ids[i]), bytes32(0), "a patient was registered");
            assertEq(hub.nonces(ids[i]), 0, "a nonce was used");
            assertEq(records.recordCount(ids[i]), 0, "a record was added");
            (InsuranceProvider.Coverage memory cov,) = insurance.coverageOf(ids[i]);
            assertEq(cov.insurer, address(0), "a patient was enrolled");
        }
    }
}
