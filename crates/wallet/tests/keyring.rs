//! carekiosk-wallet against a real Secret Service. Run through the script, which provides one:
//!
//!     scripts/with-keyring.sh cargo test -p carekiosk-wallet
//!
//! Without a reachable keyring these tests fail (they do not skip).

use std::process::Command;

use carekiosk_wallet::*;

const NEED_KEYRING: &str = "these tests need a real OS keyring: run them as \
     `scripts/with-keyring.sh cargo test -p carekiosk-wallet`";

fn wallet() -> Wallet {
    Wallet::open().unwrap_or_else(|e| panic!("{e}\n{NEED_KEYRING}"))
}

/// A profile of its own per test and process, so tests never see each other's entries.
fn profile(test: &str) -> String {
    format!("t{}-{test}", std::process::id())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads the entry back with libsecret's own `secret-tool`, to prove the key is in the Secret Service itself.
fn secret_tool_lookup(account: &str) -> Option<String> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", SERVICE, "username", account])
        .output()
        .expect("secret-tool (apt-get install libsecret-tools)");
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

const ANVIL_0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

#[test]
fn signing_key_lifecycle() {
    let w = wallet();
    let p = profile("sign");
    let slot = w.signing_key(&p, "hospital").unwrap();
    assert_eq!(slot.account(), format!("{p}/hospital/signing-key"));
    assert!(slot.try_load().unwrap().is_none());
    let err = slot.load().unwrap_err();
    assert!(matches!(err, WalletError::NotFound { .. }), "{err}");
    assert!(
        err.to_string().contains("generate one or import it"),
        "{err}"
    );

    let k1 = slot.generate_or_load().unwrap();
    let k2 = slot.generate_or_load().unwrap();
    assert_eq!(
        k1.secret_bytes(),
        k2.secret_bytes(),
        "generated once, then loaded"
    );
    assert_eq!(k1.address(), k2.address());
    assert_eq!(slot.load().unwrap().address(), k1.address());
    // A fresh handle (as after a restart) finds the same key.
    let again = wallet()
        .signing_key(&p, "hospital")
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(again.address(), k1.address());
    // It really is in the Secret Service, as 64 hex characters.
    assert_eq!(
        secret_tool_lookup(slot.account()).as_deref(),
        Some(hex(k1.secret_bytes()).as_str())
    );
    // Another role is another key.
    let other = w
        .signing_key(&p, "pharmacy")
        .unwrap()
        .generate_or_load()
        .unwrap();
    assert_ne!(other.address(), k1.address());

    assert!(slot.delete().unwrap());
    assert!(!slot.delete().unwrap());
    assert!(slot.try_load().unwrap().is_none());
    assert_eq!(secret_tool_lookup(slot.account()), None);
    w.signing_key(&p, "pharmacy").unwrap().delete().unwrap();
}

#[test]
fn import_is_idempotent_and_never_overwrites() {
    let w = wallet();
    let p = profile("import");
    let slot = w.signing_key(&p, "insurer").unwrap();
    let k = slot.import_hex(ANVIL_0).unwrap();
    assert_eq!(
        k.address_checksummed(),
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    );
    // The same key again (another spelling): fine.
    let k2 = slot
        .import_hex(&ANVIL_0.to_uppercase().replace("0X", ""))
        .unwrap();
    assert_eq!(k2.address(), k.address());
    // A different key: refused, and the stored key is unchanged.
    let err = slot
        .import_hex("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
        .unwrap_err();
    assert!(matches!(err, WalletError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    assert_eq!(slot.load().unwrap().address(), k.address());
    // Bad input: refused, and never echoed.
    let secretish = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff8";
    let err = w
        .signing_key(&p, "other")
        .unwrap()
        .import_hex(secretish)
        .unwrap_err();
    assert!(matches!(err, WalletError::InvalidKey { .. }), "{err}");
    assert!(!err.to_string().contains(secretish) && !format!("{err:?}").contains(secretish));
    let err = w
        .signing_key(&p, "other")
        .unwrap()
        .import_hex(&"00".repeat(32))
        .unwrap_err();
    assert!(matches!(err, WalletError::InvalidKey { .. }), "{err}");
    assert!(w
        .signing_key(&p, "other")
        .unwrap()
        .try_load()
        .unwrap()
        .is_none());
    slot.delete().unwrap();
}

#[test]
fn record_and_database_keys() {
    let w = wallet();
    let p = profile("rk");
    let rslot = w.record_key(&p, "hospital").unwrap();
    let r1 = rslot.generate_or_load().unwrap();
    let r2 = rslot.load().unwrap();
    assert_eq!(r1.public_key_sec1(), r2.public_key_sec1());
    assert_eq!(r1.public_key_sec1()[0], 0x04);
    assert_eq!(rslot.account(), format!("{p}/hospital/record-key"));

    let dslot = w.database_key(&p, "hospital").unwrap();
    let d1 = dslot.generate_or_load().unwrap();
    assert_eq!(
        dslot.generate_or_load().unwrap().secret_bytes(),
        d1.secret_bytes()
    );
    assert_ne!(d1.secret_bytes(), r1.secret_bytes());
    let imported = w
        .database_key(&p, "pharmacy")
        .unwrap()
        .import_hex(&"11".repeat(32))
        .unwrap();
    assert_eq!(imported.secret_bytes(), &[0x11; 32]);
    // Same profile and role, three different entries.
    let sk = w
        .signing_key(&p, "hospital")
        .unwrap()
        .generate_or_load()
        .unwrap();
    assert_ne!(sk.secret_bytes(), d1.secret_bytes());
    for slot_delete in [
        rslot.delete(),
        dslot.delete(),
        w.database_key(&p, "pharmacy").unwrap().delete(),
        w.signing_key(&p, "hospital").unwrap().delete(),
    ] {
        assert!(slot_delete.unwrap());
    }
}

#[test]
fn a_foreign_entry_is_reported_as_corrupt() {
    let w = wallet();
    let p = profile("corrupt");
    let slot = w.signing_key(&p, "hospital").unwrap();
    let status = Command::new("sh")
        .args([
            "-c",
            &format!(
                "printf not-a-key | secret-tool store --label=x service {SERVICE} username {}",
                slot.account()
            ),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let err = slot.load().unwrap_err();
    assert!(matches!(err, WalletError::Corrupt { .. }), "{err}");
    assert!(!err.to_string().contains("not-a-key"), "{err}");
    assert!(slot.delete().unwrap());
}

#[test]
fn keys_never_reach_the_disk_in_clear() {
    let w = wallet();
    let p = profile("disk");
    let keys = [
        *w.signing_key(&p, "hospital")
            .unwrap()
            .generate_or_load()
            .unwrap()
            .secret_bytes(),
        *w.record_key(&p, "hospital")
            .unwrap()
            .generate_or_load()
            .unwrap()
            .secret_bytes(),
        *w.database_key(&p, "hospital")
            .unwrap()
            .generate_or_load()
            .unwrap()
            .secret_bytes(),
    ];
    // gnome-keyring's files (given by with-keyring.sh), and the whole temp HOME it set up.
    let dir = std::env::var("CAREKIOSK_TEST_KEYRING_DIR").expect(NEED_KEYRING);
    let home = std::path::Path::new(&dir)
        .ancestors()
        .nth(3)
        .unwrap()
        .to_path_buf();
    let mut files = 0;
    let mut stack = vec![home];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                files += 1;
                for k in &keys {
                    let h = hex(k);
                    assert!(
                        !bytes.windows(32).any(|w| w == k)
                            && !bytes.windows(64).any(|w| w == h.as_bytes()),
                        "key material found in {}",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(files > 0, "gnome-keyring wrote no files under {dir}");
    for d in [
        w.signing_key(&p, "hospital").unwrap().delete(),
        w.record_key(&p, "hospital").unwrap().delete(),
        w.database_key(&p, "hospital").unwrap().delete(),
    ] {
        d.unwrap();
    }
}

#[test]
fn many_threads() {
    let w = wallet();
    let p = profile("threads");
    let addrs: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let (w, p) = (w.clone(), p.clone());
                s.spawn(move || {
                    let slot = w.signing_key(&p, &format!("role{i}")).unwrap();
                    let a = slot.generate_or_load().unwrap().address();
                    assert_eq!(slot.load().unwrap().address(), a);
                    slot.delete().unwrap();
                    a
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(addrs.len(), 4);
    assert!(addrs
        .iter()
        .enumerate()
        .all(|(i, a)| addrs[i + 1..].iter().all(|b| b != a)));
}

#[test]
fn bad_names_are_refused() {
    let w = wallet();
    let err = w.signing_key("local", "../x").unwrap_err();
    assert!(
        matches!(err, WalletError::InvalidName { field: "role", .. }),
        "{err}"
    );
    assert!(w.database_key("", "hospital").is_err());
}

const NO_BUS_CHILD: &str = "CAREKIOSK_WALLET_NO_BUS_CHILD";

/// Runs in a child process with no reachable D-Bus (see below).
#[test]
fn no_keyring_child() {
    if std::env::var_os(NO_BUS_CHILD).is_some() {
        match Wallet::open() {
            Ok(_) => println!("RESULT opened"),
            Err(e) => println!("RESULT {e}"),
        }
    }
}

#[test]
fn without_a_keyring_the_error_says_what_to_do() {
    // This very test binary again, with the session bus pointing nowhere.
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "no_keyring_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NO_BUS_CHILD, "1")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/carekiosk/bus",
        )
        .env("XDG_RUNTIME_DIR", "/nonexistent/carekiosk")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("child printed no result: {stdout}"));
    assert!(
        line.starts_with(
            "no OS keyring: start a desktop session or gnome-keyring-daemon; see README"
        ),
        "{line}"
    );
}

const LOCKED_CHILD: &str = "CAREKIOSK_WALLET_LOCKED_CHILD";

/// Runs in a child process inside a fresh D-Bus session whose keyring nobody unlocked (see below).
#[test]
fn locked_keyring_child() {
    if std::env::var_os(LOCKED_CHILD).is_some() {
        let result = Wallet::open()
            .and_then(|w| w.signing_key("locked", "hospital")?.generate_or_load())
            .map(|k| k.address_checksummed());
        match result {
            Ok(a) => println!("RESULT stored {a}"),
            Err(e) => println!("RESULT {e}"),
        }
    }
}

#[test]
fn a_locked_keyring_says_unlock_it() {
    // A second, private session: D-Bus activation starts gnome-keyring there, but no login keyring is unlocked.
    let home = std::env::temp_dir().join(format!("carekiosk-locked-{}", std::process::id()));
    let run = home.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let out = Command::new("dbus-run-session")
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "locked_keyring_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LOCKED_CHILD, "1")
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &run)
        .output()
        .expect("dbus-run-session (apt-get install dbus)");
    std::fs::remove_dir_all(&home).ok();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("child printed no result: {stdout}"));
    assert!(
        line.starts_with("the OS keyring is locked or refused access: unlock it"),
        "{line}"
    );
}
