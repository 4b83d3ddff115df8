//! Malformed kiosk-config files, fuzzed: the role presets (`kiosk-config/roles/*.toml`, read by
//! `KioskConfig::parse`), the network profiles (`kiosk-config/profiles/*.toml`, `Profile::parse`) and the
//! deployment manifests (`kiosk-config/deployments/*.json`, `Deployment::parse`/`load`).
//!
//! Whatever the bytes, parsing returns a value or a configuration error that names the file and, for a bad key
//! or value, the key or its line; it never panics and never overflows the stack. Typos in key names are errors,
//! not silent defaults (a profile whose `rpc_url` is misspelt must not quietly start a local chain).
//!
//! Bounded for CI: proptest's default of 256 cases per property (`PROPTEST_CASES` raises it for a long run).

use std::path::Path;

use alloy::primitives::Address;
use carekiosk_chain::bindings::Role;
use carekiosk_chain::manifest::{Contracts, InstitutionEntry};
use carekiosk_chain::{ChainError, Deployment, Profile};
use carekiosk_kiosk::{KioskConfig, KioskError, KioskRole};
use proptest::prelude::*;

const PRESETS: [&str; 4] = [
    include_str!("../../../kiosk-config/roles/reception.toml"),
    include_str!("../../../kiosk-config/roles/doctor.toml"),
    include_str!("../../../kiosk-config/roles/pharmacy.toml"),
    include_str!("../../../kiosk-config/roles/insurer.toml"),
];

const PROFILES: [&str; 3] = [
    include_str!("../../../kiosk-config/profiles/local.toml"),
    include_str!("../../../kiosk-config/profiles/celo-sepolia.toml"),
    include_str!("../../../kiosk-config/profiles/celo.toml"),
];

const ORIGIN: &str = "fuzzed/kiosk.toml";

/// A manifest like the ones `carekiosk up`/`deploy` write (the committed tree has none: they are per machine).
fn manifest_text() -> String {
    let a = |n: u8| Address::repeat_byte(n);
    let d = Deployment {
        profile: "local".into(),
        chain_id: 31337,
        rpc_url: "http://127.0.0.1:8545".into(),
        block: 15,
        admin: a(1),
        contracts: Contracts {
            patient_smart_card: a(2),
            hospital_record: a(3),
            pharmacy_access: a(4),
            insurance_provider: a(5),
            token: a(6),
        },
        deploy_gas: vec![("PatientSmartCard".into(), 2_658_381)],
        institutions: vec![InstitutionEntry {
            name: "Demo Hospital".into(),
            role: Role::Hospital,
            address: a(7),
            id: 1,
            kiosks: vec![a(8), a(9)],
            record_key: "04ab".into(),
        }],
    };
    serde_json::to_string_pretty(&d).expect("a manifest serialises")
}

/// Parses a role preset; on error, checks the error is a configuration error naming the file.
fn kiosk(text: &str) -> Result<KioskConfig, String> {
    match KioskConfig::parse(text, ORIGIN) {
        Ok(c) => Ok(c),
        Err(KioskError::Config { path, reason }) => {
            assert_eq!(path, ORIGIN, "the error names the file");
            assert!(!reason.trim().is_empty(), "the error says what is wrong");
            Err(reason)
        }
        Err(other) => panic!("a bad preset must be a configuration error, got {other:?}"),
    }
}

fn profile(text: &str) -> Result<Profile, String> {
    match Profile::parse(text, ORIGIN) {
        Ok(p) => Ok(p),
        Err(ChainError::Config { path, reason }) => {
            assert_eq!(path, ORIGIN, "the error names the file");
            assert!(!reason.trim().is_empty(), "the error says what is wrong");
            Err(reason)
        }
        Err(other) => panic!("a bad profile must be a configuration error, got {other:?}"),
    }
}

fn manifest(text: &str) -> Result<Deployment, String> {
    match Deployment::parse(text, "fuzzed/local.json") {
        Ok(d) => Ok(d),
        Err(ChainError::Config { path, reason }) => {
            assert_eq!(path, "fuzzed/local.json", "the error names the file");
            assert!(!reason.trim().is_empty(), "the error says what is wrong");
            Err(reason)
        }
        Err(other) => panic!("a bad manifest must be a configuration error, got {other:?}"),
    }
}

