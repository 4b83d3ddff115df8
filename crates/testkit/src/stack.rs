//! The kiosk tests' (and the benchmark's) local stack: a real Anvil with the contracts deployed and the demo
//! institutions registered, this machine's kiosk keys (OS keyring) registered for the four roles, and a virtual
//! card in one of vpcd's readers through the real pcscd.

pub use crate::pcscd as support;

use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use carekiosk_card::{PatientCard, Pin};
use carekiosk_card_sim::{Sim, SimConfig};
use carekiosk_chain::deploy::{self, DemoActors};
use carekiosk_chain::devnet::{Devnet, DevnetOptions};
use carekiosk_chain::{Chain, Deployment};
use carekiosk_kiosk::kiosk::KioskKeys;
use carekiosk_kiosk::workflows::reception;
use carekiosk_kiosk::{Kiosk, KioskConfig, KioskRole, PatientSession, Submitted};

pub const NAME: &str = "Jane Roe-Example";
pub const BIRTH: &str = "1984-03-12";
pub const PIN: &str = "482916";
pub const ADMIN_PIN: &str = "12345678";

/// A fresh local deployment. `chain` signs for the admin (`d.admin`) and the demo actors.
pub struct Stack {
    pub devnet: Devnet,
    pub chain: Chain,
    pub d: Deployment,
    pub actors: DemoActors,
    pub admin: PrivateKeySigner,
    pub dir: PathBuf,
}

impl Stack {
    pub async fn new(tag: &str) -> Stack {
        let st = deploy::LocalStack::start(DevnetOptions::default())
            .await
            .unwrap();
        let (devnet, chain, d, actors, admin) =
            (st.devnet, st.chain, st.deployment, st.actors, st.admin);
        let dir =
            std::env::temp_dir().join(format!("carekiosk-visit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = Stack {
            devnet,
            chain,
            d,
            actors,
            admin,
            dir,
        };
        carekiosk_kiosk::local::register_local_kiosks(&s.chain, &mut s.d, &s.actors, "local")
            .await
            .unwrap();
        s.d.save(&s.dir.join("local.json")).unwrap();
        s
    }

    pub fn config(&self, role: KioskRole) -> KioskConfig {
        let mut c = KioskConfig::preset(role);
        c.manifest = self.dir.join("local.json");
        c.data_dir = self.dir.join(role.as_str());
        c
    }

    pub async fn kiosk(&self, role: KioskRole) -> Kiosk {
        let keys = KioskKeys::load_or_generate("local", role).unwrap();
        Kiosk::open_with(self.config(role), keys).await.unwrap()
    }

    /// The calldata of every transaction mined after block `after`, in order (a step's "one transaction").
    pub async fn inputs_since(&self, after: u64) -> Vec<alloy::primitives::Bytes> {
        use alloy::consensus::Transaction as _;
        use alloy::providers::Provider as _;
        let mut out = Vec::new();
        for b in after + 1..=self.chain.block_number().await.unwrap() {
            let block = self
                .chain
                .provider()
                .get_block_by_number(b.into())
                .full()
                .await
                .unwrap()
                .unwrap();
            out.extend(block.transactions.txns().map(|tx| tx.inner.input().clone()));
        }
        out
    }

    /// Stops the node and removes the kiosks' data.
    pub async fn stop(self) {
        self.devnet.stop().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static TAKEN: Mutex<[bool; 2]> = Mutex::new([false, false]);
static FREED: Condvar = Condvar::new();

/// Exclusive use of one of vpcd's readers by this test binary. Unlike `support::readers`, a reader that another
/// process keeps a card in (a `carekiosk up --virtual-card` on this machine, say) is skipped, not a failure.
pub struct Reader(usize);

impl Reader {
    /// The reader's name.
    pub fn name(&self) -> &'static str {
        support::READERS[self.0].0
    }
    /// The vpcd port a card connects to.
    pub fn port(&self) -> u16 {
        support::READERS[self.0].1
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        support::wait_card(self.name(), false, Duration::from_secs(3));
        TAKEN.lock().unwrap_or_else(|e| e.into_inner())[self.0] = false;
        FREED.notify_all();
    }
}

/// An empty reader, waiting (up to two minutes) while this binary's other tests or another process use them.
pub fn reader() -> Reader {
    support::require_pcscd();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        // The second reader first: `carekiosk up --virtual-card` and `carekiosk demo` use the first one.
        for (i, (name, _)) in support::READERS.iter().enumerate().rev() {
            if !taken[i] && support::wait_card(name, false, Duration::from_millis(200)) {
                taken[i] = true;
                return Reader(i);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no empty vpcd reader: another process keeps a card in them (ss -tnp | grep 3596)"
        );
        taken = FREED
            .wait_timeout(taken, Duration::from_millis(500))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// A virtual blank card in a free vpcd reader.
pub fn blank_card() -> (Reader, Sim) {
    let slot = reader();
    let sim = Sim::start(SimConfig::in_memory(slot.port())).unwrap();
    assert!(
        support::wait_card(slot.name(), true, Duration::from_secs(5)),
        "the virtual card is in the reader"
    );
    (slot, sim)
}

pub fn confirmed(s: &Submitted) {
    assert!(matches!(s, Submitted::Confirmed { .. }), "{s:?}");
}

/// A patient registered at reception onto the blank card in `slot` (which grants the hospital consent).
pub async fn registered(st: &Stack, slot: &Reader) -> (Kiosk, PatientSession) {
    let reception_kiosk = st.kiosk(KioskRole::Reception).await;
    let card = PatientCard::open(slot.name()).unwrap();
    let new = reception::NewPatient {
        name: NAME.into(),
        birth_date: BIRTH.into(),
        gender: "female".into(),
        admin_pin: Pin::new(ADMIN_PIN),
        pin: Pin::new(PIN),
    };
    let s = reception::register_patient(&reception_kiosk, card, new)
        .await
        .unwrap();
    (reception_kiosk, s)
}

/// Validates `resources` with the independent FHIR R4 validator (`tests/fhir/validate.py`, fhir.resources 6.4.0 in
/// the venv `scripts/setup.sh` installs at `tests/fhir/.venv`; `CAREKIOSK_FHIR_PYTHON` names another interpreter).
/// Fails the test when one is invalid, or when the validator cannot run (never skipped).
pub fn fhir_valid(label: &str, resources: &[serde_json::Value]) {
    assert!(!resources.is_empty(), "{label}: nothing to validate");
    let python = std::env::var("CAREKIOSK_FHIR_PYTHON").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fhir/.venv/bin/python"
        )
        .to_string()
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fhir/validate.py");
    let file = std::env::temp_dir().join(format!(
        "carekiosk-fhir-{label}-{}.json",
        std::process::id()
    ));
    std::fs::write(&file, serde_json::to_vec(resources).unwrap()).unwrap();
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("the FHIR validator ({python}) cannot run: {e} — run scripts/setup.sh")
        });
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{label}: FHIR R4 validation failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The FHIR JSON of a resource.
pub fn json_of(r: &carekiosk_records::Resource) -> serde_json::Value {
    serde_json::from_slice(&r.to_json().unwrap()).unwrap()
}
