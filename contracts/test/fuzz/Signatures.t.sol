// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {CardSig, Scope} from "../../src/CareTypes.sol";
import {PatientSmartCard} from "../../src/PatientSmartCard.sol";
import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";

/// @dev OpenZeppelin's P256.verify on a raw digest, as the hub uses it.
contract P256Harness {
    function verify(bytes32 h, bytes32 r, bytes32 s, bytes32 qx, bytes32 qy) external view returns (bool) {
        return P256.verify(h, r, s, qx, qy);
    }
}

contract SignatureFuzzTest is Fixture {
    P256Harness internal harness;

    function setUp() public override {
        super.setUp();
        harness = new P256Harness();
    }

    function _key(uint256 seed) internal pure returns (uint256) {
        return bound(seed, 1, P256_N - 1);
    }

    function _flip(bytes32 v, uint256 bit) internal pure returns (bytes32) {
        return bytes32(uint256(v) ^ (uint256(1) << bit));
    }

    /// @dev Registers the card `pk` through the hospital kiosk (the fixture's patient is registered already).
    function _registered(uint256 pk) internal returns (bytes32 patientId) {
        patientId = idOf(pk);
        if (hub.cardKeyOf(patientId) == 0) registerPatient(pk);
    }

    // ---------------------------------------------------------------- raw digests (the primitive)

    function testFuzz_p256_validLowSAccepted(uint256 pkSeed, bytes32 digest) public view {
        CardSig memory s = signDigest(_key(pkSeed), digest);
        assertLe(uint256(s.s), P256_HALF_N, "normalised to low s");
        assertTrue(harness.verify(digest, s.r, s.s, s.qx, s.qy), "valid low-s signature accepted");
    }

    function testFuzz_p256_highSRejected(uint256 pkSeed, bytes32 digest) public view {
        CardSig memory s = toHighS(signDigest(_key(pkSeed), digest));
        assertTrue(uint256(s.s) > P256_HALF_N);
        assertFalse(harness.verify(digest, s.r, s.s, s.qx, s.qy), "high-s signature rejected");
    }

    function testFuzz_p256_anyBitFlipRejected(uint256 pkSeed, bytes32 digest, uint256 bitSeed) public view {
        CardSig memory s = signDigest(_key(pkSeed), digest);
        uint256 field = bound(bitSeed, 0, 5 * 256 - 1);
        uint256 bit = field % 256;
        field /= 256;
        if (field == 0) digest = _flip(digest, bit);
        else if (field == 1) s.r = _flip(s.r, bit);
        else if (field == 2) s.s = _flip(s.s, bit);
        else if (field == 3) s.qx = _flip(s.qx, bit);
        else s.qy = _flip(s.qy, bit);
        assertFalse(harness.verify(digest, s.r, s.s, s.qx, s.qy), "bit flip rejected");
    }

    /// @dev The chain's rules, not a Solidity fallback: P256VERIFY answers at 0x100 for Celo's price (3,450 gas,
    /// RIP-7212 on the OP stack since Fjord). Fails if foundry.toml loses `network = "optimism"` (on plain prague
    /// 0x100 is an empty account and OpenZeppelin's P256 silently falls back to a ~250k-gas Solidity verifier) or
    /// if the tests run under Osaka's 6,900 (the call runs out of gas).
    function test_p256_precompileAtCelosPrice() public view {
        bytes32 digest = keccak256("celo");
        CardSig memory s = signDigest(7, digest);
        bytes memory input = abi.encodePacked(digest, s.r, s.s, s.qx, s.qy);
        (bool ok, bytes memory out) = address(0x100).staticcall{gas: 3_450}(input);
        assertTrue(ok, "P256VERIFY within 3,450 gas");
        assertEq(out.length, 32, "a precompile answered at 0x100");
        assertEq(uint256(bytes32(out)), 1, "valid signature verified");
        (ok,) = address(0x100).staticcall{gas: 3_449}(input);
        assertFalse(ok, "P256VERIFY costs exactly 3,450 gas");
        uint256 before = gasleft();
        assertTrue(harness.verify(digest, s.r, s.s, s.qx, s.qy));
        assertLe(before - gasleft(), 10_000, "OpenZeppelin's P256 uses the precompile, not its fallback");
    }

    // ---------------------------------------------------------------- through the hub (EIP-712 digests)

    function testFuzz_hub_validLowSAccepted(uint256 pkSeed, bytes32 structHash) public {
        uint256 pk = _key(pkSeed);
        bytes32 patientId = _registered(pk);
        assertEq(hub.cardKeyOf(patientId), patientId);
        CardSig memory s = cardSig(pk, structHash);
        hub.verifyCardSignature(patientId, structHash, s);
    }

    function testFuzz_hub_highSRejected(uint256 pkSeed, bytes32 structHash) public {
        uint256 pk = _key(pkSeed);
        bytes32 patientId = _registered(pk);
        CardSig memory s = toHighS(cardSig(pk, structHash));
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidCardSignature.selector));
        hub.verifyCardSignature(patientId, structHash, s);
    }

    function testFuzz_hub_anyBitFlipRejected(uint256 pkSeed, bytes32 structHash, uint256 bitSeed) public {
        uint256 pk = _key(pkSeed);
        bytes32 patientId = _registered(pk);
        CardSig memory s = cardSig(pk, structHash);
        uint256 field = bound(bitSeed, 0, 5 * 256 - 1);
        uint256 bit = field % 256;
        field /= 256;
        if (field == 0) structHash = _flip(structHash, bit);
        else if (field == 1) s.r = _flip(s.r, bit);
        else if (field == 2) s.s = _flip(s.s, bit);
        else if (field == 3) s.qx = _flip(s.qx, bit);
        else s.qy = _flip(s.qy, bit);
        if (field >= 3) {
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.CardKeyMismatch.selector, patientId));
        } else {
            vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidCardSignature.selector));
        }
        hub.verifyCardSignature(patientId, structHash, s);
    }

    function testFuzz_hub_registerAnyKey(uint256 pkSeed) public {
        uint256 pk = _key(pkSeed);
        vm.assume(pk != PATIENT_PK);
        (bytes32 x, bytes32 y) = cardKey(pk);
        bytes32 patientId = registerPatient(pk);
        assertEq(patientId, keccak256(abi.encode(x, y)));
        assertEq(hub.cardKeyOf(patientId), patientId);
    }

    function testFuzz_hub_consentSignatureBindsTerms(
        uint8 scope,
        uint64 validUntil,
        uint64 signedAt,
        uint8 tamper
    ) public {
        scope = uint8(bound(scope, 1, HOSPITAL_ALL));
        signedAt = uint64(bound(signedAt, block.timestamp - 1 hours + 1, block.timestamp + 5 minutes - 1));
        uint256 earliest = block.timestamp + 1 > signedAt + 2 ? block.timestamp + 1 : signedAt + 2;
        validUntil = uint64(bound(validUntil, earliest, signedAt + 365 days - 1));
        CardSig memory s = consentSig(PATIENT_PK, pid, hospital2, scope, validUntil, 1, signedAt);
        uint8 which = tamper % 3;
        uint8 scope2 = which == 0 ? (scope % HOSPITAL_ALL) + 1 : scope;
        uint64 until2 = which == 1 ? validUntil + 1 : validUntil;
        uint64 at2 = which == 2 ? signedAt + 1 : signedAt;
        vm.prank(hospital2Kiosk);
        vm.expectRevert(abi.encodeWithSelector(PatientSmartCard.InvalidCardSignature.selector));
        hub.grantConsent(pid, scope2, until2, 1, at2, s);
        vm.prank(hospital2Kiosk);
        hub.grantConsent(pid, scope, validUntil, 1, signedAt, s);
        (uint64 until,,, uint8 granted) = hub.consentOf(pid, hospital2);
        assertEq(until, validUntil);
        assertEq(granted, scope);
    }
}