/// What an accepted preset must satisfy.
fn check_kiosk(c: &KioskConfig) {
    assert!(KioskRole::ALL.contains(&c.role));
    assert!(!c.profile.is_empty(), "a profile to run on");
    assert!(!c.manifest.as_os_str().is_empty());
    assert!(
        c.idle_timeout_secs > 0,
        "an idle timeout of zero would lock the screen at once"
    );
}

/// What an accepted profile must satisfy (`Profile::parse`'s own checks).
fn check_profile(p: &Profile) {
    assert!(!p.name.is_empty());
    assert_ne!(p.chain_id, 0);
    assert!(
        p.rpc_url.is_empty()
            || p.rpc_url.starts_with("http://")
            || p.rpc_url.starts_with("https://")
    );
}

/// One edit of a text: where (a fraction of its length), what, and with which bytes.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Replace(usize, char),
    Truncate(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let junk = prop_oneof![
        "[ -~]{1,12}",
        Just("\"".to_string()),
        Just("[".to_string()),
        Just("]]".to_string()),
        Just("=".to_string()),
        Just("\n".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{feff}".to_string()),
        Just("é".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551616".to_string()),
        Just("1e400".to_string()),
        Just("nan".to_string()),
        Just("{".to_string()),
        Just("'''".to_string()),
    ];
    prop_oneof![
        (any::<usize>(), 1usize..16).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), junk).prop_map(|(a, s)| Edit::Insert(a, s)),
        (any::<usize>(), any::<char>()).prop_map(|(a, c)| Edit::Replace(a, c)),
        any::<usize>().prop_map(Edit::Truncate),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

/// The nearest char boundary at or before `at % (len + 1)`.
fn boundary(s: &str, at: usize) -> usize {
    let mut i = at % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut s = text.to_string();
    for e in edits {
        match e {
            Edit::Delete(at, n) => {
                let a = boundary(&s, *at);
                let b = boundary(&s, (a + n).min(s.len()));
                let b = if b < a { a } else { b };
                s.replace_range(a..b, "");
            }
            Edit::Insert(at, junk) => {
                let a = boundary(&s, *at);
                s.insert_str(a, junk);
            }
            Edit::Replace(at, c) => {
                if s.is_empty() {
                    s.push(*c);
                    continue;
                }
                let a = boundary(&s, *at % s.len());
                let end = a + s[a..].chars().next().map_or(0, char::len_utf8);
                s.replace_range(a..end, &c.to_string());
            }
            Edit::Truncate(at) => {
                let a = boundary(&s, *at);
                s.truncate(a);
            }
            Edit::DuplicateLine(at) => {
                let mut lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let i = at % lines.len();
                    lines.insert(i, lines[i]);
                }
                s = lines.join("\n");
            }
            Edit::SwapLines(a, b) => {
                let mut lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let n = lines.len();
                    lines.swap(a % n, b % n);
                }
                s = lines.join("\n");
            }
        }
    }
    s
}

/// A TOML value of any type, for putting where another type is expected.
fn wrong_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"\"".to_string()),
        "\"[a-z0-9 ]{0,10}\"".prop_map(|s| s),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("-1".to_string()),
        Just("18446744073709551616".to_string()),
        Just("3.5".to_string()),
        Just("inf".to_string()),
        Just("true".to_string()),
        Just("[]".to_string()),
        Just("[1, \"a\"]".to_string()),
        Just("{ a = 1 }".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
    ]
}

