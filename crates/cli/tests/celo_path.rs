//! The deployment path as a hospital's IT walks it, end to end, on a Celo-like chain on this machine: Anvil with
//! Celo's rules (OP stack, Isthmus, 1 s blocks, the 25 gwei base-fee floor) and Celo Sepolia's chain id, behind
//! a JSON-RPC proxy with a public node's mild manners (an `eth_getLogs` range cap of 500 blocks, latency and
//! jitter). Every step is the `carekiosk` binary run exactly as the README's "Deploying on Celo" section shows
//! it, in the same order: deploy (dry run, then for real), three institutions registered, four kiosks enrolled
//! and funded for gas by real transfers, record keys published, test token minted and escrow funded, then a
//! whole visit with a (virtual) patient card — registration, check-in, diagnosis, prescription, claim, the
//! insurer's approval and payment, dispensing — and at the end the chain itself is read: the claim is paid, the
//! hospital holds the money, the prescription is dispensed.
//!
//! Needs pcscd with vpcd (started here if it is not running) and a Secret Service: run it as
//! `flock -o /tmp/carekiosk-vpcd.lock bash scripts/with-keyring.sh cargo test -p carekiosk-cli --test celo_path`
//! (scripts/test.sh runs it inside its keyring session with the workspace tests).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use carekiosk_celo_like::{CeloLike, DevnetOptions, ProxyConfig, CELO_SEPOLIA_CHAIN_ID};
use carekiosk_chain::{Chain, Deployment, GasPolicy};

/// The patient's PIN and the blank card's factory admin PIN (the virtual card's, as a new card's).
const PIN: &str = "482916";
const ADMIN_PIN: &str = "12345678";

fn hex(k: &PrivateKeySigner) -> String {
    alloy::hex::encode(k.to_bytes())
}

fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

