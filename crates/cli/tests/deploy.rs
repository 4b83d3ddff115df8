//! The deployment path a hospital's IT walks, against a real Anvil and no card reader: `deploy --dry-run` sends
//! nothing, an underfunded deployer is stopped before any transaction, an interrupted deployment resumes without
//! deploying anything twice, and the admin commands work on a deployment made from a profile *file* — minting the
//! test token, funding an insurer's escrow, enrolling the very kiosk key the kiosk then opens with — and refuse a
//! profile of another chain clearly.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use carekiosk_chain::devnet::{Devnet, DevnetOptions};
use carekiosk_chain::manifest::DeployProgress;
use carekiosk_chain::{Chain, Deployment, GasPolicy};

const CELO_SEPOLIA_ID: u64 = 11_142_220;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_carekiosk"))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("carekiosk-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn hex(k: &PrivateKeySigner) -> String {
    alloy::hex::encode(k.to_bytes())
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// A chain with Celo Sepolia's chain id and a funded (or not) deployer.
async fn chain_with_deployer(wei: U256) -> (Devnet, Chain, PrivateKeySigner) {
    let devnet = Devnet::start(DevnetOptions {
        chain_id: CELO_SEPOLIA_ID,
        ..Default::default()
    })
    .await
    .unwrap();
    let deployer = PrivateKeySigner::random();
    let chain = Chain::connect(&devnet.url, GasPolicy::PAPER, vec![deployer.clone()])
        .await
        .unwrap();
    chain
        .devnet_set_balance(deployer.address(), wei)
        .await
        .unwrap();
    (devnet, chain, deployer)
}

/// A profile file for the Celo-like chain: EIP-1559 at Celo's 25 gwei floor, the test stablecoin, no governance
/// delay (so institutions register at once), and optionally a real token instead.
fn profile_file(dir: &Path, name: &str, url: &str, token: Option<Address>) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let token = token.map(|t| t.to_string()).unwrap_or_default();
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\nchain_id = {CELO_SEPOLIA_ID}\nrpc_url = \"{url}\"\ngovernance_delay_secs = 0\n\n\
             [gas]\nkind = \"eip1559\"\nbase_fee_floor_wei = 25000000000\npriority_fee_wei = 1000000000\n\n\
             [token]\naddress = \"{token}\"\nsymbol = \"tUSD\"\ndecimals = 18\n"
        ),
    )
    .unwrap();
    path
}

fn deploy(profile: &Path, manifest: &Path, deployer: &PrivateKeySigner, extra: &[&str]) -> Output {
    bin()
        .arg("deploy")
        .arg("--profile")
        .arg(profile)
        .arg("--manifest")
        .arg(manifest)
        .args(extra)
        .env("CAREKIOSK_DEPLOYER_KEY", hex(deployer))
        .output()
        .unwrap()
}

fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_sends_nothing() {
    let (devnet, chain, deployer) = chain_with_deployer(ether(100)).await;
    let dir = temp_dir("dry-run");
    let profile = profile_file(&dir, "celo-like", &devnet.url, None);
    let manifest = dir.join("celo-like.json");
    let o = deploy(&profile, &manifest, &deployer, &["--dry-run"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for step in [
        "PatientSmartCard",
        "HospitalRecord",
        "PharmacyAccess",
        "TestStablecoin",
        "InsuranceProvider",
        "wire",
    ] {
        assert!(out.contains(step), "{step} in the plan: {out}");
    }
    assert!(out.contains("at most") && out.contains("CELO"), "{out}");
    assert!(out.contains("gwei per gas"), "{out}");
    assert!(out.contains("enough"), "{out}");
    assert!(out.contains("dry run: nothing was sent"), "{out}");
    // Nothing was sent, nothing was written.
    assert_eq!(chain.nonce(deployer.address(), true).await.unwrap(), 0);
    assert!(!manifest.exists());
    assert!(!DeployProgress::path_for(&manifest).exists());
    // The JSON plan: every step estimated by the node except the wiring (no hub yet), and the cost at Celo's
    // floor fee (max fee = 2 × 25 gwei + 1 gwei tip) per gas limit.
    let o = bin()
        .arg("--json")
        .arg("deploy")
        .arg("--profile")
        .arg(&profile)
        .arg("--manifest")
        .arg(&manifest)
        .arg("--dry-run")
        .env("CAREKIOSK_DEPLOYER_KEY", hex(&deployer))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    assert_eq!(v["maxFeePerGasWei"], "51000000000");
    for s in steps {
        let gas = s["gas"].as_u64().unwrap();
        assert!(gas > 21_000, "{s}");
        assert_eq!(
            s["estimated"].as_bool().unwrap(),
            s["step"] != "wire",
            "{s}"
        );
        let cost: u128 = s["costWei"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            cost,
            u128::from(s["gasLimit"].as_u64().unwrap()) * 51_000_000_000
        );
    }
    assert_eq!(v["enough"], true);
    assert_eq!(chain.nonce(deployer.address(), true).await.unwrap(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn an_underfunded_deployer_is_stopped_before_any_transaction() {
    // 0.01 CELO: far from a deployment's cost at 51 gwei per gas.
    let (devnet, chain, deployer) =
        chain_with_deployer(U256::from(10u64).pow(U256::from(16))).await;
    let dir = temp_dir("underfunded");
    let profile = profile_file(&dir, "celo-like", &devnet.url, None);
    let manifest = dir.join("celo-like.json");
    let o = deploy(&profile, &manifest, &deployer, &[]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success());
    let expected = format!(
        "the deployer {} has 0.01 CELO, the deployment needs about ",
        deployer.address()
    );
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("CELO: fund it"), "{err}");
    assert_eq!(chain.nonce(deployer.address(), true).await.unwrap(), 0);
    assert!(!manifest.exists() && !DeployProgress::path_for(&manifest).exists());
    // The dry run says the same without failing.
    let o = deploy(&profile, &manifest, &deployer, &["--dry-run"]);
    assert!(o.status.success());
    assert!(text(&o).contains("NOT enough"), "{}", text(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn an_interrupted_deployment_resumes_without_deploying_twice() {
    let (devnet, chain, deployer) = chain_with_deployer(ether(100)).await;
    let dir = temp_dir("resume");
    let profile = profile_file(&dir, "celo-like", &devnet.url, None);
    let manifest = dir.join("celo-like.json");
    let partial = DeployProgress::path_for(&manifest);
    // Interrupted right after the second contract.
    let o = deploy(
        &profile,
        &manifest,
        &deployer,
        &["--stop-after", "HospitalRecord"],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("run the same command again to resume"),
        "{}",
        text(&o)
    );
    assert!(!manifest.exists(), "no manifest for half a deployment");
    let progress = DeployProgress::load(&partial).unwrap().unwrap();
    let names: Vec<&str> = progress.contracts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["PatientSmartCard", "HospitalRecord"]);
    assert_eq!(chain.nonce(deployer.address(), true).await.unwrap(), 2);
    // The plan of the rest: two steps done, four to go.
    let o = deploy(&profile, &manifest, &deployer, &["--dry-run"]);
    let plan = text(&o);
    assert_eq!(plan.matches(" done").count(), 2, "{plan}");
    assert!(
        !plan.contains("fixed estimate"),
        "the hub exists now: its wiring is estimated by the node: {plan}"
    );
    // Another deployer's key cannot take it over.
    let other = PrivateKeySigner::random();
    let o = deploy(&profile, &manifest, &other, &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("is a deployment by"), "{}", text(&o));
    // Resumed: the rest only, the first two contracts kept.
    let o = deploy(&profile, &manifest, &deployer, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let d = Deployment::load(&manifest).unwrap();
    assert_eq!(d.contracts.patient_smart_card, progress.contracts[0].1);
    assert_eq!(d.contracts.hospital_record, progress.contracts[1].1);
    assert_eq!(d.profile, "celo-like");
    assert!(
        !partial.exists(),
        "the progress file is gone once the manifest is written"
    );
    // Six transactions in all: five contracts and the wiring, none twice.
    assert_eq!(chain.nonce(deployer.address(), true).await.unwrap(), 6);
    assert_eq!(
        d.contracts.pharmacy_access,
        deployer.address().create(2),
        "the third contract came from the third transaction"
    );
    assert_eq!(
        chain.hub(&d).hospitalRecord().call().await.unwrap(),
        d.contracts.hospital_record
    );
    assert_eq!(
        chain.hub(&d).insuranceProvider().call().await.unwrap(),
        d.contracts.insurance_provider
    );
    // Run again: already deployed, nothing sent.
    let o = deploy(&profile, &manifest, &deployer, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("already deployed"), "{}", text(&o));
    assert_eq!(chain.nonce(deployer.address(), true).await.unwrap(), 6);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn admin_commands_work_on_a_profile_file_and_refuse_a_mismatch() {
    let (devnet, chain, admin) = chain_with_deployer(ether(100)).await;
    let dir = temp_dir("admin-file");
    let profile = profile_file(&dir, "celo-like", &devnet.url, None);
    let manifest = dir.join("celo-like.json");
    let o = deploy(&profile, &manifest, &admin, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let d = Deployment::load(&manifest).unwrap();
    let admin_cmd = |args: &[&str], profile: Option<&Path>, env: &[(&str, String)]| {
        let mut c = bin();
        c.arg("admin").args(args).arg("--manifest").arg(&manifest);
        if let Some(p) = profile {
            c.arg("--profile").arg(p);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let insurer = PrivateKeySigner::random();
    let as_admin = [("CAREKIOSK_ADMIN_KEY", hex(&admin))];
    let register = [
        "register-institution",
        "--role",
        "insurer",
        "--address",
        &insurer.address().to_string(),
    ];
    // A deployment from a profile file: the manifest alone does not say where the file is.
    let o = admin_cmd(&register, None, &as_admin);
    assert_eq!(o.status.code(), Some(2), "a configuration error");
    assert!(
        text(&o).contains("not a built-in one: pass --profile"),
        "{}",
        text(&o)
    );
    // A profile of another chain: refused, naming both chain ids.
    let local = PathBuf::from("local");
    let o = admin_cmd(&register, Some(&local), &as_admin);
    assert_eq!(o.status.code(), Some(2), "a configuration error");
    let expected = format!(
        "manifest {} is for chain id {CELO_SEPOLIA_ID}, profile local is chain id 31337",
        manifest.display()
    );
    assert!(text(&o).contains(&expected), "{}", text(&o));
    // With the file: registered.
    let o = admin_cmd(&register, Some(&profile), &as_admin);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("registered as Insurer"), "{}", text(&o));
    // The test token: minted by its minter (the deployer) to the insurer, who funds its own escrow.
    let o = admin_cmd(
        &[
            "mint",
            "--to",
            &insurer.address().to_string(),
            "--amount",
            "500",
        ],
        Some(&profile),
        &as_admin,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        chain
            .token(&d)
            .balanceOf(insurer.address())
            .call()
            .await
            .unwrap(),
        ether(500)
    );
    let stranger = PrivateKeySigner::random();
    let o = admin_cmd(
        &[
            "mint",
            "--to",
            &insurer.address().to_string(),
            "--amount",
            "1",
        ],
        Some(&profile),
        &[("CAREKIOSK_ADMIN_KEY", hex(&stranger))],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("only the test stablecoin's minter"),
        "{}",
        text(&o)
    );
    chain
        .devnet_set_balance(insurer.address(), ether(1))
        .await
        .unwrap();
    let o = admin_cmd(
        &[
            "fund-escrow",
            "--insurer",
            &insurer.address().to_string(),
            "--amount",
            "200",
        ],
        Some(&profile),
        &[("CAREKIOSK_FUNDER_KEY", hex(&insurer))],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        chain
            .insurance(&d)
            .escrowOf(insurer.address())
            .call()
            .await
            .unwrap(),
        ether(200)
    );
    // A profile that pays in a real token: no minting, say what to do instead.
    let real = profile_file(&dir, "celo-like-cusd", &devnet.url, Some(d.contracts.token));
    let o = admin_cmd(
        &[
            "mint",
            "--to",
            &insurer.address().to_string(),
            "--amount",
            "1",
        ],
        Some(&real),
        &as_admin,
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is not the test stablecoin; buy it or transfer it"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The keyring helper of the wallet tests (a private D-Bus session with an unlocked gnome-keyring).
fn with_keyring() -> Option<PathBuf> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/with-keyring.sh");
    let tools = ["dbus-run-session", "gnome-keyring-daemon"];
    let present = tools.iter().all(|t| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {t}"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    present.then_some(script)
}

#[tokio::test]
async fn kiosk_address_is_the_key_the_kiosk_of_that_profile_opens_with() {
    let Some(keyring) = with_keyring() else {
        panic!("this test needs gnome-keyring and dbus (apt-get install -y gnome-keyring dbus dbus-x11)");
    };
    let (devnet, chain, admin) = chain_with_deployer(ether(100)).await;
    let dir = temp_dir("kiosk-key");
    let profile = profile_file(&dir, "celo-like", &devnet.url, None);
    let manifest = dir.join("celo-like.json");
    let o = deploy(&profile, &manifest, &admin, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let d = Deployment::load(&manifest).unwrap();
    let insurer = PrivateKeySigner::random();
    chain
        .devnet_set_balance(insurer.address(), ether(1))
        .await
        .unwrap();
    let o = bin()
        .args([
            "admin",
            "register-institution",
            "--role",
            "insurer",
            "--address",
        ])
        .arg(insurer.address().to_string())
        .arg("--profile")
        .arg(&profile)
        .arg("--manifest")
        .arg(&manifest)
        .env("CAREKIOSK_ADMIN_KEY", hex(&admin))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // In one keyring session: the kiosk address for the profile file (and for `local`, another key), then —
    // once the institution has offered it a place and it has gas — the kiosk accepts and opens as an insurer
    // desk with the same options.
    let exe = env!("CARGO_BIN_EXE_carekiosk");
    let opts = format!(
        "--profile '{}' --manifest '{}' --data-dir '{}'",
        profile.display(),
        manifest.display(),
        dir.join("data").display()
    );
    let script = format!(
        "set -e\n\
         '{exe}' --json admin kiosk-address --role insurer {opts}\n\
         '{exe}' --json admin kiosk-address --role insurer --profile local\n\
         read go\n\
         '{exe}' admin accept-kiosk --role insurer --institution {inst} {opts}\n\
         '{exe}' insurer queue {opts}\n\
         echo desk-opened\n",
        inst = insurer.address()
    );
    let mut child = Command::new(&keyring)
        .args(["bash", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let second: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["profile"], "celo-like", "{first}");
    assert_eq!(second["profile"], "local", "{second}");
    assert_ne!(first["kiosk"], second["kiosk"], "one key per profile");
    let kiosk: Address = first["kiosk"].as_str().unwrap().parse().unwrap();
    chain.devnet_set_balance(kiosk, ether(1)).await.unwrap();
    let o = bin()
        .args(["admin", "add-kiosk", "--kiosk"])
        .arg(kiosk.to_string())
        .arg("--profile")
        .arg(&profile)
        .arg("--manifest")
        .arg(&manifest)
        .env("CAREKIOSK_INSTITUTION_KEY", hex(&insurer))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{rest:?} {err}");
    assert!(rest.iter().any(|l| l == "desk-opened"), "{rest:?} {err}");
    assert_eq!(
        chain.hub(&d).kioskInstitution(kiosk).call().await.unwrap(),
        insurer.address(),
        "the enrolled address is the desk's key"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
