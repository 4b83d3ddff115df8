// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Role, Scope, CardSig, ConsentTerms, IPatientSmartCard, Envelope} from "./CareTypes.sol";

/// @notice What InsuranceProvider asks of HospitalRecord.
interface IHospitalRecord {
    function bill(bytes32 patientId, uint256 index, uint256 claimId)
        external
        returns (uint32 author, bool original, uint256 previousClaim);
    function billedBy(bytes32 patientId, uint256 index) external view returns (uint256);
}

/// @title InsuranceProvider
/// @notice Insurers, coverage and claims. An insurer holding the patient's READ consent enrols them (percentage and
/// annual limit; a later insurer the patient consents to takes the coverage over), a hospital holding the patient's
/// WRITE consent submits a claim tied to an original record it authored (the details travel sealed for the
/// insurer), the insurer approves (capped by coverage, and reserving the amount in its escrow) or denies with a
/// reason code, each decision carrying a sealed ClaimResponse; an approval above the insurer's threshold needs a
/// second kiosk of the insurer to confirm it (four eyes). Payment moves an ERC-20 from the insurer's escrow to the
/// hospital exactly once, sent by a kiosk of either party.
contract InsuranceProvider is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Length of a policy period for the annual limit.
    uint32 public constant PERIOD = 365 days;
    /// @notice Largest padded plaintext (envelope bucket) a sealed claim or claim response may have.
    uint256 public constant MAX_BUCKET = 16384;

    /// @dev PendingSecond is appended so the earlier values (the kiosk's store reads 1 to 4) stay.
    enum ClaimStatus {
        None,
        Submitted,
        Approved,
        Denied,
        Paid,
        PendingSecond
    }

    /// @notice A patient's coverage as `coverageOf` returns it.
    struct Coverage {
        address insurer;
        uint16 bps;
        uint40 periodStart;
        uint128 annualLimit;
        uint128 used;
    }

    /// @dev A coverage as stored: one slot (the insurer by its institution id; the limit and the amount used within
    /// uint88, as every claimed amount is).
    struct StoredCoverage {
        uint32 insurerId;
        uint16 bps;
        uint32 periodStart;
        uint88 annualLimit;
        uint88 used;
    }

    /// @notice A claim as `getClaim` returns it. The patient id, the times and a denial's reason are in the claim's
    /// events (`ClaimSubmitted`, `ClaimApproved`, `ClaimDenied`, `ClaimPaid`: their blocks' times); the chain keeps
    /// the first 12 bytes of the patient id, which every decision that counts against the patient's coverage
    /// checks the patient it names against.
    struct Claim {
        bytes12 patientPrefix;
        address hospital;
        uint88 claimed;
        ClaimStatus status;
        address insurer;
        uint96 approved;
        uint64 recordIndex;
        /// @dev The first 16 bytes of the sealed claim's hash (the whole hash is in `ClaimSubmitted`).
        bytes16 contentHashPrefix;
    }

    /// @dev A claim as stored: two slots. The parties by their institution ids, the amounts and the status share one
    /// slot that every decision reads and writes; the first 16 bytes of the sealed claim's hash, the first 12 bytes
    /// of the patient id and the record index (below 2^24, as every record index is) share the other. The patient
    /// id itself is not stored: a decision that needs the patient's coverage (approve, confirm, settle) names the
    /// patient and is refused (`WrongPatient`) unless the id starts with the stored 12 bytes — naming another
    /// patient would take a registered patient whose card key hashes to the same 96 bits (a 2^96 search). Which
    /// claim billed a record is kept in the record's entry (`HospitalRecord.bill`).
    struct StoredClaim {
        uint32 hospitalId;
        uint32 insurerId;
        uint88 claimed;
        uint96 approved;
        ClaimStatus status;
        bytes16 contentHashPrefix;
        bytes12 patientPrefix;
        uint24 recordIndex;
    }

    /// @notice An approval above the insurer's threshold, waiting for a second kiosk: who proposed it, the amount
    /// and the hash of the sealed ClaimResponse (two slots, deleted when the claim is decided).
    struct Proposal {
        address kiosk;
        uint96 amount;
        bytes32 contentHash;
    }

    /// @notice The hub holding institutions, patients and consent.
    IPatientSmartCard public immutable hub;
    /// @notice The contract holding the records claims refer to.
    IHospitalRecord public immutable records;
    /// @notice The stablecoin claims are paid in (cUSD/USDC on Celo, a test token locally).
    IERC20 public immutable token;

    uint256 public claimCount;
    mapping(address insurer => uint256) public escrowOf;
    /// @notice The part of an insurer's escrow owed to approved, unpaid claims (never withdrawn).
    mapping(address insurer => uint256) public reservedOf;
    mapping(bytes32 patientId => StoredCoverage) internal _coverage;
    mapping(uint256 claimId => StoredClaim) internal _claims;
    /// @notice The amount above which an insurer's approval needs a second kiosk (0: never).
    mapping(address insurer => uint256) public approvalThresholdOf;
    /// @notice The approval waiting for a second kiosk, while a claim is PendingSecond.
    mapping(uint256 claimId => Proposal) public proposalOf;

    event EscrowFunded(address indexed insurer, address indexed from, uint256 amount);
    event EscrowWithdrawn(address indexed insurer, address indexed to, uint256 amount);
    event PatientEnrolled(bytes32 indexed patientId, address indexed insurer, uint16 bps, uint128 annualLimit);
    event ClaimSubmitted(
        uint256 indexed claimId,
        bytes32 indexed patientId,
        address indexed hospital,
        uint256 amount,
        bytes32 contentHash
    );
    event ClaimApproved(uint256 indexed claimId, address indexed insurer, uint256 amount, bytes32 contentHash);
    event ClaimDenied(uint256 indexed claimId, address indexed insurer, uint16 reasonCode, bytes32 contentHash);
    event ApprovalThresholdSet(address indexed insurer, uint256 amount);
    event ClaimApprovalProposed(uint256 indexed claimId, address indexed kiosk, uint256 amount, bytes32 contentHash);
    event ClaimPaid(uint256 indexed claimId, address indexed hospital, uint256 amount);

    error ZeroAmount();
    error InvalidCoverage(uint16 bps, uint128 annualLimit);
    error NotCovered(bytes32 patientId);
    error NotInsurer(address caller);
    error WrongInsurer(uint256 claimId, address caller);
    error NotRecordAuthor(bytes32 patientId, uint256 recordIndex);
    error NotOriginalRecord(bytes32 patientId, uint256 recordIndex);
    error NotClaimParty(uint256 claimId, address caller);
    error RecordAlreadyClaimed(bytes32 patientId, uint256 recordIndex, uint256 claimId);
    error AmountTooLarge(uint256 amount);
    error NoSuchClaim(uint256 claimId);
    error ClaimNotPending(uint256 claimId, ClaimStatus status);
    /// @notice The claim under this number is not the one the kiosk decided on (a reorganisation of the chain
    /// renumbered claims): nothing is decided; the kiosk reads the queue again. `actual` is the first 16 bytes of
    /// the claim's content hash, zero-padded.
    error ClaimChanged(uint256 claimId, bytes32 expected, bytes32 actual);
    error ClaimNotApproved(uint256 claimId, ClaimStatus status);
    /// @notice The patient a decision names is not the claim's (its id does not start with the claim's stored 12
    /// bytes): nothing is decided; the kiosk names the patient of the claim's `ClaimSubmitted` event.
    error WrongPatient(uint256 claimId, bytes32 patientId);
    error AlreadyPaid(uint256 claimId);
    error ExceedsCoverage(uint256 amount, uint256 cap);
    error EscrowInsufficient(uint256 available, uint256 needed);
    error NotPendingSecond(uint256 claimId, ClaimStatus status);
    error SameReviewer(uint256 claimId, address kiosk);
    error AboveApprovalThreshold(uint256 claimId, uint256 amount, uint256 threshold);
    /// @dev The hub's error of the same name (the same selector): a module-only call from elsewhere.
    error NotModule(address caller);
    /// @dev The hub's error of the same name (the same selector): an enrolment consent signed before the patient's
    /// current coverage (by another insurer) began.
    error StaleSignature(uint64 signedAt, uint64 last);

    constructor(IPatientSmartCard hub_, IHospitalRecord records_, IERC20 token_) {
        hub = hub_;
        records = records_;
        token = token_;
    }

    /// @notice Governance registers an insurer (its institution address, which then offers its kiosks); reached
    /// through the hub's `execute`.
    function registerInsurer(address insurer) external returns (uint32 id) {
        return hub.registerInstitutionBy(msg.sender, insurer, Role.Insurer);
    }

    /// @notice Anyone funds a registered insurer's escrow with `amount` tokens (approved beforehand).
    function fundEscrow(address insurer, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        (Role role,,) = hub.institutions(insurer);
        if (role != Role.Insurer) revert NotInsurer(insurer);
        escrowOf[insurer] += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit EscrowFunded(insurer, msg.sender, amount);
    }

    /// @notice The insurer's institution address withdraws escrow that no approved claim is owed.
    function withdrawEscrow(uint256 amount, address to) external nonReentrant {
        (Role role,,) = hub.institutions(msg.sender);
        if (role != Role.Insurer) revert NotInsurer(msg.sender);
        uint256 escrow = escrowOf[msg.sender];
        uint256 available = escrow - reservedOf[msg.sender];
        if (amount > available) revert EscrowInsufficient(available, amount);
        escrowOf[msg.sender] = escrow - amount;
        token.safeTransfer(to, amount);
        emit EscrowWithdrawn(msg.sender, to, amount);
    }

    /// @notice The insurer's institution address sets the amount above which an approval by one kiosk waits for a
    /// second kiosk of the insurer (`confirmApproval`); 0: one kiosk always decides. Claims already waiting stay so.
    function setApprovalThreshold(uint256 amount) external {
        (Role role,,) = hub.institutions(msg.sender);
        if (role != Role.Insurer) revert NotInsurer(msg.sender);
        approvalThresholdOf[msg.sender] = amount;
        emit ApprovalThresholdSet(msg.sender, amount);
    }

    /// @notice An insurer kiosk holding the patient's READ consent enrols the patient (or updates its own patient's
    /// terms): `bps` of each claim is covered, up to `annualLimit` tokens per policy period. If another insurer
    /// covered the patient, this one takes over with a new period; the other's approved claims stay payable.
    function enrollPatient(bytes32 patientId, uint16 bps, uint128 annualLimit) external {
        (address insurer, uint32 insurerId) = hub.authorize(msg.sender, patientId, Role.Insurer, Scope.READ);
        _enroll(patientId, insurer, insurerId, bps, annualLimit);
    }

    /// @notice The enrolment step, one transaction at the insurer's desk (docs/design-v2.md, "Step functions"): the
    /// insurer's READ consent `consent`, on the card's signature over the plain Consent struct (checked as
    /// `grantConsent` checks it, the kiosk's institution an insurer), then the enrolment (as `enrollPatient`). The
    /// consent authorises this enrolment and is not stored: the insurer holds no standing consent after it (a later
    /// change of terms is made with the card again), and nothing is left for the patient to revoke.
    function enrollWithConsent(
        bytes32 patientId,
        uint16 bps,
        uint128 annualLimit,
        ConsentTerms calldata consent,
        CardSig calldata sig
    ) external {
        (address insurer, uint32 insurerId) = hub.useConsentFor(msg.sender, patientId, consent, bytes32(0), sig);
        // Not stored, the consent could be sent again while it is fresh (an hour): it may restate this insurer's own
        // enrolment (the card signs no terms, and a stored consent gave an insurer that power for its whole window),
        // never take the patient back from an insurer that enrolled them after it was signed.
        StoredCoverage storage c = _coverage[patientId];
        uint32 current = c.insurerId;
        if (current != 0 && current != insurerId && consent.signedAt <= c.periodStart) {
            revert StaleSignature(consent.signedAt, c.periodStart);
        }
        _enroll(patientId, insurer, insurerId, bps, annualLimit);
    }

    /// @dev The enrolment's checks (bps in 1..10,000, a limit in 1..2^88-1: `InvalidCoverage`) and its effect: a new
    /// insurer starts a new period, the same insurer keeps its period and what was used in it.
    function _enroll(bytes32 patientId, address insurer, uint32 insurerId, uint16 bps, uint128 annualLimit) internal {
        if (bps == 0 || bps > 10_000 || annualLimit == 0 || annualLimit > type(uint88).max) {
            revert InvalidCoverage(bps, annualLimit);
        }
        StoredCoverage storage c = _coverage[patientId];
        if (c.insurerId != insurerId) {
            _coverage[patientId] = StoredCoverage({
                insurerId: insurerId,
                bps: bps,
                periodStart: uint32(block.timestamp),
                annualLimit: uint88(annualLimit),
                used: 0
            });
        } else {
            c.bps = bps;
            c.annualLimit = uint88(annualLimit);
        }
        emit PatientEnrolled(patientId, insurer, bps, annualLimit);
    }

    /// @notice A patient's coverage terms and what is left of this period's limit.
    function coverageOf(bytes32 patientId) external view returns (Coverage memory c, uint256 remaining) {
        StoredCoverage memory s = _coverage[patientId];
        if (s.insurerId == 0) return (c, 0);
        c = Coverage({
            insurer: hub.institutionAddress(s.insurerId),
            bps: s.bps,
            periodStart: s.periodStart,
            annualLimit: s.annualLimit,
            used: s.used
        });
        if (block.timestamp >= uint256(c.periodStart) + PERIOD) c.used = 0;
        remaining = c.annualLimit > c.used ? c.annualLimit - c.used : 0;
    }

    /// @notice A hospital kiosk holding the patient's WRITE consent bills the patient's insurer for an original
    /// record the hospital authored (an amendment cannot be billed again), once per record.
    /// @param sealedClaim The FHIR Claim sealed for the insurer and the hospital: a version-3 envelope of a bucket
    /// up to MAX_BUCKET.
    function submitClaim(bytes32 patientId, uint256 recordIndex, uint256 amount, bytes calldata sealedClaim)
        external
        returns (uint256 claimId)
    {
        return _submitClaim(msg.sender, patientId, recordIndex, amount, sealedClaim);
    }

    /// @notice The consultation step's claim part (`HospitalRecord.consult`, the only caller): bills as
    /// `submitClaim` does when `kiosk` calls it, with every check of it.
    function submitClaimFor(
        address kiosk,
        bytes32 patientId,
        uint256 recordIndex,
        uint256 amount,
        bytes calldata sealedClaim
    ) external returns (uint256 claimId) {
        if (msg.sender != address(records)) revert NotModule(msg.sender);
        return _submitClaim(kiosk, patientId, recordIndex, amount, sealedClaim);
    }

    function _submitClaim(
        address kiosk,
        bytes32 patientId,
        uint256 recordIndex,
        uint256 amount,
        bytes calldata sealedClaim
    ) internal returns (uint256 claimId) {
        (address hospital, uint32 hospitalId) = hub.authorize(kiosk, patientId, Role.Hospital, Scope.WRITE);
        if (amount == 0) revert ZeroAmount();
        if (amount > type(uint88).max) revert AmountTooLarge(amount);
        Envelope.check(sealedClaim, MAX_BUCKET);
        uint32 insurerId = _coverage[patientId].insurerId;
        if (insurerId == 0) revert NotCovered(patientId);
        claimId = ++claimCount;
        bytes32 contentHash = keccak256(sealedClaim);
        _claims[claimId] = StoredClaim({
            hospitalId: hospitalId,
            insurerId: insurerId,
            claimed: uint88(amount),
            approved: 0,
            status: ClaimStatus.Submitted,
            contentHashPrefix: bytes16(contentHash),
            patientPrefix: bytes12(patientId),
            recordIndex: uint24(recordIndex)
        });
        // The record's entry keeps the claim that billed it (HospitalRecord marks it unless a claim already did; a
        // refusal below reverts the mark): no slot of its own.
        (uint32 author, bool original, uint256 existing) = records.bill(patientId, recordIndex, claimId);
        if (!original) revert NotOriginalRecord(patientId, recordIndex);
        if (author != hospitalId) revert NotRecordAuthor(patientId, recordIndex);
        if (existing != 0) revert RecordAlreadyClaimed(patientId, recordIndex, existing);
        emit ClaimSubmitted(claimId, patientId, hospital, amount, contentHash);
    }

    /// @notice The claim filed for a patient's record (0: none), so a record is billed once; reverts
    /// `NoSuchRecord` (HospitalRecord's) if there is no such record.
    function claimOfRecord(bytes32 patientId, uint256 recordIndex) external view returns (uint256) {
        return records.billedBy(patientId, recordIndex);
    }

    /// @notice A kiosk of the claim's insurer approves `amount`, which may not exceed the coverage (the covered
    /// percentage of the claimed amount, and what is left of the patient's limit for the period) nor the insurer's
    /// unreserved escrow; the amount is reserved until paid. Only while the insurer still covers the patient. Above
    /// the insurer's approval threshold nothing is reserved yet: the claim waits (PendingSecond) for another kiosk of
    /// the insurer to `confirmApproval`.
    /// @param sealedResponse The FHIR ClaimResponse (per-item adjudication) sealed for the patient, the hospital and
    /// the insurer: a version-3 envelope of a bucket up to MAX_BUCKET.
    /// @param patientId The claim's patient (its `ClaimSubmitted` event's), whose coverage the approval counts
    /// against; checked against the claim's stored 12 bytes (`WrongPatient`).
    /// @param claimHash The claim's content hash as the kiosk read it (every decision names it: a reorganisation
    /// can renumber claims, and a decision sent again must not land on another claim — `ClaimChanged`); zero skips
    /// the check.
    function approveClaim(
        uint256 claimId,
        bytes32 patientId,
        bytes32 claimHash,
        uint256 amount,
        bytes calldata sealedResponse
    ) external {
        (StoredClaim storage c, address insurer) = _pendingClaimOf(claimId, claimHash);
        _samePatient(claimId, c, patientId);
        if (amount == 0) revert ZeroAmount();
        Envelope.check(sealedResponse, MAX_BUCKET);
        bytes32 contentHash = keccak256(sealedResponse);
        uint256 threshold = approvalThresholdOf[insurer];
        if (threshold == 0 || amount <= threshold) {
            _approve(claimId, c, patientId, insurer, amount, contentHash);
            return;
        }
        // Four eyes: the same checks now (a proposal that could not be approved is refused at once), the reserve
        // when a second kiosk confirms (and the checks again, since coverage and escrow may have moved).
        _checkApprovable(c, patientId, insurer, _coverage[patientId], amount);
        c.status = ClaimStatus.PendingSecond;
        proposalOf[claimId] = Proposal({kiosk: msg.sender, amount: uint96(amount), contentHash: contentHash});
        emit ClaimApprovalProposed(claimId, msg.sender, amount, contentHash);
    }

    /// @notice Another kiosk of the claim's insurer than the one that proposed it confirms an approval waiting for a
    /// second kiosk (`SameReviewer` for the proposer): the amount is checked against coverage and escrow again and
    /// reserved, the claim is Approved with the proposal's sealed response. `patientId` as for `approveClaim`.
    function confirmApproval(uint256 claimId, bytes32 patientId, bytes32 claimHash) external {
        (StoredClaim storage c, address insurer) = _claimOfInsurer(claimId, claimHash);
        _samePatient(claimId, c, patientId);
        if (c.status != ClaimStatus.PendingSecond) revert NotPendingSecond(claimId, c.status);
        Proposal memory proposal = proposalOf[claimId];
        if (proposal.kiosk == msg.sender) revert SameReviewer(claimId, msg.sender);
        delete proposalOf[claimId];
        _approve(claimId, c, patientId, insurer, proposal.amount, proposal.contentHash);
    }

    /// @notice A kiosk of the claim's insurer denies it with a reason code (see the kiosk's reason list; no free text
    /// on chain), also while an approval waits for a second kiosk.
    /// @param sealedResponse The FHIR ClaimResponse (the reasons per item) sealed for the patient, the hospital and
    /// the insurer: a version-3 envelope of a bucket up to MAX_BUCKET.
    function denyClaim(uint256 claimId, bytes32 claimHash, uint16 reasonCode, bytes calldata sealedResponse) external {
        (StoredClaim storage c, address insurer) = _claimOfInsurer(claimId, claimHash);
        ClaimStatus status = c.status;
        if (status != ClaimStatus.Submitted && status != ClaimStatus.PendingSecond) {
            revert ClaimNotPending(claimId, status);
        }
        Envelope.check(sealedResponse, MAX_BUCKET);
        if (status == ClaimStatus.PendingSecond) delete proposalOf[claimId];
        c.status = ClaimStatus.Denied;
        emit ClaimDenied(claimId, insurer, reasonCode, keccak256(sealedResponse));
    }

    /// @notice Pays an approved claim from the insurer's reserved escrow to the hospital, exactly once. Sent by a
    /// kiosk of the claim's insurer (even a suspended one: an approved claim is money owed) or by a kiosk of the
    /// claim's (active) hospital.
    function processPayment(uint256 claimId, bytes32 claimHash) external nonReentrant {
        StoredClaim storage c = _claims[claimId];
        ClaimStatus status = c.status;
        if (status == ClaimStatus.None) revert NoSuchClaim(claimId);
        _sameClaim(claimId, c, claimHash);
        address caller = hub.kioskInstitution(msg.sender);
        if (caller == address(0)) revert NotClaimParty(claimId, msg.sender);
        (,, uint32 callerId) = hub.institutions(caller);
        bool byInsurer = callerId == c.insurerId;
        if (!byInsurer && callerId != c.hospitalId) revert NotClaimParty(claimId, msg.sender);
        if (!byInsurer) hub.institutionOf(msg.sender, Role.Hospital);
        address insurer = byInsurer ? caller : hub.institutionAddress(c.insurerId);
        address hospital = byInsurer ? hub.institutionAddress(c.hospitalId) : caller;
        if (status == ClaimStatus.Paid) revert AlreadyPaid(claimId);
        if (status != ClaimStatus.Approved) revert ClaimNotApproved(claimId, status);
        uint256 amount = c.approved;
        c.status = ClaimStatus.Paid;
        escrowOf[insurer] -= amount;
        reservedOf[insurer] -= amount;
        token.safeTransfer(hospital, amount);
        emit ClaimPaid(claimId, hospital, amount);
    }

    /// @notice The insurer's settle step, one transaction (docs/design-v2.md, "Step functions"): approves `amount`
    /// (the checks of `approveClaim`: a kiosk of the claim's active insurer, a submitted claim, a nonzero amount, the
    /// sealed ClaimResponse an envelope, within coverage and unreserved escrow) and pays it to the hospital (as
    /// `processPayment`) at once, without reserving it in between. An amount above the insurer's approval threshold
    /// needs four eyes and cannot be settled in one step (`AboveApprovalThreshold`: approveClaim, confirmApproval,
    /// processPayment). Emits ClaimApproved then ClaimPaid. `patientId` as for `approveClaim`.
    function settleClaim(
        uint256 claimId,
        bytes32 patientId,
        bytes32 claimHash,
        uint256 amount,
        bytes calldata sealedResponse
    ) external nonReentrant {
        (StoredClaim storage c, address insurer) = _pendingClaimOf(claimId, claimHash);
        _samePatient(claimId, c, patientId);
        if (amount == 0) revert ZeroAmount();
        Envelope.check(sealedResponse, MAX_BUCKET);
        uint256 threshold = approvalThresholdOf[insurer];
        if (threshold != 0 && amount > threshold) revert AboveApprovalThreshold(claimId, amount, threshold);
        StoredCoverage storage cov = _coverage[patientId];
        (uint32 start, uint256 used,) = _checkApprovable(c, patientId, insurer, cov, amount);
        if (start != cov.periodStart) cov.periodStart = start;
        cov.used = uint88(used + amount);
        c.approved = uint96(amount);
        c.status = ClaimStatus.Paid;
        escrowOf[insurer] -= amount;
        address hospital = hub.institutionAddress(c.hospitalId);
        emit ClaimApproved(claimId, insurer, amount, keccak256(sealedResponse));
        token.safeTransfer(hospital, amount);
        emit ClaimPaid(claimId, hospital, amount);
    }

    /// @notice The paper's getClaimStatus: a claim's state and amounts.
    function getClaimStatus(uint256 claimId)
        external
        view
        returns (ClaimStatus status, uint256 claimed, uint256 approved, address hospital, address insurer)
    {
        StoredClaim storage c = _claims[claimId];
        if (c.status == ClaimStatus.None) revert NoSuchClaim(claimId);
        return
            (c.status, c.claimed, c.approved, hub.institutionAddress(c.hospitalId), hub.institutionAddress(c.insurerId));
    }

    /// @notice A whole claim.
    function getClaim(uint256 claimId) external view returns (Claim memory) {
        StoredClaim storage c = _claims[claimId];
        if (c.status == ClaimStatus.None) revert NoSuchClaim(claimId);
        return Claim({
            patientPrefix: c.patientPrefix,
            hospital: hub.institutionAddress(c.hospitalId),
            claimed: c.claimed,
            status: c.status,
            insurer: hub.institutionAddress(c.insurerId),
            approved: c.approved,
            recordIndex: c.recordIndex,
            contentHashPrefix: c.contentHashPrefix
        });
    }

    /// @dev The claim, which must exist, and the caller's insurer, which must be the claim's (`institutionOf`'s
    /// checks: a kiosk of an active insurer).
    function _claimOfInsurer(uint256 claimId, bytes32 claimHash)
        internal
        view
        returns (StoredClaim storage c, address insurer)
    {
        c = _claims[claimId];
        if (c.status == ClaimStatus.None) revert NoSuchClaim(claimId);
        _sameClaim(claimId, c, claimHash);
        uint32 id;
        (insurer, id) = hub.institutionOf(msg.sender, Role.Insurer);
        if (id != c.insurerId) revert WrongInsurer(claimId, msg.sender);
    }

    /// @dev Reverts unless `amount` is within what may be approved for `c` now — the covered percentage of the
    /// claimed amount and what is left of the patient's limit, a period over counting as a fresh one
    /// (`ExceedsCoverage`; `NotCovered` when the claim's insurer no longer covers the patient) — and within the
    /// insurer's unreserved escrow (`EscrowInsufficient`). Returns the current period's start, the amount used in it
    /// and the insurer's reserve.
    function _checkApprovable(
        StoredClaim storage c,
        bytes32 patientId,
        address insurer,
        StoredCoverage storage cov,
        uint256 amount
    ) internal view returns (uint32 start, uint256 used, uint256 reserved) {
        if (cov.insurerId != c.insurerId) revert NotCovered(patientId);
        start = cov.periodStart;
        used = cov.used;
        if (block.timestamp >= uint256(start) + PERIOD) {
            uint256 periods = (block.timestamp - start) / PERIOD;
            start = uint32(start + periods * PERIOD);
            used = 0;
        }
        uint256 cap = uint256(c.claimed) * cov.bps / 10_000;
        uint256 left = cov.annualLimit > used ? cov.annualLimit - used : 0;
        if (left < cap) cap = left;
        if (amount > cap) revert ExceedsCoverage(amount, cap);
        reserved = reservedOf[insurer];
        uint256 available = escrowOf[insurer] - reserved;
        if (available < amount) revert EscrowInsufficient(available, amount);
    }

    /// @dev Approves `amount` of claim `c` (checked as `_checkApprovable`): moves the policy period on if one is
    /// over, counts the amount against the limit and reserves it.
    function _approve(
        uint256 claimId,
        StoredClaim storage c,
        bytes32 patientId,
        address insurer,
        uint256 amount,
        bytes32 contentHash
    ) internal {
        StoredCoverage storage cov = _coverage[patientId];
        (uint32 start, uint256 used, uint256 reserved) = _checkApprovable(c, patientId, insurer, cov, amount);
        reservedOf[insurer] = reserved + amount;
        if (start != cov.periodStart) cov.periodStart = start;
        cov.used = uint88(used + amount);
        c.approved = uint96(amount);
        c.status = ClaimStatus.Approved;
        emit ClaimApproved(claimId, insurer, amount, contentHash);
    }

    /// @dev Reverts `ClaimChanged` unless `claimHash` is zero or claim `claimId`'s content hash: its first 16 bytes
    /// are compared (what is stored; passing another claim off as this one by them takes a 2^128 search).
    function _sameClaim(uint256 claimId, StoredClaim storage c, bytes32 claimHash) internal view {
        if (claimHash != bytes32(0) && bytes16(claimHash) != c.contentHashPrefix) {
            revert ClaimChanged(claimId, claimHash, bytes32(c.contentHashPrefix));
        }
    }

    /// @dev Reverts `WrongPatient` unless `patientId` starts with the claim's stored 12 bytes.
    function _samePatient(uint256 claimId, StoredClaim storage c, bytes32 patientId) internal view {
        if (bytes12(patientId) != c.patientPrefix) revert WrongPatient(claimId, patientId);
    }

    function _pendingClaimOf(uint256 claimId, bytes32 claimHash)
        internal
        view
        returns (StoredClaim storage c, address insurer)
    {
        (c, insurer) = _claimOfInsurer(claimId, claimHash);
        if (c.status != ClaimStatus.Submitted) revert ClaimNotPending(claimId, c.status);
    }
}