/// Runs `c` to its end, or kills it after `limit` and fails with what it printed: a step that hangs (a node that
/// stops answering, a card reader taken by another run) fails the test instead of holding it forever.
fn output_within(c: &mut Command, limit: Duration) -> std::process::Output {
    use std::io::Read;
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe_out = child.stdout.take().unwrap();
    let mut pipe_err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = pipe_out.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = pipe_err.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let (o, e) = (out.join().unwrap(), err.join().unwrap());
            panic!(
                "{c:?} still running after {limit:?}: killed. It printed:\n{}{}",
                String::from_utf8_lossy(&o),
                String::from_utf8_lossy(&e)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// One step's time limit: a few blocks' worth of transactions at 1 s blocks, with room to spare.
const STEP_LIMIT: Duration = Duration::from_secs(60);

/// The README's commands: `carekiosk <args> --profile <file> --manifest <file>` with the keys it names in the
/// environment. Asserts success, returns stdout.
struct Cli {
    profile: PathBuf,
    manifest: PathBuf,
    dir: PathBuf,
    started: Instant,
}

impl Cli {
    fn run(&self, args: &[&str], env: &[(&str, String)]) -> String {
        let t = Instant::now();
        let mut c = Command::new(env!("CARGO_BIN_EXE_carekiosk"));
        c.args(args)
            .arg("--profile")
            .arg(&self.profile)
            .arg("--manifest")
            .arg(&self.manifest)
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let o = output_within(&mut c, STEP_LIMIT);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(o.status.success(), "carekiosk {args:?} failed:\n{out}{err}");
        eprintln!(
            "[{:>6.1} s] carekiosk {} ({:.1} s)",
            self.started.elapsed().as_secs_f64(),
            args.join(" "),
            t.elapsed().as_secs_f64()
        );
        out
    }

    /// A kiosk command of `role`'s desk: its data folder, the patient's PINs in the environment.
    fn desk(&self, role: &str, args: &[&str]) -> String {
        let data = self.data_dir(role);
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--data-dir", data.to_str().unwrap()]);
        self.run(
            &all,
            &[
                ("CAREKIOSK_PIN", PIN.to_string()),
                ("CAREKIOSK_ADMIN_PIN", ADMIN_PIN.to_string()),
            ],
        )
    }

    fn data_dir(&self, role: &str) -> PathBuf {
        self.dir.join("data").join(role)
    }
}

/// The profile file a hospital's IT writes for a Celo network: its RPC URL and chain id, EIP-1559 gas at Celo's
/// 25 gwei floor, the test stablecoin, and no governance delay (a trial deployment; production keeps two days).
fn profile_file(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("celo-like.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"celo-like\"\nchain_id = {CELO_SEPOLIA_CHAIN_ID}\nrpc_url = \"{url}\"\n\
             governance_delay_secs = 0\n\n\
             [gas]\nkind = \"eip1559\"\nbase_fee_floor_wei = 25000000000\npriority_fee_wei = 1000000000\n\n\
             [token]\naddress = \"\"\nsymbol = \"tUSD\"\ndecimals = 18\n"
        ),
    )
    .unwrap();
    path
}

/// pcscd with vpcd's readers, started unless one runs (the script waits until vpcd listens).
fn pcscd() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pcscd.sh");
    let o = output_within(
        Command::new("bash").arg(&script).arg("start"),
        Duration::from_secs(30),
    );
    assert!(
        o.status.success(),
        "pcscd: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_enrol_fund_and_a_whole_visit_on_a_celo_like_chain() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "the kiosk keys live in the OS keyring: run this test inside scripts/with-keyring.sh"
    );
    pcscd();
    let started = Instant::now();
    // Celo's rules, Celo Sepolia's id; a public node's manners, not its worst day (the load run does that).
    let celo = CeloLike::start_with(
        DevnetOptions::celo_like(CELO_SEPOLIA_CHAIN_ID),
        0,
        ProxyConfig {
            get_logs_max_range: Some(500),
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(20),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let dir = std::env::temp_dir().join(format!("carekiosk-celo-path-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cli = Cli {
        profile: profile_file(&dir, celo.url()),
        manifest: dir.join("celo-like.json"),
        dir: dir.clone(),
        started,
    };
    // The faucet: the deployer's only CELO. Everyone else is paid by real transfers from it (`admin fund-gas`).
    let deployer = PrivateKeySigner::random();
    let node = Chain::connect(celo.node_url(), GasPolicy::PAPER, vec![])
        .await
        .unwrap();
    node.devnet_set_balance(deployer.address(), ether(20))
        .await
        .unwrap();
    let (hospital, pharmacy, insurer) = (
        PrivateKeySigner::random(),
        PrivateKeySigner::random(),
        PrivateKeySigner::random(),
    );
    let as_deployer = [("CAREKIOSK_DEPLOYER_KEY", hex(&deployer))];
    let as_admin = [("CAREKIOSK_ADMIN_KEY", hex(&deployer))];
    let as_funder = [("CAREKIOSK_FUNDER_KEY", hex(&deployer))];

    // 1. Deploy: the plan and its cost first, nothing sent; then for real.
    let plan = cli.run(&["deploy", "--dry-run"], &as_deployer);
    assert!(
        plan.contains("dry run: nothing was sent") && plan.contains("CELO"),
        "{plan}"
    );
    assert!(!plan.contains("NOT enough"), "{plan}");
    assert!(!cli.manifest.exists());
    let out = cli.run(&["deploy"], &as_deployer);
    let d = Deployment::load(&cli.manifest).unwrap();
    assert_eq!(d.chain_id, CELO_SEPOLIA_CHAIN_ID);
    assert_eq!(d.admin, deployer.address());
    assert!(
        out.contains(&d.contracts.patient_smart_card.to_string()),
        "{out}"
    );

    // 2. The three institutions, registered by the governance admin (the deployer).
    for (role, who, shown) in [
        ("hospital", &hospital, "Hospital"),
        ("pharmacy", &pharmacy, "Pharmacy"),
        ("insurer", &insurer, "Insurer"),
    ] {
        let a = who.address().to_string();
        let out = cli.run(
            &[
                "admin",
                "register-institution",
                "--role",
                role,
                "--address",
                &a,
            ],
            &as_admin,
        );
        assert!(out.contains(&format!("registered as {shown}")), "{out}");
    }

    // 3. Gas for the institutions: a real transfer each (an amount that is not one is refused first).
    let mut o = Command::new(env!("CARGO_BIN_EXE_carekiosk"));
    o.args(["admin", "fund-gas", "--to"])
        .arg(hospital.address().to_string())
        .args(["--amount", "one"])
        .arg("--profile")
        .arg(&cli.profile)
        .arg("--manifest")
        .arg(&cli.manifest)
        .env("CAREKIOSK_FUNDER_KEY", hex(&deployer));
    let o = output_within(&mut o, STEP_LIMIT);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("\"one\" is not an amount"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for who in [&hospital, &pharmacy, &insurer] {
        let a = who.address().to_string();
        let out = cli.run(
            &["admin", "fund-gas", "--to", &a, "--amount", "1"],
            &as_funder,
        );
        assert!(out.contains("1 CELO sent to"), "{out}");
        assert_eq!(node.balance(who.address()).await.unwrap(), ether(1));
    }

    // 4. The kiosks: each desk's address (from this machine's keyring, under the profile and data folder the
    // desk uses), gas for it, the institution's offer, the kiosk's acceptance.
    let desks = [
        ("reception", &hospital),
        ("doctor", &hospital),
        ("pharmacy", &pharmacy),
        ("insurer", &insurer),
    ];
    let mut kiosks: Vec<Address> = Vec::new();
    for (role, institution) in desks {
        let data = cli.data_dir(role);
        let out = cli.run(
            &[
                "--json",
                "admin",
                "kiosk-address",
                "--role",
                role,
                "--data-dir",
                data.to_str().unwrap(),
            ],
            &[],
        );
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["profile"], "celo-like", "{v}");
        let kiosk: Address = v["kiosk"].as_str().unwrap().parse().unwrap();
        assert!(!kiosks.contains(&kiosk), "one key per desk");
        kiosks.push(kiosk);
        let k = kiosk.to_string();
        let out = cli.run(
            &["admin", "fund-gas", "--to", &k, "--amount", "0.5"],
            &as_funder,
        );
        assert!(out.contains("0.5 CELO sent to"), "{out}");
        let out = cli.run(
            &["admin", "add-kiosk", "--kiosk", &k],
            &[("CAREKIOSK_INSTITUTION_KEY", hex(institution))],
        );
        assert!(out.contains("kiosk offered"), "{out}");
        let inst = institution.address().to_string();
        let out = cli.run(
            &[
                "admin",
                "accept-kiosk",
                "--role",
                role,
                "--institution",
                &inst,
                "--data-dir",
                data.to_str().unwrap(),
            ],
            &[],
        );
        assert!(out.contains("kiosk accepted its institution"), "{out}");
        assert_eq!(
            node.hub(&d).kioskInstitution(kiosk).call().await.unwrap(),
            institution.address(),
            "{role}'s kiosk belongs to its institution"
        );
    }

    // 5. Each institution publishes its record key (its desk's, from the keyring) on chain.
    for (role, institution) in [
        ("doctor", &hospital),
        ("pharmacy", &pharmacy),
        ("insurer", &insurer),
    ] {
        let out = cli.run(
            &["admin", "record-key", "--role", role],
            &[("CAREKIOSK_INSTITUTION_KEY", hex(institution))],
        );
        assert!(out.contains("record key published"), "{out}");
        assert_eq!(
            node.hub(&d)
                .recordKeyOf(institution.address())
                .call()
                .await
                .unwrap()
                .len(),
            33
        );
    }

    // 6. The insurer's escrow: test tokens minted to it by the deployer (the token's minter), funded by it.
    let i = insurer.address().to_string();
    let out = cli.run(
        &["admin", "mint", "--to", &i, "--amount", "1000"],
        &as_admin,
    );
    assert!(out.contains("1000 tUSD minted to"), "{out}");
    let out = cli.run(
        &["admin", "fund-escrow", "--insurer", &i, "--amount", "500"],
        &[("CAREKIOSK_FUNDER_KEY", hex(&insurer))],
    );
    assert!(out.contains("escrow funded"), "{out}");
    assert_eq!(
        node.insurance(&d)
            .escrowOf(insurer.address())
            .call()
            .await
            .unwrap(),
        ether(500)
    );

    // 7. A whole visit, the patient's card in the reader (a virtual one here: blank, factory PINs).
    let sim = carekiosk_card_sim::Sim::start(carekiosk_card_sim::SimConfig::in_memory(
        carekiosk_card_sim::VPCD_PORT_0,
    ))
    .unwrap();
    assert!(
        sim.wait_connected(true, Duration::from_secs(5)),
        "the virtual card reached vpcd"
    );
    std::thread::sleep(Duration::from_millis(1000)); // pcscd polls its readers every 400 ms
    let reg = cli.desk(
        "reception",
        &[
            "reception",
            "register",
            "--name",
            "John Example",
            "--birth-date",
            "1970-01-02",
            "--gender",
            "male",
        ],
    );
    let pid = reg.split_whitespace().nth(1).unwrap().to_string();
    assert!(pid.starts_with("0x") && pid.len() == 66, "{reg}");
    let out = cli.desk(
        "insurer",
        &["insurer", "enroll", "--percent", "80", "--limit", "1000"],
    );
    assert!(out.contains("confirmed"), "{out}");
    let out = cli.desk("reception", &["reception", "check-in"]);
    assert!(out.contains("checked in: John Example"), "{out}");
    // The doctor's consultation: diagnosis, plan, prescription and claim in one transaction.
    let out = cli.desk(
        "doctor",
        &[
            "doctor",
            "consult",
            "--icd10",
            "J06.9",
            "--plan",
            "rest and fluids",
            "--rx",
            "N02BE01:20",
            "--item",
            "CONS:1:60",
            "--item",
            "LAB-BASIC:1:40",
            "--practitioner",
            "Dr. Example",
        ],
    );
    assert!(out.contains("confirmed"), "{out}");
    assert!(out.contains("prescription id 1"), "{out}");
    let out = cli.desk("insurer", &["insurer", "queue"]);
    assert!(out.contains("claim 1: Submitted"), "{out}");
    let out = cli.desk("insurer", &["insurer", "review", "--id", "1"]);
    assert!(out.contains("coverage 80 %"), "{out}");
    let out = cli.desk("insurer", &["insurer", "approve", "--id", "1"]);
    assert!(out.contains("confirmed"), "{out}");
    let out = cli.desk("insurer", &["insurer", "pay", "--id", "1"]);
    assert!(out.contains("confirmed"), "{out}");
    let out = cli.desk("insurer", &["insurer", "paid"]);
    assert!(out.contains("claim 1: Paid"), "{out}");
    let out = cli.desk("pharmacy", &["pharmacy", "list"]);
    assert!(out.contains("prescription 1 (ready"), "{out}");
    let out = cli.desk(
        "pharmacy",
        &["pharmacy", "dispense", "--id", "1", "--batch", "LOT-CELO-1"],
    );
    assert!(out.contains("confirmed"), "{out}");
    // The hospital's desk opens the insurer's decision, sealed for the record key the hospital put on chain.
    let out = cli.desk("doctor", &["doctor", "claims"]);
    assert!(
        out.contains(&format!("claim 1: Paid, approved {}", ether(80))),
        "{out}"
    );
    assert!(out.contains("\"resourceType\":\"ClaimResponse\""), "{out}");
    sim.stop();

    // 8. What the chain itself says.
    let claim = node
        .insurance(&d)
        .getClaimStatus(U256::from(1))
        .call()
        .await
        .unwrap();
    assert_eq!(claim.status, 4, "claim 1 is Paid on chain");
    assert_eq!(claim.hospital, hospital.address());
    assert_eq!(claim.insurer, insurer.address());
    assert_eq!(claim.claimed, ether(100), "60 + 40 tUSD claimed");
    assert_eq!(claim.approved, ether(80), "80 % covered");
    assert_eq!(
        node.token(&d)
            .balanceOf(hospital.address())
            .call()
            .await
            .unwrap(),
        ether(80),
        "the hospital was paid in the deployment's token"
    );
    assert_eq!(
        node.insurance(&d)
            .escrowOf(insurer.address())
            .call()
            .await
            .unwrap(),
        ether(420),
        "out of the insurer's escrow"
    );
    let rx = node
        .pharmacy(&d)
        .getPrescription(U256::from(1))
        .call()
        .await
        .unwrap();
    assert_eq!(
        rx.status, 2,
        "prescription 1 is Completed (dispensed) on chain"
    );
    assert_eq!(rx.dispensedBps, 10_000, "the whole prescription");
    // Everything went through the proxy: every transaction sent there, at or above Celo's floor.
    let stats = celo.proxy.stats();
    let sent = stats
        .calls_by_method
        .get("eth_sendRawTransaction")
        .copied()
        .unwrap_or(0);
    assert!(sent >= 40, "transactions through the proxy: {stats:?}");
    let latest = node.block_number().await.unwrap();
    let fee = node
        .provider()
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .unwrap()
        .unwrap()
        .header
        .base_fee_per_gas
        .unwrap();
    assert!(fee >= 25_000_000_000, "base fee {fee} at block {latest}");
    eprintln!(
        "{} HTTP requests, {sent} transactions, {} eth_getLogs range errors, {latest} blocks",
        stats.http_requests, stats.log_range_errors
    );
    // The kiosks paid their own gas, at Celo's floor, from what they were sent.
    for k in &kiosks {
        let left = node.balance(*k).await.unwrap();
        assert!(left < ether(1) / U256::from(2), "{k} paid gas");
    }
    let took = started.elapsed();
    eprintln!("the whole path took {:.1} s", took.as_secs_f64());
    assert!(took < Duration::from_secs(180), "bounded: {took:?}");
    celo.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}