/// Replaces the value of `key` (first `key = …` line) in a TOML text.
fn set_value(text: &str, key: &str, value: &str) -> String {
    let mut done = false;
    text.lines()
        .map(|l| {
            if !done && l.trim_start().starts_with(&format!("{key} =")) {
                done = true;
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `value` is an acceptable value for a preset's `key` (so the mutation is not malformed).
fn kiosk_value_ok(key: &str, value: &str) -> bool {
    match key {
        "role" => ["\"reception\"", "\"doctor\"", "\"pharmacy\"", "\"insurer\""].contains(&value),
        "reader" => value.starts_with('"'),
        "idle_timeout_secs" => value.parse::<u64>().is_ok_and(|n| n > 0),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any bytes at all: a value or a clear error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(c) = kiosk(&text) { check_kiosk(&c) }
        if let Ok(p) = profile(&text) { check_profile(&p) }
        let _ = manifest(&text);
    }

    /// The shipped presets with a few random edits: a value that passes the checks, or a clear error.
    #[test]
    fn edited_presets_parse_or_fail_clearly(which in 0usize..4, edits in proptest::collection::vec(edit(), 1..5)) {
        let text = apply(PRESETS[which], &edits);
        if let Ok(c) = kiosk(&text) { check_kiosk(&c) }
    }

    #[test]
    fn edited_profiles_parse_or_fail_clearly(which in 0usize..3, edits in proptest::collection::vec(edit(), 1..5)) {
        let text = apply(PROFILES[which], &edits);
        if let Ok(p) = profile(&text) { check_profile(&p) }
    }

    #[test]
    fn edited_manifests_parse_or_fail_clearly(edits in proptest::collection::vec(edit(), 1..5)) {
        let text = apply(&manifest_text(), &edits);
        if let Ok(d) = manifest(&text) {
            // Whatever survived the edits is a complete manifest.
            prop_assert_ne!(d.contracts.patient_smart_card, Address::ZERO);
        }
    }

    /// A value of the wrong type or range for a preset key: an error that points at the key or its line.
    #[test]
    fn preset_with_a_wrong_value_names_the_key(which in 0usize..4, key in 0usize..3, value in wrong_value()) {
        let key = ["role", "reader", "idle_timeout_secs"][key];
        prop_assume!(!kiosk_value_ok(key, &value));
        let text = set_value(PRESETS[which], key, &value);
        prop_assume!(text.contains(&format!("{key} = {value}")));
        let reason = kiosk(&text).expect_err("a wrong value is refused");
        let line = text.lines().position(|l| l.starts_with(&format!("{key} ="))).map(|i| i + 1);
        prop_assert!(
            reason.contains(key) || line.is_some_and(|l| reason.contains(&format!("line {l}"))),
            "{reason:?} should name {key} or its line in\n{text}"
        );
    }

    /// A wrong value in a profile: an error that points at the key or its line.
    #[test]
    fn profile_with_a_wrong_value_names_the_key(which in 0usize..3, key in 0usize..4, value in wrong_value()) {
        let key = ["name", "chain_id", "rpc_url", "decimals"][key];
        let acceptable = match key {
            "name" => value.starts_with('"') && value.len() > 2,
            "chain_id" => value.parse::<u64>().is_ok_and(|n| n > 0),
            "rpc_url" => value == "\"\"",
            _ => value.parse::<u8>().is_ok(),
        };
        prop_assume!(!acceptable);
        let text = set_value(PROFILES[which], key, &value);
        let reason = profile(&text).expect_err("a wrong value is refused");
        let line = text.lines().position(|l| l.starts_with(&format!("{key} ="))).map(|i| i + 1);
        prop_assert!(
            reason.contains(key) || line.is_some_and(|l| reason.contains(&format!("line {l}"))),
            "{reason:?} should name {key} or its line in\n{text}"
        );
    }

    /// A misspelt key is an error naming it, not a silently ignored line.
    #[test]
    fn misspelt_keys_are_refused(which in 0usize..4, typo in "[a-z]{1,3}") {
        let key = format!("idle_timeout_{typo}");
        prop_assume!(key != "idle_timeout_secs");
        let text = format!("{}\n{key} = 5\n", PRESETS[which]);
        let reason = kiosk(&text).expect_err("an unknown key is refused");
        prop_assert!(reason.contains(&key), "{reason:?} should name {key}");
    }

    #[test]
    fn misspelt_profile_keys_are_refused(which in 0usize..3, typo in "(rpc-url|rpcurl|rpc_uri|chainid|explorer_url|gas_price)") {
        // Put the typo among the top-level keys (before the first table).
        let text = PROFILES[which].replacen("\n[gas]", &format!("\n{typo} = \"https://example.invalid\"\n[gas]"), 1);
        let reason = profile(&text).expect_err("an unknown key is refused");
        prop_assert!(reason.contains(&typo), "{reason:?} should name {typo}");
    }
}

#[test]
fn the_shipped_files_parse() {
    for text in PRESETS {
        check_kiosk(&kiosk(text).expect("a shipped preset parses"));
    }
    for text in PROFILES {
        check_profile(&profile(text).expect("a shipped profile parses"));
    }
    let d = manifest(&manifest_text()).expect("a written manifest parses");
    assert_eq!(d.chain_id, 31337);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [64, 1_000, 100_000] {
        let toml = format!(
            "role = \"doctor\"\nx = {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        // Either way, no crash; a deep array under an unknown key is refused.
        assert!(kiosk(&toml).is_err(), "depth {depth}");
        let toml = format!("name = {}1{}\n", "[".repeat(depth), "]".repeat(depth));
        assert!(profile(&toml).is_err(), "depth {depth}");
        let inline = format!(
            "role = \"doctor\"\nx = {}1{}\n",
            "{ a = ".repeat(depth),
            "}".repeat(depth)
        );
        assert!(kiosk(&inline).is_err(), "depth {depth}");
        let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(manifest(&json).is_err(), "depth {depth}");
        let json = format!(
            "{{\"profile\": {}{}}}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth + 1)
        );
        assert!(manifest(&json).is_err(), "depth {depth}");
    }
}

#[test]
fn typical_mistakes_get_clear_messages() {
    let e = kiosk("role = \"nurse\"\n").unwrap_err();
    assert!(e.contains("nurse") || e.contains("role"), "{e}");
    let e = kiosk("reader = \"Virtual PCD 00 00\"\n").unwrap_err();
    assert!(e.contains("role"), "a missing role is named: {e}");
    let e = kiosk("role = \"doctor\"\nidle_timeout_secs = -5\n").unwrap_err();
    assert!(
        e.contains("idle_timeout_secs") || e.contains("line 2"),
        "{e}"
    );
    let e = kiosk("role = \"doctor\"\nidle_timeout_secs = 0\n").unwrap_err();
    assert!(e.contains("idle_timeout_secs"), "{e}");
    let e = kiosk("role = \"doctor\"\nprofile = \"\"\n").unwrap_err();
    assert!(e.contains("profile"), "{e}");
    let e = kiosk("role = \"doctor\"\nrole = \"insurer\"\n").unwrap_err();
    assert!(
        e.contains("role") || e.contains("line 2"),
        "a duplicate key is named: {e}"
    );
    let e = kiosk("role = \"doctor").unwrap_err();
    assert!(e.contains("line 1"), "an unclosed string says where: {e}");

    let celo = PROFILES[2];
    let e = profile(&celo.replace("0x765DE816845861e75A25fCA122bb6898B8B1282a", "0x765DE8"))
        .unwrap_err();
    assert!(e.contains("address"), "{e}");
    let e = profile(&celo.replace("kind = \"eip1559\"", "kind = \"eip4844\"")).unwrap_err();
    assert!(e.contains("eip4844"), "{e}");
    let e = profile(&celo.replace("decimals = 18", "decimals = 256")).unwrap_err();
    assert!(e.contains("decimals") || e.contains("line"), "{e}");
    let e = profile(&celo.replace("chain_id = 42220", "chain_id = 0")).unwrap_err();
    assert!(e.contains("chain_id"), "{e}");
    let e = profile(&celo.replace("https://forno.celo.org", "forno.celo.org")).unwrap_err();
    assert!(e.contains("rpc_url"), "{e}");

    let e = manifest("").unwrap_err();
    assert!(e.contains("manifest"), "{e}");
    let e =
        manifest(&manifest_text().replace("\"chain_id\": 31337", "\"chain_id\": -1")).unwrap_err();
    assert!(e.contains("line"), "{e}");
    let e = manifest(&manifest_text().replace("\"Hospital\"", "\"Janitor\"")).unwrap_err();
    assert!(e.contains("Janitor"), "{e}");
}

#[test]
fn a_manifest_file_that_is_not_one_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("carekiosk-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("local.json");
    std::fs::write(&path, b"\xff\xfe not json").unwrap();
    let e = Deployment::load(&path).unwrap_err().to_string();
    assert!(e.contains("local.json"), "{e}");
    std::fs::write(&path, manifest_text()).unwrap();
    assert_eq!(Deployment::load(&path).unwrap().chain_id, 31337);
    std::fs::remove_dir_all(&dir).unwrap();
    let e = Deployment::load(Path::new("/nonexistent/carekiosk/m.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("deploy first"), "{e}");
}
