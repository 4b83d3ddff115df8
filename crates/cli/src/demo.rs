//! The virtual patient card of demos and tests: our card simulator in vpcd's first reader ("Virtual PCD 00 00").
//! Only a build with the `demo` feature has it (scripts/run.sh and the tests enable it); the Debian package's
//! `carekiosk` does not carry the simulator, and `up --virtual-card` or `demo` there says so.

use crate::CliError;

/// What a build without the `demo` feature answers when asked for the virtual card.
pub const NO_VIRTUAL_CARD: &str = "this carekiosk has no virtual card (it is built for real readers): insert a \
     patient card in a PC/SC reader, or for a demo use a build with the virtual card (cargo build -p carekiosk-cli \
     --features demo, as scripts/run.sh does)";

/// A virtual card in vpcd's first reader, taken out when stopped.
pub struct VirtualCard {
    #[cfg(feature = "demo")]
    sim: carekiosk_card_sim::Sim,
    #[cfg(not(feature = "demo"))]
    never: std::convert::Infallible,
}

impl VirtualCard {
    /// Whether this build has the virtual card.
    pub const AVAILABLE: bool = cfg!(feature = "demo");

    /// A blank card (factory PINs) put in the reader; pcscd must run.
    pub fn start() -> Result<Self, CliError> {
        #[cfg(feature = "demo")]
        {
            let sim = carekiosk_card_sim::Sim::start(carekiosk_card_sim::SimConfig::in_memory(
                carekiosk_card_sim::VPCD_PORT_0,
            ))
            .map_err(|e| CliError::Other(format!("cannot start the virtual card: {e}")))?;
            Ok(Self { sim })
        }
        #[cfg(not(feature = "demo"))]
        Err(CliError::Other(NO_VIRTUAL_CARD.into()))
    }

    /// The card's ident (`MMMM:SSSSSSSS`).
    pub fn ident(&self) -> String {
        #[cfg(feature = "demo")]
        return self.sim.ident();
        #[cfg(not(feature = "demo"))]
        match self.never {}
    }

    /// Waits until pcscd sees the card in its reader.
    pub fn wait_in_reader(&self) -> Result<(), CliError> {
        #[cfg(feature = "demo")]
        {
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
        #[cfg(not(feature = "demo"))]
        match self.never {}
    }

    /// Takes the card out of the reader.
    pub fn stop(self) {
        #[cfg(feature = "demo")]
        self.sim.stop();
        #[cfg(not(feature = "demo"))]
        match self.never {}
    }
}
