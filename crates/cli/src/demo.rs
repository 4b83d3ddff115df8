//! The virtual patient card of demos and tests: our card simulator in vpcd's first reader ("Virtual PCD 00 00").
//! Only a build with the `demo` feature has it (scripts/run.sh and the tests enable it); the Debian package's
//! `carekiosk` does not carry the simulator (`up --virtual-card` there says so).

use crate::CliError;

/// A virtual card in vpcd's first reader, taken out when stopped.
pub struct VirtualCard {
    sim: carekiosk_card_sim::Sim,
}

impl VirtualCard {
    /// A blank card (factory PINs) put in the reader; pcscd must run.
    pub fn start() -> Result<Self, CliError> {
        let sim = carekiosk_card_sim::Sim::start(carekiosk_card_sim::SimConfig::in_memory(
            carekiosk_card_sim::VPCD_PORT_0,
        ))
        .map_err(|e| CliError::Other(format!("cannot start the virtual card: {e}")))?;
        Ok(Self { sim })
    }

    /// The card's ident (`MMMM:SSSSSSSS`).
    pub fn ident(&self) -> String {
        self.sim.ident()
    }

    /// Waits until pcscd sees the card in its reader.
    pub fn wait_in_reader(&self) -> Result<(), CliError> {
        if !self
            .sim
            .wait_connected(true, std::time::Duration::from_secs(5))
        {
            return Err(CliError::Other(
                "the virtual card could not reach vpcd: start pcscd (scripts/pcscd.sh start)"
                    .into(),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(500)); // pcscd polls readers every 400 ms
        Ok(())
    }

    /// Takes the card out of the reader.
    pub fn stop(self) {
        self.sim.stop();
    }
}
