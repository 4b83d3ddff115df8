// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Role, CardSig, Scope, ConsentTerms, IPatientSmartCard} from "./CareTypes.sol";

/// @title PatientSmartCard
/// @notice The hub of carekiosk: governance (through a delay a guardian can veto), institutions and the kiosk keys
/// that accepted them, patients identified by the P-256 key of their OpenPGP card, and card-signed consent windows.
/// No patient data is stored: a patient is the hash of a public key.
/// @dev Card signatures are EIP-712 over this contract's domain (name "carekiosk", version "2"), so every signature
/// is bound to the chain and to this deployment. Consents are ordered by a signed time (`signedAt`, which must be
/// recent) and a per-patient epoch that only the card (or its replacement) moves; see docs/design-v2.md.
contract PatientSmartCard is EIP712, IPatientSmartCard {
    /// @notice Default consent window for hospitals (Germany's ePA: 90 days); the kiosk preselects it.
    uint64 public constant HOSPITAL_WINDOW = 90 days;
    /// @notice Default consent window for pharmacies (Germany's ePA: 3 days); the kiosk preselects it.
    uint64 public constant PHARMACY_WINDOW = 3 days;
    /// @notice Default consent window for insurers; the kiosk preselects it.
    uint64 public constant INSURER_WINDOW = 90 days;
    /// @notice Longest window one card signature may grant a hospital.
    uint64 public constant MAX_HOSPITAL_WINDOW = 365 days;
    /// @notice Longest window one card signature may grant a pharmacy.
    uint64 public constant MAX_PHARMACY_WINDOW = 30 days;
    /// @notice Longest window one card signature may grant an insurer.
    uint64 public constant MAX_INSURER_WINDOW = 365 days;
    /// @notice How old a card's consent or revocation signature may be when it lands.
    uint64 public constant MAX_SIGNATURE_AGE = 1 hours;
    /// @notice How far ahead of the block time a card's signing time may be.
    uint64 public constant MAX_CLOCK_SKEW = 5 minutes;
    /// @notice The largest key bundle (history key, card grant, recovery shares) a registration or replacement
    /// may carry in its calldata.
    uint256 public constant MAX_KEY_BUNDLE = 8192;
    /// @notice The length of every emergency read's note (`recordEmergencyAccess`): one size for all, so its length
    /// tells nothing.
    uint256 public constant EMERGENCY_NOTE_LENGTH = 128;

    /// @notice The scope each role may hold.
    uint8 public constant HOSPITAL_SCOPES = Scope.READ | Scope.WRITE | Scope.PRESCRIBE;
    uint8 public constant PHARMACY_SCOPES = Scope.READ | Scope.DISPENSE;
    uint8 public constant INSURER_SCOPES = Scope.READ;

    bytes32 public constant REGISTER_TYPEHASH = keccak256(
        "RegisterPatient(bytes32 patientId,address hospital,bytes32 recoveryKeyHash,bytes32 keyBundleHash,uint256 deadline)"
    );
    bytes32 public constant CONSENT_TYPEHASH = keccak256(
        "Consent(bytes32 patientId,address institution,uint8 scope,uint64 validUntil,uint64 epoch,uint64 signedAt)"
    );
    /// @notice The registration step (`HospitalRecord.registerAndConsent`): one card signature over the registration
    /// and the registering hospital's consent (EIP-712 nested structs: referenced types sorted by name).
    bytes32 public constant REGISTER_WITH_CONSENT_TYPEHASH = keccak256(
        "RegisterWithConsent(RegisterPatient registration,Consent consent)Consent(bytes32 patientId,address institution,uint8 scope,uint64 validUntil,uint64 epoch,uint64 signedAt)RegisterPatient(bytes32 patientId,address hospital,bytes32 recoveryKeyHash,bytes32 keyBundleHash,uint256 deadline)"
    );
    /// @notice The pharmacy step (`PharmacyAccess.dispenseWithConsent`): one card signature over the pharmacy's
    /// consent and the dispense.
    bytes32 public constant DISPENSE_WITH_CONSENT_TYPEHASH = keccak256(
        "DispenseWithConsent(Consent consent,Dispense dispense)Consent(bytes32 patientId,address institution,uint8 scope,uint64 validUntil,uint64 epoch,uint64 signedAt)Dispense(uint256 prescriptionId,address pharmacy,uint16 part,bytes32 contentHash,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant REVOKE_TYPEHASH =
        keccak256("RevokeConsent(bytes32 patientId,address institution,uint64 signedAt)");
    bytes32 public constant REVOKE_ALL_TYPEHASH =
        keccak256("RevokeAllConsents(bytes32 patientId,uint64 epoch,uint64 signedAt)");
    bytes32 public constant REPORT_LOST_TYPEHASH =
        keccak256("ReportLost(bytes32 patientId,uint64 epoch,uint64 signedAt)");
    bytes32 public constant REPLACE_TYPEHASH = keccak256(
        "ReplaceCard(bytes32 patientId,bytes32 newCardKeyHash,address hospital,bytes32 newRecoveryKeyHash,bytes32 keyBundleHash,uint64 epoch,uint64 signedAt)"
    );

    struct Institution {
        Role role;
        bool active;
        uint32 id;
    }

    /// @dev One slot: the consent of one institution, the card's signing time of the last grant or revocation, and
    /// the patient's epoch it was granted in.
    struct Consent {
        uint64 validUntil;
        uint64 signedAt;
        uint64 epoch;
        uint8 scope;
    }

    /// @dev epoch zero: unknown patient; it starts at 1. cardKeyHash: the current card's key hash once the card was
    /// replaced; zero while the patient holds the card they registered with, whose key hash is the patient id (a
    /// registration writes no slot for it). nonce is used by the dispense signature only.
    /// lost: the card was reported lost (every signature of it is refused) until a replacement. keyBundlePrefix:
    /// the first 15 bytes of keccak256 of the key bundle (history key, card grant, recovery shares) whose bytes are
    /// in the registration's or replacement's calldata — the card signed the whole hash; the prefix only tells a
    /// kiosk which of the patient's card-signed bundles is current, and shares the epoch's slot. The recovery key
    /// (printed on the issue letter) is kept only as its index, `patientOfRecovery`. A registration writes two
    /// slots: this one and the index.
    struct Patient {
        bytes32 cardKeyHash;
        uint64 epoch;
        uint64 nonce;
        bool lost;
        bytes15 keyBundlePrefix;
    }

    /// @notice The governance admin: schedules and executes governed calls, wires the modules.
    address public admin;
    /// @notice Number of institutions registered so far (ids start at 1).
    uint32 public institutionCount;
    /// @notice The admin-elect, who must accept.
    address public pendingAdmin;
    /// @notice Who may veto (cancel) a scheduled governance call, besides the admin.
    address public guardian;
    /// @notice The modules allowed to register institutions of their role and use card nonces.
    address public hospitalRecord;
    address public pharmacyAccess;
    address public insuranceProvider;
    /// @notice The network's emergency key: a P-256 public key, SEC1 compressed (33 bytes, first byte 0x02 or 0x03;
    /// empty until the admin sets it at deployment). Every hospital kiosk holds its private half, off chain; a
    /// patient's card carries the emergency data set sealed for it, so a hospital reads it without the PIN.
    bytes public emergencyKey;
    /// @notice The first 4 bytes of keccak256(emergencyKey): which key a sealed emergency data set was made for.
    bytes4 public emergencyKeyId;
    /// @notice The least time between scheduling a governance call and executing it.
    uint64 public immutable governanceDelay;

    /// @inheritdoc IPatientSmartCard
    mapping(address institution => Institution) public institutions;
    /// @inheritdoc IPatientSmartCard
    mapping(uint32 id => address) public institutionAddress;
    /// @inheritdoc IPatientSmartCard
    mapping(address kiosk => address) public kioskInstitution;
    /// @notice The institution that offered to enrol a kiosk key, until the key accepts.
    mapping(address kiosk => address institution) public kioskOffer;
    /// @notice The patient a replacement card key was issued to (original keys are their patient's id). A key,
    /// once a patient's card, never becomes another patient's, even after it was itself replaced.
    mapping(bytes32 cardKeyHash => bytes32 patientId) public replacementOwner;
    /// @notice The patient a recovery key (its hash) belongs to: how a reception desk finds the patient from the
    /// issue letter alone, and the only record of the patient's recovery key (a loss report or a replacement
    /// signed by a key checks it here). A recovery key serves one patient; a letter replaced by a new one serves
    /// nobody.
    mapping(bytes32 recoveryKeyHash => bytes32 patientId) public patientOfRecovery;
    mapping(bytes32 patientId => Patient) internal _patients;
    mapping(bytes32 patientId => mapping(address institution => Consent)) internal _consents;
    mapping(bytes32 id => uint256 eta) internal _etas;
    /// @notice Whether an emergency read trace with this tag was recorded (a tag is recorded once).
    mapping(bytes32 tag => bool) public emergencyTagUsed;
    /// @notice Each institution's record-encryption public key (P-256, SEC1 compressed, 33 bytes): what kiosks
    /// seal records, claims and claim responses for. Kiosks read it from here, never from a manifest file.
    mapping(address institution => bytes key) internal _recordKeys;

    event AdminTransferStarted(address indexed current, address indexed pending);
    event AdminTransferred(address indexed previous, address indexed current);
    event GuardianSet(address indexed previous, address indexed current);
    event ModulesWired(address hospitalRecord, address pharmacyAccess, address insuranceProvider);
    event Scheduled(bytes32 indexed id, address target, bytes data, uint256 eta);
    event Executed(bytes32 indexed id);
    event Cancelled(bytes32 indexed id);
    event InstitutionRegistered(address indexed institution, Role role, uint32 id);
    event InstitutionActiveSet(address indexed institution, bool active);
    event KioskOffered(address indexed institution, address indexed kiosk);
    event KioskAdded(address indexed institution, address indexed kiosk);
    event KioskRemoved(address indexed institution, address indexed kiosk);
    event PatientRegistered(bytes32 indexed patientId, address indexed hospital);
    event CardReplaced(bytes32 indexed patientId, bytes32 oldCardKeyHash, bytes32 newCardKeyHash, address indexed hospital);
    event CardReportedLost(bytes32 indexed patientId, uint64 epoch);
    event ConsentGranted(bytes32 indexed patientId, address indexed institution, uint8 scope, uint64 validUntil);
    event ConsentRevoked(bytes32 indexed patientId, address indexed institution);
    event AllConsentsRevoked(bytes32 indexed patientId, uint64 epoch);
    event EmergencyKeySet(bytes4 indexed keyId, bytes key);
    event RecordKeySet(address indexed institution, bytes key);
    event EmergencyAccess(address indexed hospital, bytes32 tag, bytes note);

    error NotAdmin(address caller);
    error NotPendingAdmin(address caller);
    error NotGovernance(address caller);
    error NotGuardian(address caller);
    error InvalidTarget(address target);
    error AlreadyScheduled(bytes32 id);
    error NotScheduled(bytes32 id);
    error NotReady(bytes32 id, uint256 eta);
    error ZeroAddress();
    error AlreadyWired();
    error NotModule(address caller);
    error AlreadyRegistered(address institution);
    error UnknownInstitution(address institution);
    error InvalidRole(Role role);
    error NotAKiosk(address caller);
    error KioskTaken(address kiosk, address institution);
    error NoKioskOffer(address kiosk, address institution);
    error NotKioskOwner(address caller, address kiosk);
    error InstitutionInactive(address institution);
    error WrongRole(address institution, Role expected, Role actual);
    error UnknownPatient(bytes32 patientId);
    error PatientExists(bytes32 patientId);
    error CardKeyMismatch(bytes32 patientId);
    error KeyMismatch(bytes32 keyHash);
    error InvalidCardSignature();
    error SignatureExpired(uint256 deadline);
    error SignatureTooOld(uint64 signedAt);
    error SignatureFromFuture(uint64 signedAt);
    error StaleSignature(uint64 signedAt, uint64 last);
    error WrongEpoch(uint64 given, uint64 current);
    error InvalidWindow(uint64 validUntil);
    error InvalidScope(uint8 scope);
    error NoConsent(bytes32 patientId, address institution);
    error ScopeNotGranted(bytes32 patientId, address institution, uint8 scope);
    error CardKeyInUse(bytes32 cardKeyHash);
    error InvalidRecoveryKey();
    error RecoveryKeyInUse(bytes32 recoveryKeyHash);
    error InvalidKeyBundle(uint256 length);
    error CardAlreadyLost(bytes32 patientId);
    error CardReported(bytes32 patientId);
    error NotRecoveryOrCard(bytes32 patientId);
    error NotRecoveryKey(bytes32 patientId);
    error CardIsRecoveryKey(bytes32 patientId);
    error InvalidEmergencyKey();
    error InvalidRecordKey();
    error InvalidEmergencyNote(uint256 length);
    error InvalidEmergencyTag();
    error EmergencyTagUsed(bytes32 tag);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    /// @dev Governed functions run only inside `execute`, after the delay.
    modifier onlyGovernance() {
        if (msg.sender != address(this)) revert NotGovernance(msg.sender);
        _;
    }

    /// @param admin_ The governance admin.
    /// @param governanceDelay_ Seconds between scheduling and executing a governance call (0 on local chains).
    /// @param guardian_ An address that may only cancel scheduled calls (zero: none).
    constructor(address admin_, uint64 governanceDelay_, address guardian_) EIP712("carekiosk", "2") {
        if (admin_ == address(0)) revert ZeroAddress();
        admin = admin_;
        governanceDelay = governanceDelay_;
        guardian = guardian_;
        emit AdminTransferred(address(0), admin_);
        emit GuardianSet(address(0), guardian_);
    }

    // ---------------------------------------------------------------- governance

    /// @notice The admin schedules `target.call(data)`, executable after `governanceDelay`. `target` is the hub or
    /// one of its modules. Everybody sees the call (event `Scheduled`) for the whole delay; the guardian may veto.
    function schedule(address target, bytes calldata data) external onlyAdmin returns (bytes32 id) {
        if (
            target == address(0)
                || (target != address(this) && target != hospitalRecord && target != pharmacyAccess
                    && target != insuranceProvider)
        ) revert InvalidTarget(target);
        id = keccak256(abi.encode(target, data));
        if (_etas[id] != 0) revert AlreadyScheduled(id);
        uint256 eta = block.timestamp + governanceDelay;
        _etas[id] = eta;
        emit Scheduled(id, target, data, eta);
    }

    /// @notice The admin performs a scheduled call whose delay has passed; a revert of the call is passed on
    /// unchanged (and the call stays scheduled, since the whole transaction reverts).
    function execute(address target, bytes calldata data) external onlyAdmin {
        bytes32 id = keccak256(abi.encode(target, data));
        uint256 eta = _etas[id];
        if (eta == 0) revert NotScheduled(id);
        if (block.timestamp < eta) revert NotReady(id, eta);
        delete _etas[id];
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        emit Executed(id);
    }

    /// @notice The admin or the guardian cancels a scheduled call.
    function cancel(bytes32 id) external {
        if (msg.sender != admin && msg.sender != guardian) revert NotGuardian(msg.sender);
        if (_etas[id] == 0) revert NotScheduled(id);
        delete _etas[id];
        emit Cancelled(id);
    }

    /// @notice When a scheduled call becomes executable (0: not scheduled).
    function etaOf(bytes32 id) external view returns (uint256) {
        return _etas[id];
    }

    /// @notice Starts handing governance to `next`, who must call `acceptAdmin` (governed).
    function transferAdmin(address next) external onlyGovernance {
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

    /// @notice Sets the guardian (governed; zero: none).
    function setGuardian(address next) external onlyGovernance {
        emit GuardianSet(guardian, next);
        guardian = next;
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

    /// @notice Sets the network's emergency key `key` (SEC1 compressed P-256: 33 bytes, first byte 0x02 or 0x03,
    /// else `InvalidEmergencyKey`) and its id, the first 4 bytes of keccak256(key). The first key is set by the
    /// admin directly, at deployment like `wire` (`NotAdmin` for anyone else); once a key is set, a rotation is
    /// governed (`NotGovernance` unless through `schedule`/`execute`), so everybody sees it for the whole delay.
    function setEmergencyKey(bytes calldata key) external {
        if (emergencyKey.length == 0) {
            if (msg.sender != admin && msg.sender != address(this)) revert NotAdmin(msg.sender);
        } else if (msg.sender != address(this)) {
            revert NotGovernance(msg.sender);
        }
        if (key.length != 33 || (key[0] != 0x02 && key[0] != 0x03)) revert InvalidEmergencyKey();
        bytes4 keyId = bytes4(keccak256(key));
        emergencyKey = key;
        emergencyKeyId = keyId;
        emit EmergencyKeySet(keyId, key);
    }

    /// @notice A registered institution publishes (or rotates) its record-encryption public key: a SEC1-compressed
    /// P-256 key, exactly 33 bytes starting 0x02 or 0x03 (`InvalidRecordKey` otherwise). Sent by the institution's
    /// own address (its kiosks cannot: a stolen kiosk key must not redirect what others seal for it); a suspended
    /// institution may still rotate it.
    function setRecordKey(bytes calldata key) external {
        if (institutions[msg.sender].role == Role.None) revert UnknownInstitution(msg.sender);
        if (key.length != 33 || (key[0] != 0x02 && key[0] != 0x03)) revert InvalidRecordKey();
        _recordKeys[msg.sender] = key;
        emit RecordKeySet(msg.sender, key);
    }

    /// @notice The record-encryption public key `institution` published (empty when none).
    function recordKeyOf(address institution) external view returns (bytes memory) {
        return _recordKeys[institution];
    }

    /// @inheritdoc IPatientSmartCard
    function registerInstitutionBy(address operator, address institution, Role role) external returns (uint32 id) {
        address module = role == Role.Hospital
            ? hospitalRecord
            : role == Role.Pharmacy ? pharmacyAccess : role == Role.Insurer ? insuranceProvider : address(0);
        if (module == address(0)) revert InvalidRole(role);
        if (msg.sender != module) revert NotModule(msg.sender);
        if (operator != address(this)) revert NotGovernance(operator);
        if (institution == address(0)) revert ZeroAddress();
        if (institutions[institution].role != Role.None) revert AlreadyRegistered(institution);
        id = ++institutionCount;
        institutions[institution] = Institution({role: role, active: true, id: id});
        institutionAddress[id] = institution;
        emit InstitutionRegistered(institution, role, id);
    }

    /// @notice Suspends or reinstates an institution, all its kiosks with it (governed).
    function setInstitutionActive(address institution, bool active) external onlyGovernance {
        if (institutions[institution].role == Role.None) revert UnknownInstitution(institution);
        institutions[institution].active = active;
        emit InstitutionActiveSet(institution, active);
    }

    // ---------------------------------------------------------------- kiosks

    /// @notice The calling institution offers to enrol a kiosk key; the key becomes its kiosk when it accepts
    /// (`acceptKiosk`). A later offer replaces an earlier one that was not accepted.
    function addKiosk(address kiosk) external {
        Institution memory inst = institutions[msg.sender];
        if (inst.role == Role.None) revert UnknownInstitution(msg.sender);
        if (!inst.active) revert InstitutionInactive(msg.sender);
        if (kiosk == address(0)) revert ZeroAddress();
        address owner = kioskInstitution[kiosk];
        if (owner != address(0)) revert KioskTaken(kiosk, owner);
        kioskOffer[kiosk] = msg.sender;
        emit KioskOffered(msg.sender, kiosk);
    }

    /// @notice The kiosk key accepts the offer of the institution it was set up for.
    function acceptKiosk(address institution) external {
        if (institution == address(0) || kioskOffer[msg.sender] != institution) {
            revert NoKioskOffer(msg.sender, institution);
        }
        if (!institutions[institution].active) revert InstitutionInactive(institution);
        address owner = kioskInstitution[msg.sender];
        if (owner != address(0)) revert KioskTaken(msg.sender, owner);
        delete kioskOffer[msg.sender];
        kioskInstitution[msg.sender] = institution;
        emit KioskAdded(institution, msg.sender);
    }

    /// @notice Revokes a kiosk key at once: by the institution that owns it, or by the admin (a stolen kiosk).
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
    /// RegisterPatient(patientId, hospital, recoveryKeyHash, keyBundleHash, deadline) with
    /// keyBundleHash = keccak256(keyBundle). The patient id is keccak256(qx, qy); the epoch starts at 1. Only the
    /// hashes of the recovery key (printed on the issue letter) and of the key bundle are stored; the bundle's bytes
    /// stay in this transaction's calldata. The recovery key may not be the card's key (`CardIsRecoveryKey`).
    function registerPatient(uint256 deadline, bytes32 recoveryKeyHash, bytes calldata keyBundle, CardSig calldata sig)
        external
        returns (bytes32 patientId)
    {
        (address hospital,) = institutionOf(msg.sender, Role.Hospital);
        bytes32 bundleHash = keccak256(keyBundle);
        patientId = _checkRegistration(deadline, recoveryKeyHash, keyBundle.length, sig);
        _verify(_registerHash(patientId, hospital, recoveryKeyHash, bundleHash, deadline), sig);
        _register(patientId, hospital, recoveryKeyHash, bundleHash);
    }

    /// @inheritdoc IPatientSmartCard
    function registerWithConsentFor(
        address kiosk,
        uint256 deadline,
        bytes32 recoveryKeyHash,
        bytes32 keyBundleHash,
        uint256 keyBundleLength,
        ConsentTerms calldata terms,
        CardSig calldata sig
    ) external returns (bytes32 patientId, uint32 hospitalId) {
        if (msg.sender != hospitalRecord) revert NotModule(msg.sender);
        address hospital;
        (hospital, hospitalId) = institutionOf(kiosk, Role.Hospital);
        patientId = _checkRegistration(deadline, recoveryKeyHash, keyBundleLength, sig);
        // The consent part, at the epoch the patient is about to have (1).
        _checkConsentTerms(hospital, Role.Hospital, patientId, terms, 1);
        _verify(
            keccak256(
                abi.encode(
                    REGISTER_WITH_CONSENT_TYPEHASH,
                    _registerHash(patientId, hospital, recoveryKeyHash, keyBundleHash, deadline),
                    _consentHash(patientId, hospital, terms)
                )
            ),
            sig
        );
        _register(patientId, hospital, recoveryKeyHash, keyBundleHash);
        _storeConsent(patientId, hospital, terms);
    }

    /// @dev registerPatient's checks after the caller's: the deadline, the recovery key hash, the key bundle's length,
    /// a card key that is no patient's and no recovery key, an unused recovery key. Returns the patient id.
    function _checkRegistration(uint256 deadline, bytes32 recoveryKeyHash, uint256 keyBundleLength, CardSig calldata sig)
        internal
        view
        returns (bytes32 patientId)
    {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        if (recoveryKeyHash == 0) revert InvalidRecoveryKey();
        if (keyBundleLength == 0 || keyBundleLength > MAX_KEY_BUNDLE) revert InvalidKeyBundle(keyBundleLength);
        patientId = keccak256(abi.encode(sig.qx, sig.qy));
        if (recoveryKeyHash == patientId) revert CardIsRecoveryKey(patientId);
        if (_patients[patientId].epoch != 0) revert PatientExists(patientId);
        if (replacementOwner[patientId] != 0) revert CardKeyInUse(patientId);
        if (patientOfRecovery[recoveryKeyHash] != 0) revert RecoveryKeyInUse(recoveryKeyHash);
    }

    function _registerHash(
        bytes32 patientId,
        address hospital,
        bytes32 recoveryKeyHash,
        bytes32 keyBundleHash,
        uint256 deadline
    ) internal pure returns (bytes32) {
        return keccak256(abi.encode(REGISTER_TYPEHASH, patientId, hospital, recoveryKeyHash, keyBundleHash, deadline));
    }

    function _register(bytes32 patientId, address hospital, bytes32 recoveryKeyHash, bytes32 keyBundleHash) internal {
        // Two slots: the card key hash stays zero (the patient id is the card's key hash), nonce and lost start
        // at zero beside the epoch and the bundle's hash prefix.
        Patient storage p = _patients[patientId];
        p.epoch = 1;
        p.keyBundlePrefix = bytes15(keyBundleHash);
        patientOfRecovery[recoveryKeyHash] = patientId;
        emit PatientRegistered(patientId, hospital);
    }

    /// @notice Anyone submits a loss report signed by the patient's recovery key (the issue letter) or by the current
    /// card over ReportLost(patientId, epoch, signedAt), `signedAt` fresh. From then on every signature of the card
    /// is refused (`CardReported`) and the epoch moves by one, so every consent of every institution ends. Only a
    /// replacement (`replaceCard`) gives the patient a working card again. `CardReportedLost` carries the new epoch.
    function reportCardLost(bytes32 patientId, uint64 signedAt, CardSig calldata sig) external {
        Patient storage p = _patients[patientId];
        if (p.epoch == 0) revert UnknownPatient(patientId);
        bytes32 cardHash = _cardKey(patientId, p);
        if (p.lost) revert CardAlreadyLost(patientId);
        _checkFresh(signedAt);
        bytes32 signer = keccak256(abi.encode(sig.qx, sig.qy));
        if (signer != cardHash && patientOfRecovery[signer] != patientId) revert NotRecoveryOrCard(patientId);
        uint64 current = p.epoch;
        _verify(keccak256(abi.encode(REPORT_LOST_TYPEHASH, patientId, current, signedAt)), sig);
        uint64 next = current + 1;
        p.lost = true;
        p.epoch = next;
        emit CardReportedLost(patientId, next);
        emit AllConsentsRevoked(patientId, next);
    }

    /// @notice Gives the patient a new card, whether or not the old one was reported lost. A kiosk of an active
    /// hospital submits, without any consent (the old card is gone): the recovery key (the issue letter) and the new
    /// card both sign ReplaceCard(patientId, newCardKeyHash, hospital, newRecoveryKeyHash, keyBundleHash, epoch,
    /// signedAt) with keyBundleHash = keccak256(keyBundle) and newRecoveryKeyHash as passed (zero: keep), `signedAt`
    /// fresh. The new card key must never have been a card key, and may be neither the current recovery key nor the
    /// new one (`CardIsRecoveryKey`). The patient id, records, prescriptions, coverage and claims stay;
    /// the card key, the key bundle (a new history key, every earlier one granted to the new card) and, unless
    /// `newRecoveryKeyHash` is zero, the recovery key are replaced; the epoch moves by one (every consent ends, and
    /// the same signatures can never be used again).
    function replaceCard(
        bytes32 patientId,
        uint64 signedAt,
        bytes32 newRecoveryKeyHash,
        bytes calldata keyBundle,
        CardSig calldata recovery,
        CardSig calldata newCard
    ) external {
        (address hospital,) = institutionOf(msg.sender, Role.Hospital);
        Patient storage p = _patients[patientId];
        if (p.epoch == 0) revert UnknownPatient(patientId);
        _checkFresh(signedAt);
        _checkKeyBundle(keyBundle);
        bytes32 bundleHash = keccak256(keyBundle);
        bytes32 newHash =
            _checkReplacement(patientId, p, hospital, newRecoveryKeyHash, bundleHash, signedAt, recovery, newCard);
        emit CardReplaced(patientId, _cardKey(patientId, p), newHash, hospital);
        p.cardKeyHash = newHash;
        p.lost = false;
        p.keyBundlePrefix = bytes15(bundleHash);
        if (newRecoveryKeyHash != 0) {
            if (patientOfRecovery[newRecoveryKeyHash] != 0) revert RecoveryKeyInUse(newRecoveryKeyHash);
            // The old letter serves nobody any more: its key was `recovery` (checked above).
            delete patientOfRecovery[keccak256(abi.encode(recovery.qx, recovery.qy))];
            patientOfRecovery[newRecoveryKeyHash] = patientId;
        }
        uint64 epoch = p.epoch + 1;
        p.epoch = epoch;
        replacementOwner[newHash] = patientId;
        emit AllConsentsRevoked(patientId, epoch);
    }

    /// @notice Hash of the patient's current card key (zero: unknown patient).
    function cardKeyOf(bytes32 patientId) external view returns (bytes32) {
        return _cardKey(patientId, _patients[patientId]);
    }

    /// @dev The patient's current card key hash (zero: unknown patient): the replacement's, or the patient id.
    function _cardKey(bytes32 patientId, Patient storage p) internal view returns (bytes32) {
        if (p.epoch == 0) return 0;
        bytes32 replaced = p.cardKeyHash;
        return replaced == 0 ? patientId : replaced;
    }

    /// @notice The patient's current card nonce (used by dispense signatures).
    function nonces(bytes32 patientId) external view returns (uint256) {
        return _patients[patientId].nonce;
    }

    /// @inheritdoc IPatientSmartCard
    function epochOf(bytes32 patientId) external view returns (uint64) {
        return _patients[patientId].epoch;
    }

    /// @notice The patient whose current card has key hash `cardKeyHash` (zero: none, a retired card, or a card
    /// reported lost).
    function patientOfCard(bytes32 cardKeyHash) external view returns (bytes32) {
        bytes32 owner = replacementOwner[cardKeyHash];
        bytes32 pid = owner != 0 ? owner : cardKeyHash;
        Patient storage p = _patients[pid];
        return cardKeyHash != 0 && _cardKey(pid, p) == cardKeyHash && !p.lost ? pid : bytes32(0);
    }

    /// @notice The first 15 bytes of keccak256 of the patient's current key bundle, zero-padded (zero: unknown
    /// patient); the bundle's bytes are in the calldata of the registration or the last replacement, whose card
    /// signature covers the whole hash.
    function keyBundleOf(bytes32 patientId) external view returns (bytes32) {
        return bytes32(_patients[patientId].keyBundlePrefix);
    }

    /// @notice Whether the patient's current card was reported lost (and not yet replaced).
    function cardLost(bytes32 patientId) external view returns (bool) {
        return _patients[patientId].lost;
    }

    /// @notice The paper's getPatientInfo: whether a patient is registered, their current card key hash, nonce and
    /// epoch.
    function getPatientInfo(bytes32 patientId)
        external
        view
        returns (bool registered, bytes32 cardKeyHash, uint256 nonce, uint64 epoch)
    {
        Patient storage p = _patients[patientId];
        return (p.epoch != 0, _cardKey(patientId, p), p.nonce, p.epoch);
    }

    // ---------------------------------------------------------------- consent

    /// @notice A kiosk submits its institution's consent, signed by the patient's card over
    /// Consent(patientId, institution, scope, validUntil, epoch, signedAt). The scope must lie within the role's,
    /// the epoch must be the patient's, the signature at most MAX_SIGNATURE_AGE old and later than the last grant
    /// or revocation for this institution, and `signedAt < validUntil <= signedAt + the role's longest window`.
    function grantConsent(
        bytes32 patientId,
        uint8 scope,
        uint64 validUntil,
        uint64 epoch,
        uint64 signedAt,
        CardSig calldata sig
    ) external {
        ConsentTerms memory terms = ConsentTerms({scope: scope, validUntil: validUntil, epoch: epoch, signedAt: signedAt});
        (address institution,) = _checkConsent(msg.sender, Role.None, patientId, terms);
        _verifyPatient(patientId, _consentHash(patientId, institution, terms), sig);
        _storeConsent(patientId, institution, terms);
    }

    /// @inheritdoc IPatientSmartCard
    function checkConsentFor(address kiosk, bytes32 patientId, Role role, ConsentTerms calldata terms)
        external
        view
        returns (address institution, uint32 id)
    {
        if (role == Role.None) revert InvalidRole(role);
        return _checkConsent(kiosk, role, patientId, terms);
    }

    /// @inheritdoc IPatientSmartCard
    function useConsentFor(
        address kiosk,
        bytes32 patientId,
        ConsentTerms calldata terms,
        bytes32 stepHash,
        CardSig calldata sig
    ) external view returns (address institution, uint32 id) {
        Role role = msg.sender == pharmacyAccess
            ? Role.Pharmacy
            : msg.sender == insuranceProvider ? Role.Insurer : msg.sender == hospitalRecord ? Role.Hospital : Role.None;
        if (role == Role.None) revert NotModule(msg.sender);
        (institution, id) = _checkConsent(kiosk, role, patientId, terms);
        bytes32 structHash = _consentHash(patientId, institution, terms);
        if (stepHash != 0) {
            // Only the pharmacy step signs a consent together with another struct.
            if (role != Role.Pharmacy) revert NotModule(msg.sender);
            structHash = keccak256(abi.encode(DISPENSE_WITH_CONSENT_TYPEHASH, structHash, stepHash));
        }
        // The consent authorises the step it was signed with and is not stored: the dispense's signature carries the
        // card's nonce, a re-sent enrolment can only restate the same insurer's (InsuranceProvider checks it), and a
        // later revocation (stored) refuses every consent signed before it.
        _verifyPatient(patientId, structHash, sig);
    }

    /// @dev grantConsent's checks, in its order: `kiosk` is a kiosk of an active institution (of `role`, unless
    /// None), then `_checkConsentTerms` at the patient's current epoch.
    function _checkConsent(address kiosk, Role role, bytes32 patientId, ConsentTerms memory terms)
        internal
        view
        returns (address institution, uint32 id)
    {
        institution = kioskInstitution[kiosk];
        if (institution == address(0)) revert NotAKiosk(kiosk);
        Institution memory inst = institutions[institution];
        if (!inst.active) revert InstitutionInactive(institution);
        if (role != Role.None && inst.role != role) revert WrongRole(institution, role, inst.role);
        _checkConsentTerms(institution, inst.role, patientId, terms, _patients[patientId].epoch);
        id = inst.id;
    }

    /// @dev The checks of a consent's terms for `institution` (of `role`): the scope within the role's ceiling, the
    /// epoch `current`, a fresh signing time later than the last grant or revocation, and
    /// `signedAt < validUntil <= signedAt + the role's longest window` (and in the future).
    function _checkConsentTerms(
        address institution,
        Role role,
        bytes32 patientId,
        ConsentTerms memory terms,
        uint64 current
    ) internal view {
        (uint8 ceiling, uint64 maxWindow) = _limits(role);
        uint8 scope = terms.scope;
        if (scope == 0 || scope & ~ceiling != 0) revert InvalidScope(scope);
        if (terms.epoch != current) revert WrongEpoch(terms.epoch, current);
        uint64 signedAt = terms.signedAt;
        _checkFresh(signedAt);
        uint64 last = _consents[patientId][institution].signedAt;
        if (signedAt <= last) revert StaleSignature(signedAt, last);
        uint64 validUntil = terms.validUntil;
        if (
            validUntil <= block.timestamp || validUntil <= signedAt
                || uint256(validUntil) > uint256(signedAt) + maxWindow
        ) revert InvalidWindow(validUntil);
    }

    function _consentHash(bytes32 patientId, address institution, ConsentTerms memory terms)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                CONSENT_TYPEHASH, patientId, institution, terms.scope, terms.validUntil, terms.epoch, terms.signedAt
            )
        );
    }

    function _storeConsent(bytes32 patientId, address institution, ConsentTerms memory terms) internal {
        _consents[patientId][institution] =
            Consent({validUntil: terms.validUntil, signedAt: terms.signedAt, epoch: terms.epoch, scope: terms.scope});
        emit ConsentGranted(patientId, institution, terms.scope, terms.validUntil);
    }

    /// @notice Anyone may submit a card-signed RevokeConsent(patientId, institution, signedAt); access ends at once,
    /// and every consent for this institution signed before `signedAt` is refused from then on.
    function revokeConsent(bytes32 patientId, address institution, uint64 signedAt, CardSig calldata sig) external {
        _checkFresh(signedAt);
        Consent memory c = _consents[patientId][institution];
        if (signedAt <= c.signedAt) revert StaleSignature(signedAt, c.signedAt);
        _verifyPatient(patientId, keccak256(abi.encode(REVOKE_TYPEHASH, patientId, institution, signedAt)), sig);
        _consents[patientId][institution] = Consent({validUntil: 0, signedAt: signedAt, epoch: c.epoch, scope: 0});
        emit ConsentRevoked(patientId, institution);
    }

    /// @notice Anyone may submit a card-signed RevokeAllConsents(patientId, epoch, signedAt): the epoch moves by one,
    /// ending every institution's consent at once, including consents signed but not yet submitted.
    function revokeAllConsents(bytes32 patientId, uint64 epoch, uint64 signedAt, CardSig calldata sig) external {
        Patient storage p = _patients[patientId];
        uint64 current = p.epoch;
        if (epoch != current) revert WrongEpoch(epoch, current);
        _checkFresh(signedAt);
        _verifyPatient(patientId, keccak256(abi.encode(REVOKE_ALL_TYPEHASH, patientId, epoch, signedAt)), sig);
        uint64 next = current + 1;
        p.epoch = next;
        emit AllConsentsRevoked(patientId, next);
    }

    /// @notice The consent `institution` holds for a patient (validUntil 0: none or revoked; it counts only while
    /// `epoch` is the patient's epoch).
    function consentOf(bytes32 patientId, address institution)
        external
        view
        returns (uint64 validUntil, uint64 signedAt, uint64 epoch, uint8 scope)
    {
        Consent memory c = _consents[patientId][institution];
        return (c.validUntil, c.signedAt, c.epoch, c.scope);
    }

    /// @inheritdoc IPatientSmartCard
    function authorize(address kiosk, bytes32 patientId, Role role, uint8 scope)
        public
        view
        returns (address institution, uint32 id)
    {
        (institution, id) = institutionOf(kiosk, role);
        Consent memory c = _consents[patientId][institution];
        if (c.validUntil < block.timestamp || c.epoch != _patients[patientId].epoch) {
            revert NoConsent(patientId, institution);
        }
        if (c.scope & scope != scope) revert ScopeNotGranted(patientId, institution, scope);
    }

    // ---------------------------------------------------------------- emergency access

    /// @notice A kiosk of an active hospital records that it opened a patient's emergency data set (sealed for
    /// `emergencyKey`, read without the PIN): one read, one trace. `tag` is a blinded per-patient value (an HMAC,
    /// under a key only the patient holds, of a random nonce inside the note), never zero (`InvalidEmergencyTag`)
    /// and never recorded before (`EmergencyTagUsed`); `note` is ciphertext of exactly EMERGENCY_NOTE_LENGTH bytes
    /// (`InvalidEmergencyNote`). No patient id: an observer learns only that the hospital made one emergency read at
    /// this block's time; the patient finds their reads by the tag. Nothing is stored but the tag's use.
    function recordEmergencyAccess(bytes32 tag, bytes calldata note) external {
        (address hospital,) = institutionOf(msg.sender, Role.Hospital);
        if (note.length != EMERGENCY_NOTE_LENGTH) revert InvalidEmergencyNote(note.length);
        if (tag == 0) revert InvalidEmergencyTag();
        if (emergencyTagUsed[tag]) revert EmergencyTagUsed(tag);
        emergencyTagUsed[tag] = true;
        emit EmergencyAccess(hospital, tag, note);
    }

    // ---------------------------------------------------------------- card signatures

    /// @inheritdoc IPatientSmartCard
    function verifyCardSignature(bytes32 patientId, bytes32 structHash, CardSig calldata sig) external view {
        _verifyPatient(patientId, structHash, sig);
    }

    /// @inheritdoc IPatientSmartCard
    function verifyKeySignature(bytes32 keyHash, bytes32 structHash, CardSig calldata sig) external view {
        if (keccak256(abi.encode(sig.qx, sig.qy)) != keyHash) revert KeyMismatch(keyHash);
        _verify(structHash, sig);
    }

    /// @inheritdoc IPatientSmartCard
    function useNonce(bytes32 patientId) external returns (uint256) {
        if (msg.sender != pharmacyAccess && msg.sender != hospitalRecord && msg.sender != insuranceProvider) {
            revert NotModule(msg.sender);
        }
        return _patients[patientId].nonce++;
    }

    /// @notice The EIP-712 domain separator card signatures are made under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev The scope ceiling and the longest window of a role.
    function _limits(Role role) internal pure returns (uint8 ceiling, uint64 maxWindow) {
        if (role == Role.Hospital) return (HOSPITAL_SCOPES, MAX_HOSPITAL_WINDOW);
        if (role == Role.Pharmacy) return (PHARMACY_SCOPES, MAX_PHARMACY_WINDOW);
        return (INSURER_SCOPES, MAX_INSURER_WINDOW);
    }

    /// @dev A card's signing time must lie in [now - MAX_SIGNATURE_AGE, now + MAX_CLOCK_SKEW].
    function _checkFresh(uint64 signedAt) internal view {
        if (uint256(signedAt) + MAX_SIGNATURE_AGE < block.timestamp) revert SignatureTooOld(signedAt);
        if (signedAt > block.timestamp + MAX_CLOCK_SKEW) revert SignatureFromFuture(signedAt);
    }

    /// @dev The checks of a replacement's keys and signatures: `recovery` is the patient's recovery key, the new
    /// card's key was never a card key and is neither the current recovery key nor `newRecoveryKeyHash` (when not
    /// zero), and both sign ReplaceCard(patientId, newCardKeyHash, hospital, newRecoveryKeyHash, keyBundleHash,
    /// epoch, signedAt) at the patient's current epoch. Returns the new card key's hash.
    function _checkReplacement(
        bytes32 patientId,
        Patient storage p,
        address hospital,
        bytes32 newRecoveryKeyHash,
        bytes32 keyBundleHash,
        uint64 signedAt,
        CardSig calldata recovery,
        CardSig calldata newCard
    ) internal view returns (bytes32 newHash) {
        bytes32 recoveryHash = keccak256(abi.encode(recovery.qx, recovery.qy));
        if (patientOfRecovery[recoveryHash] != patientId) revert NotRecoveryKey(patientId);
        newHash = keccak256(abi.encode(newCard.qx, newCard.qy));
        if (_patients[newHash].epoch != 0 || replacementOwner[newHash] != 0) revert CardKeyInUse(newHash);
        if (newHash == recoveryHash || (newRecoveryKeyHash != 0 && newHash == newRecoveryKeyHash)) {
            revert CardIsRecoveryKey(patientId);
        }
        bytes32 structHash = keccak256(
            abi.encode(
                REPLACE_TYPEHASH, patientId, newHash, hospital, newRecoveryKeyHash, keyBundleHash, p.epoch, signedAt
            )
        );
        _verify(structHash, recovery);
        _verify(structHash, newCard);
    }

    /// @dev A key bundle is non-empty and at most MAX_KEY_BUNDLE bytes.
    function _checkKeyBundle(bytes calldata keyBundle) internal pure {
        if (keyBundle.length == 0 || keyBundle.length > MAX_KEY_BUNDLE) revert InvalidKeyBundle(keyBundle.length);
    }

    /// @dev `sig` must be the patient's current card, not reported lost, signing `structHash`.
    function _verifyPatient(bytes32 patientId, bytes32 structHash, CardSig calldata sig) internal view {
        Patient storage p = _patients[patientId];
        if (p.epoch == 0) revert UnknownPatient(patientId);
        bytes32 keyHash = p.cardKeyHash;
        if (keyHash == 0) keyHash = patientId;
        if (p.lost) revert CardReported(patientId);
        if (keccak256(abi.encode(sig.qx, sig.qy)) != keyHash) revert CardKeyMismatch(patientId);
        _verify(structHash, sig);
    }

    function _verify(bytes32 structHash, CardSig calldata sig) internal view {
        if (!P256.verify(_hashTypedDataV4(structHash), sig.r, sig.s, sig.qx, sig.qy)) revert InvalidCardSignature();
    }
}
