//! The sealed payloads (envelopes: records, prescriptions, dispenses, claims, claim responses) that a
//! transaction's input carries, found by the call's selector: the one place that knows which argument of which
//! call is sealed. The indexer opens them from here; the load run's privacy scan checks their sizes from here.

use alloy::primitives::Bytes;
use alloy::sol_types::SolCall;

use crate::bindings::{HospitalRecord as H, InsuranceProvider as I, PharmacyAccess as P};

/// The version byte every sealed payload the contracts take starts with (`Envelope.VERSION`; what
/// `carekiosk_records` writes, its `FORMAT_VERSION`).
pub const ENVELOPE_VERSION: u8 = 3;
/// The bytes a sealed payload has around its padded plaintext (`Envelope.OVERHEAD`; `carekiosk_records::OVERHEAD`).
pub const ENVELOPE_OVERHEAD: usize = 146;

/// Every sealed payload in `input`, in argument order (a visit's records in the order they were appended);
/// empty for a call that takes none, or an input that does not decode.
pub fn sealed_payloads(input: &[u8]) -> Vec<Bytes> {
    let Some(selector) = input.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok()) else {
        return Vec::new();
    };
    fn one<C: SolCall>(input: &[u8], f: impl FnOnce(C) -> Bytes) -> Vec<Bytes> {
        C::abi_decode(input).map(|c| vec![f(c)]).unwrap_or_default()
    }
    match selector {
        H::addMedicalRecordCall::SELECTOR => {
            one(input, |c: H::addMedicalRecordCall| c.sealedRecord)
        }
        H::updateMedicalHistoryCall::SELECTOR => {
            one(input, |c: H::updateMedicalHistoryCall| c.sealedRecord)
        }
        H::registerAndConsentCall::SELECTOR => {
            one(input, |c: H::registerAndConsentCall| c.sealedRecord)
        }
        H::recordVisitCall::SELECTOR => H::recordVisitCall::abi_decode(input)
            .map(|c| c.sealedRecords)
            .unwrap_or_default(),
        // The consultation step: its records, then its prescriptions, then its claim (when it bills).
        H::consultCall::SELECTOR => H::consultCall::abi_decode(input)
            .map(|c| {
                let mut all = c.sealedRecords;
                all.extend(c.prescriptions.into_iter().map(|o| o.sealedPrescription));
                if !c.sealedClaim.is_empty() {
                    all.push(c.sealedClaim);
                }
                all
            })
            .unwrap_or_default(),
        P::issuePrescriptionCall::SELECTOR => {
            one(input, |c: P::issuePrescriptionCall| c.sealedPrescription)
        }
        P::dispensePrescriptionCall::SELECTOR => {
            one(input, |c: P::dispensePrescriptionCall| c.sealedDispense)
        }
        P::dispenseByTokenCall::SELECTOR => {
            one(input, |c: P::dispenseByTokenCall| c.sealedDispense)
        }
        P::dispenseWithConsentCall::SELECTOR => {
            one(input, |c: P::dispenseWithConsentCall| c.sealedDispense)
        }
        I::submitClaimCall::SELECTOR => one(input, |c: I::submitClaimCall| c.sealedClaim),
        I::approveClaimCall::SELECTOR => one(input, |c: I::approveClaimCall| c.sealedResponse),
        I::denyClaimCall::SELECTOR => one(input, |c: I::denyClaimCall| c.sealedResponse),
        I::settleClaimCall::SELECTOR => one(input, |c: I::settleClaimCall| c.sealedResponse),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{B256, U256};

    #[test]
    fn each_call_gives_its_sealed_arguments_and_others_none() {
        let a = Bytes::from(vec![1u8; 784]);
        let b = Bytes::from(vec![2u8; 784]);
        let visit = H::recordVisitCall {
            patientId: B256::ZERO,
            sealedRecords: vec![a.clone(), b.clone()],
        }
        .abi_encode();
        assert_eq!(sealed_payloads(&visit), vec![a.clone(), b.clone()]);
        let c = Bytes::from(vec![3u8; 784]);
        let d = Bytes::from(vec![4u8; 784]);
        let order = |sealed: &Bytes| H::PrescriptionOrder {
            validUntil: Default::default(),
            tokenKeyHash: B256::ZERO,
            sealedPrescription: sealed.clone(),
        };
        let consult = H::consultCall {
            patientId: B256::ZERO,
            sealedRecords: vec![a.clone(), b.clone()],
            prescriptions: vec![order(&c)],
            claimAmount: U256::from(7),
            sealedClaim: d.clone(),
        }
        .abi_encode();
        assert_eq!(
            sealed_payloads(&consult),
            vec![a.clone(), b.clone(), c.clone(), d.clone()]
        );
        let unbilled = H::consultCall {
            patientId: B256::ZERO,
            sealedRecords: vec![a.clone()],
            prescriptions: vec![order(&c), order(&d)],
            claimAmount: U256::ZERO,
            sealedClaim: Bytes::new(),
        }
        .abi_encode();
        assert_eq!(
            sealed_payloads(&unbilled),
            vec![a.clone(), c.clone(), d.clone()]
        );
        let settle = I::settleClaimCall {
            claimId: U256::from(1),
            patientId: B256::repeat_byte(4),
            claimHash: B256::repeat_byte(3),
            amount: U256::from(2),
            sealedResponse: b.clone(),
        }
        .abi_encode();
        assert_eq!(sealed_payloads(&settle), vec![b]);
        let record = H::addMedicalRecordCall {
            patientId: B256::ZERO,
            sealedRecord: a.clone(),
        }
        .abi_encode();
        assert_eq!(sealed_payloads(&record), vec![a]);
        assert!(sealed_payloads(&[0xde, 0xad, 0xbe, 0xef, 0]).is_empty());
        assert!(sealed_payloads(&[1, 2]).is_empty());
        // A known selector with a broken body decodes to nothing, not to a panic.
        assert!(sealed_payloads(&record[..40]).is_empty());
    }
}
