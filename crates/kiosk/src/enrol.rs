//! A new kiosk joins its institution: the other half of `carekiosk admin add-kiosk`.
//!
//! Owns: the kiosk's side of enrolment — its key (created in the OS keyring), whether the institution it was set
//! up for has offered to enrol it, and the `acceptKiosk` that takes that offer. Must not: accept an offer from
//! any other institution (whoever holds an institution key could offer first), or send anything before the
//! offer is on chain.

use alloy::primitives::{Address, B256};

use crate::kiosk::{connect, load_network, KioskKeys};
use crate::{KioskConfig, KioskError};

/// Where a kiosk's enrolment stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolment {
    /// The kiosk belongs to its institution: it can open.
    Enrolled,
    /// The kiosk took its institution's offer just now (this transaction).
    Accepted(B256),
    /// No offer from the institution yet (`offer`: another institution's, which is not taken).
    Waiting {
        /// The kiosk's address, for the administrator.
        address: Address,
        /// An offer from another institution, if there is one.
        offer: Option<Address>,
    },
    /// The institution offered, but the kiosk has no funds to pay for accepting.
    NeedsGas {
        /// The kiosk's address, to fund.
        address: Address,
    },
}

/// This kiosk's address under `config` (its key is created in the OS keyring if it has none yet).
pub fn kiosk_address(config: &KioskConfig) -> Result<Address, KioskError> {
    Ok(
        KioskKeys::load_or_generate(&config.profile_name(), config.role)?
            .signer
            .address(),
    )
}

/// Looks at the chain and, when `institution` has offered to enrol this kiosk, accepts the offer.
pub async fn accept_offer(
    config: &KioskConfig,
    institution: Address,
) -> Result<Enrolment, KioskError> {
    let keys = KioskKeys::load_or_generate(&config.profile_name(), config.role)?;
    let address = keys.signer.address();
    let (profile, deployment) = load_network(config)?;
    let chain = connect(&profile, &deployment, keys.signer).await?;
    let hub = chain.hub(&deployment);
    let owner = hub.kioskInstitution(address).call().await.map_err(|e| {
        KioskError::from(carekiosk_chain::ChainError::from_contract_error(
            chain.url(),
            e,
        ))
    })?;
    if owner == institution {
        return Ok(Enrolment::Enrolled);
    }
    if owner != Address::ZERO {
        return Err(KioskError::Invalid(format!(
            "this kiosk's key ({address}) belongs to institution {owner}, not {institution}: reset the set-up and \
             pick that institution, or have {owner} remove the kiosk (carekiosk admin remove-kiosk)"
        )));
    }
    let offer = hub.kioskOffer(address).call().await.map_err(|e| {
        KioskError::from(carekiosk_chain::ChainError::from_contract_error(
            chain.url(),
            e,
        ))
    })?;
    if offer != institution {
        return Ok(Enrolment::Waiting {
            address,
            offer: (offer != Address::ZERO).then_some(offer),
        });
    }
    if chain.balance(address).await?.is_zero() {
        return Ok(Enrolment::NeedsGas { address });
    }
    let r = chain.send(address, hub.acceptKiosk(institution)).await?;
    tracing::info!(%address, %institution, "the kiosk accepted its institution's offer");
    Ok(Enrolment::Accepted(r.transaction_hash))
}
