// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Role, CardSig, Scope, IPatientSmartCard} from "./CareTypes.sol";

/// @title PatientSmartCard
/// @notice The hub of carekiosk: governance, institutions and their kiosk keys, patients identified by the P-256
/// key of their OpenPGP card, and card-signed consent windows. No patient data is stored: a patient is the hash
/// of a public key.
/// @dev Card signatures are EIP-712 over this contract's domain (name "carekiosk", version "1"), so every signature
/// is bound to the chain and to this deployment; nonces make each one single-use.
contract PatientSmartCard is EIP712, IPatientSmartCard {
    /// @notice Default consent window for hospitals (Germany's ePA: 90 days).
    uint64 public constant HOSPITAL_WINDOW = 90 days;
    /// @notice Default consent window for pharmacies (Germany's ePA: 3 days).
    uint64 public constant PHARMACY_WINDOW = 3 days;
    /// @notice Default consent window for insurers.
    uint64 public constant INSURER_WINDOW = 90 days;
    /// @notice Longest window a card may grant in one signature.
    uint64 public constant MAX_WINDOW = 730 days;

    bytes32 public constant REGISTER_TYPEHASH =
        keccak256("RegisterPatient(bytes32 patientId,address hospital,uint256 deadline)");
    bytes32 public constant CONSENT_TYPEHASH =
        keccak256("Consent(bytes32 patientId,address institution,uint8 scope,uint64 validUntil,uint64 nonce)");
    bytes32 public constant REVOKE_TYPEHASH =
        keccak256("RevokeConsent(bytes32 patientId,address institution,uint64 nonce)");
    bytes32 public constant REPLACE_TYPEHASH = keccak256(
        "ReplaceCard(bytes32 patientId,bytes32 newCardKeyHash,address hospital,uint256 nonce,uint256 deadline)"
    );

    struct Institution {
        Role role;
        bool active;
        uint32 id;
    }

    struct Consent {
        uint64 validUntil;
        uint64 nonce;
        uint8 scope;
    }

    /// @notice The governance admin: registers institutions, wires the modules.
    address public admin;
    /// @notice Number of institutions registered so far (ids start at 1). Packed with `admin`: registration reads
    /// both.
    uint32 public institutionCount;
    /// @notice The admin-elect, who must accept.
    address public pendingAdmin;
    /// @notice The modules allowed to register institutions of their role and use card nonces.
    address public hospitalRecord;
    address public pharmacyAccess;
    address public insuranceProvider;

    /// @inheritdoc IPatientSmartCard
    mapping(address institution => Institution) public institutions;
    /// @notice The institution a kiosk signer belongs to (zero: not a kiosk).
    mapping(address kiosk => address) public kioskInstitution;
    /// @notice Hash of the current card key of a patient (zero: unknown patient).
    mapping(bytes32 patientId => bytes32) public cardKeyOf;
    /// @notice Next nonce of a patient's card for registration-independent signatures.
    mapping(bytes32 patientId => uint256) public nonces;
    /// @notice The patient a replacement card key was issued to (original keys are their patient's id). A key,
    /// once a patient's card, never becomes another patient's, even after it was itself replaced.
    mapping(bytes32 cardKeyHash => bytes32 patientId) public replacementOwner;
    mapping(bytes32 patientId => mapping(address institution => Consent)) internal _consents;

    event AdminTransferStarted(address indexed current, address indexed pending);
    event AdminTransferred(address indexed previous, address indexed current);
    event ModulesWired(address hospitalRecord, address pharmacyAccess, address insuranceProvider);
    event InstitutionRegistered(address indexed institution, Role role, uint32 id);
    event InstitutionActiveSet(address indexed institution, bool active);
    event KioskAdded(address indexed institution, address indexed kiosk);
    event KioskRemoved(address indexed institution, address indexed kiosk);
    event PatientRegistered(bytes32 indexed patientId, address indexed hospital);
    event CardReplaced(bytes32 indexed patientId, bytes32 oldCardKeyHash, bytes32 newCardKeyHash, address indexed hospital);
    event ConsentGranted(bytes32 indexed patientId, address indexed institution, uint8 scope, uint64 validUntil);
    event ConsentRevoked(bytes32 indexed patientId, address indexed institution);

    error NotAdmin(address caller);
    error NotPendingAdmin(address caller);
    error ZeroAddress();
    error AlreadyWired();
    error NotModule(address caller);
    error AlreadyRegistered(address institution);
    error UnknownInstitution(address institution);
    error InvalidRole(Role role);
    error NotAKiosk(address caller);
    error KioskTaken(address kiosk, address institution);
    error NotKioskOwner(address caller, address kiosk);
    error InstitutionInactive(address institution);
    error WrongRole(address institution, Role expected, Role actual);
    error UnknownPatient(bytes32 patientId);
    error PatientExists(bytes32 patientId);
    error CardKeyMismatch(bytes32 patientId);
    error InvalidCardSignature();
    error SignatureExpired(uint256 deadline);
    error StaleNonce(uint64 nonce, uint64 current);
    error InvalidWindow(uint64 validUntil);
    error InvalidScope(uint8 scope);
    error NoConsent(bytes32 patientId, address institution);
    error ScopeNotGranted(bytes32 patientId, address institution, uint8 scope);
    error CardKeyInUse(bytes32 cardKeyHash);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    /// @param admin_ The governance admin.
    constructor(address admin_) EIP712("carekiosk", "1") {
        if (admin_ == address(0)) revert ZeroAddress();
        admin = admin_;
        emit AdminTransferred(address(0), admin_);
    }

    // ---------------------------------------------------------------- governance

    /// @notice Starts handing governance to `next`, who must call `acceptAdmin`.
    function transferAdmin(address next) external onlyAdmin {
        pendingAdmin = next;
        emit AdminTransferStarted(admin, next);
    }

    /// @notice Completes an admin transfer.
    function acceptAdmin() external {
        if (msg.sender != pendingAdmin) revert NotPendingAdmin(msg.sender);
        emit AdminTransferred(admin, msg.sender);
        admin = msg.sender;
        pendingAdmin = address(0);
    }

    /// @notice Sets the three module contracts, once.
    function wire(address hospitalRecord_, address pharmacyAccess_, address insuranceProvider_) external onlyAdmin {
        if (hospitalRecord != address(0)) revert AlreadyWired();
        if (hospitalRecord_ == address(0) || pharmacyAccess_ == address(0) || insuranceProvider_ == address(0)) {
            revert ZeroAddress();
        }
        hospitalRecord = hospitalRecord_;
        pharmacyAccess = pharmacyAccess_;
        insuranceProvider = insuranceProvider_;
        emit ModulesWired(hospitalRecord_, pharmacyAccess_, insuranceProvider_);
    }

    /// @inheritdoc IPatientSmartCard
    function registerInstitutionBy(address operator, address institution, Role role) external returns (uint32 id) {
        address module = role == Role.Hospital
            ? hospitalRecord
            : role == Role.Pharmacy ? pharmacyAccess : role == Role.Insurer ? insuranceProvider : address(0);
        if (module == address(0)) revert InvalidRole(role);
        if (msg.sender != module) revert NotModule(msg.sender);
        if (operator != admin) revert NotAdmin(operator);
        if (institution == address(0)) revert ZeroAddress();
        if (institutions[institution].role != Role.None) revert AlreadyRegistered(institution);
        id = ++institutionCount;
        institutions[institution] = Institution({role: role, active: true, id: id});
        emit InstitutionRegistered(institution, role, id);
    }

    /// @notice Suspends or reinstates an institution (all its kiosks with it).
    function setInstitutionActive(address institution, bool active) external onlyAdmin {
        if (institutions[institution].role == Role.None) revert UnknownInstitution(institution);
        institutions[institution].active = active;
        emit InstitutionActiveSet(institution, active);
    }

    // ---------------------------------------------------------------- kiosks

    /// @notice The calling institution adds a kiosk signer address of its own.
    function addKiosk(address kiosk) external {
        Institution memory inst = institutions[msg.sender];
        if (inst.role == Role.None) revert UnknownInstitution(msg.sender);
        if (!inst.active) revert InstitutionInactive(msg.sender);
        if (kiosk == address(0)) revert ZeroAddress();
        address owner = kioskInstitution[kiosk];
        if (owner != address(0)) revert KioskTaken(kiosk, owner);
        kioskInstitution[kiosk] = msg.sender;
        emit KioskAdded(msg.sender, kiosk);
    }

    /// @notice Revokes a kiosk signer: by the institution that owns it, or by the admin (a stolen kiosk).
    function removeKiosk(address kiosk) external {
        address owner = kioskInstitution[kiosk];
        if (owner == address(0)) revert NotAKiosk(kiosk);
        if (msg.sender != owner && msg.sender != admin) revert NotKioskOwner(msg.sender, kiosk);
        delete kioskInstitution[kiosk];
        emit KioskRemoved(owner, kiosk);
    }

    /// @inheritdoc IPatientSmartCard
    function institutionOf(address kiosk, Role role) public view returns (address institution, uint32 id) {
        institution = kioskInstitution[kiosk];
        if (institution == address(0)) revert NotAKiosk(kiosk);
        Institution memory inst = institutions[institution];
        if (!inst.active) revert InstitutionInactive(institution);
        if (inst.role != role) revert WrongRole(institution, role, inst.role);
        id = inst.id;
    }

    // ---------------------------------------------------------------- patients

    /// @notice A hospital kiosk registers the patient whose card holds key (qx, qy); the card signs
    /// RegisterPatient(patientId, hospital, deadline). The patient id is keccak256(qx, qy).
    function registerPatient(uint256 deadline, CardSig calldata sig) external returns (bytes32 patientId) {
        (address hospital,) = institutionOf(msg.sender, Role.Hospital);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        patientId = keccak256(abi.encode(sig.qx, sig.qy));
        if (cardKeyOf[patientId] != 0) revert PatientExists(patientId);
        if (replacementOwner[patientId] != 0) revert CardKeyInUse(patientId);
        _verify(keccak256(abi.encode(REGISTER_TYPEHASH, patientId, hospital, deadline)), sig);
        cardKeyOf[patientId] = patientId;
        emit PatientRegistered(patientId, hospital);
    }

    /// @notice Replaces a lost or broken card. A hospital kiosk holding the patient's consent submits the new
    /// card's signature over ReplaceCard(patientId, newCardKeyHash, hospital, nonce, deadline); the old card's
    /// outstanding signatures die with the nonce. Consents and records stay with the patient.
    function replaceCard(bytes32 patientId, uint256 deadline, CardSig calldata newCard) external {
        (address hospital,) = authorize(msg.sender, patientId, Role.Hospital, Scope.WRITE);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        bytes32 newHash = keccak256(abi.encode(newCard.qx, newCard.qy));
        if (cardKeyOf[newHash] != 0 || replacementOwner[newHash] != 0) revert CardKeyInUse(newHash);
        uint256 nonce = nonces[patientId]++;
        bytes32 structHash = keccak256(abi.encode(REPLACE_TYPEHASH, patientId, newHash, hospital, nonce, deadline));
        if (!P256.verify(_hashTypedDataV4(structHash), newCard.r, newCard.s, newCard.qx, newCard.qy)) {
            revert InvalidCardSignature();
        }
        bytes32 old = cardKeyOf[patientId];
        cardKeyOf[patientId] = newHash;
        replacementOwner[newHash] = patientId;
        emit CardReplaced(patientId, old, newHash, hospital);
    }

    /// @notice The patient whose current card has key hash `cardKeyHash` (zero: none, or a retired card).
    function patientOfCard(bytes32 cardKeyHash) external view returns (bytes32) {
        bytes32 owner = replacementOwner[cardKeyHash];
        bytes32 pid = owner != 0 ? owner : cardKeyHash;
        return cardKeyOf[pid] == cardKeyHash ? pid : bytes32(0);
    }

    /// @notice The paper's getPatientInfo: whether a patient is registered, their current card key hash and nonce.
    function getPatientInfo(bytes32 patientId)
        external
        view
        returns (bool registered, bytes32 cardKeyHash, uint256 nonce)
    {
        cardKeyHash = cardKeyOf[patientId];
        registered = cardKeyHash != 0;
        nonce = nonces[patientId];
    }

    // ---------------------------------------------------------------- consent

    /// @notice A kiosk submits its institution's consent, signed by the patient's card over
    /// Consent(patientId, institution, scope, validUntil, nonce). validUntil 0 asks for the role's default window.
    /// The nonce must exceed the last one used for this patient and institution.
    function grantConsent(bytes32 patientId, uint8 scope, uint64 validUntil, uint64 nonce, CardSig calldata sig)
        external
        returns (uint64 until)
    {
        address institution = kioskInstitution[msg.sender];
        if (institution == address(0)) revert NotAKiosk(msg.sender);
        Institution memory inst = institutions[institution];
        if (!inst.active) revert InstitutionInactive(institution);
        if (scope == 0 || scope > Scope.ALL) revert InvalidScope(scope);
        Consent memory c = _consents[patientId][institution];
        if (nonce <= c.nonce) revert StaleNonce(nonce, c.nonce);
        if (validUntil == 0) {
            until = uint64(block.timestamp)
                + (inst.role == Role.Hospital ? HOSPITAL_WINDOW : inst.role == Role.Pharmacy ? PHARMACY_WINDOW : INSURER_WINDOW);
        } else {
            if (validUntil <= block.timestamp || validUntil > block.timestamp + MAX_WINDOW) {
                revert InvalidWindow(validUntil);
            }
            until = validUntil;
        }
        _verifyPatient(
            patientId, keccak256(abi.encode(CONSENT_TYPEHASH, patientId, institution, scope, validUntil, nonce)), sig
        );
        _consents[patientId][institution] = Consent({validUntil: until, nonce: nonce, scope: scope});
        emit ConsentGranted(patientId, institution, scope, until);
    }

    /// @notice Anyone may submit a card-signed RevokeConsent(patientId, institution, nonce); access ends at once.
    function revokeConsent(bytes32 patientId, address institution, uint64 nonce, CardSig calldata sig) external {
        Consent memory c = _consents[patientId][institution];
        if (nonce <= c.nonce) revert StaleNonce(nonce, c.nonce);
        _verifyPatient(patientId, keccak256(abi.encode(REVOKE_TYPEHASH, patientId, institution, nonce)), sig);
        _consents[patientId][institution] = Consent({validUntil: 0, nonce: nonce, scope: 0});
        emit ConsentRevoked(patientId, institution);
    }

    /// @notice The consent `institution` holds for a patient (validUntil 0: none or revoked).
    function consentOf(bytes32 patientId, address institution)
        external
        view
        returns (uint64 validUntil, uint64 nonce, uint8 scope)
    {
        Consent memory c = _consents[patientId][institution];
        return (c.validUntil, c.nonce, c.scope);
    }

    /// @inheritdoc IPatientSmartCard
    function authorize(address kiosk, bytes32 patientId, Role role, uint8 scope)
        public
        view
        returns (address institution, uint32 id)
    {
        (institution, id) = institutionOf(kiosk, role);
        Consent memory c = _consents[patientId][institution];
        if (c.validUntil < block.timestamp) revert NoConsent(patientId, institution);
        if (c.scope & scope != scope) revert ScopeNotGranted(patientId, institution, scope);
    }

    // ---------------------------------------------------------------- card signatures

    /// @inheritdoc IPatientSmartCard
    function verifyCardSignature(bytes32 patientId, bytes32 structHash, CardSig calldata sig) external view {
        _verifyPatient(patientId, structHash, sig);
    }

    /// @inheritdoc IPatientSmartCard
    function useNonce(bytes32 patientId) external returns (uint256) {
        if (msg.sender != pharmacyAccess && msg.sender != hospitalRecord && msg.sender != insuranceProvider) {
            revert NotModule(msg.sender);
        }
        return nonces[patientId]++;
    }

    /// @notice The EIP-712 domain separator card signatures are made under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _verifyPatient(bytes32 patientId, bytes32 structHash, CardSig calldata sig) internal view {
        bytes32 keyHash = cardKeyOf[patientId];
        if (keyHash == 0) revert UnknownPatient(patientId);
        if (keccak256(abi.encode(sig.qx, sig.qy)) != keyHash) revert CardKeyMismatch(patientId);
        _verify(structHash, sig);
    }

    function _verify(bytes32 structHash, CardSig calldata sig) internal view {
        if (!P256.verify(_hashTypedDataV4(structHash), sig.r, sig.s, sig.qx, sig.qy)) revert InvalidCardSignature();
    }
}
