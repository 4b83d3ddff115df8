//! What the app is started as: the kiosk's role preset and where it runs, from the command line or the
//! environment (`CAREKIOSK_ROLE`, `CAREKIOSK_CONFIG`, …), so the same package serves every desk.

use std::ffi::OsString;
use std::path::PathBuf;

use carekiosk_kiosk::{KioskConfig, KioskRole};
use clap::Parser;

/// The kiosk app's launch options.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "carekiosk-app",
    about = "The carekiosk desk app (reception, doctor, pharmacy, insurer)",
    after_help = "Without --role or --config the app uses the set-up chosen on its first run (--setup-file); \
                  without one either, it opens the first-run set-up."
)]
pub struct Launch {
    /// The desk's role (ignored when --config names a preset file, whose role wins).
    #[arg(long, env = "CAREKIOSK_ROLE")]
    pub role: Option<KioskRole>,
    /// A role preset file (kiosk-config/roles/<role>.toml).
    #[arg(long, env = "CAREKIOSK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the first-run set-up is kept (default: ~/.config/carekiosk/desk.toml); used when neither --role nor
    /// --config is given.
    #[arg(long, env = "CAREKIOSK_SETUP_FILE")]
    pub setup_file: Option<PathBuf>,
    /// Network profile: a name (local, celo-sepolia, celo) or a path to a profile .toml (default: the preset's,
    /// else the one the --manifest was deployed with).
    #[arg(long, env = "CAREKIOSK_PROFILE")]
    pub profile: Option<String>,
    /// Deployment manifest (default: the preset's, kiosk-config/deployments/<profile>.json).
    #[arg(long, env = "CAREKIOSK_MANIFEST")]
    pub manifest: Option<PathBuf>,
    /// Card reader name, or part of it.
    #[arg(long, env = "CAREKIOSK_READER")]
    pub reader: Option<String>,
    /// Folder of the kiosk's database.
    #[arg(long, env = "CAREKIOSK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where "Save as PDF" writes a patient's issue letter (default: the user's Downloads folder). The file holds
    /// the patient's codes: it is written only when the operator asks, and should be deleted once printed.
    #[arg(long, env = "CAREKIOSK_LETTER_DIR")]
    pub letter_dir: Option<PathBuf>,
    /// The CUPS destination to print to (default: the preset's, else the system's default printer); `none`
    /// saves the documents as files.
    #[arg(long, env = "CAREKIOSK_PRINTER")]
    pub printer: Option<String>,
    /// The CUPS server that has the printer, `host[:port]` (default: the preset's, else this machine's CUPS).
    #[arg(long, env = "CAREKIOSK_PRINT_SERVER")]
    pub print_server: Option<String>,
    /// An ordinary window even where the preset asks for kiosk mode (development, tests).
    #[arg(long, env = "CAREKIOSK_WINDOWED")]
    pub windowed: bool,
    /// Screen language: en or fr.
    #[arg(long, env = "CAREKIOSK_LANG", default_value = "en")]
    pub lang: String,
}

impl Launch {
    /// Parses the process arguments (with the environment as fallback).
    pub fn from_args(args: impl IntoIterator<Item = OsString>) -> Result<Launch, clap::Error> {
        let mut l = Launch::try_parse_from(args)?;
        if let Some(p) = &l.config {
            if let Ok(text) = std::fs::read_to_string(p) {
                if let Ok(c) = KioskConfig::parse(&text, &p.display().to_string()) {
                    l.role = Some(c.role);
                }
            }
        }
        Ok(l)
    }

    /// The first-run set-up's file.
    pub fn setup_path(&self) -> PathBuf {
        self.setup_file
            .clone()
            .unwrap_or_else(carekiosk_kiosk::default_setup_file)
    }

    /// Whether the desk comes from the first-run set-up (neither --role nor --config given): then a staff action
    /// may reset it.
    pub fn from_setup(&self) -> bool {
        self.role.is_none() && self.config.is_none()
    }

    /// Whether this is a first run: the desk comes from the set-up, and there is none yet.
    pub fn first_run(&self) -> bool {
        self.from_setup() && !self.setup_path().exists()
    }

    /// Whether the app runs in kiosk mode: the preset asks for it and `--windowed` was not given.
    pub fn kiosk_mode(&self) -> bool {
        !self.windowed && self.kiosk_config().is_ok_and(|c| c.kiosk_mode)
    }

    /// The desk's role: the one given, else the set-up's (reception before the set-up is made).
    pub fn role(&self) -> KioskRole {
        match self.role {
            Some(r) => r,
            None => self
                .kiosk_config()
                .map(|c| c.role)
                .unwrap_or(KioskRole::Reception),
        }
    }

    /// The kiosk configuration: the preset (embedded, the --config file, or the first-run set-up's file),
    /// overridden by the options given — resolved by the kiosk core exactly as the CLI's kiosk commands resolve
    /// theirs.
    pub fn kiosk_config(&self) -> Result<KioskConfig, carekiosk_kiosk::KioskError> {
        let setup = self.from_setup().then(|| self.setup_path());
        if let Some(p) = setup.as_ref().filter(|p| !p.exists()) {
            return Err(carekiosk_kiosk::KioskError::Config {
                path: p.display().to_string(),
                reason: "this kiosk is not set up yet: choose its desk on the set-up screen".into(),
            });
        }
        KioskConfig::resolve(
            self.role,
            &carekiosk_kiosk::ConfigOverrides {
                config: self.config.clone().or(setup),
                profile: self.profile.clone(),
                manifest: self.manifest.clone(),
                data_dir: self.data_dir.clone(),
                reader: self.reader.clone(),
                printer: self.printer.clone(),
                print_server: self.print_server.clone(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_reader_and_manifest_come_from_the_command_line() {
        let l = Launch::from_args(
            [
                "app",
                "--role",
                "pharmacy",
                "--reader",
                "PCD 00 01",
                "--manifest",
                "/tmp/m.json",
                "--printer",
                "counter",
                "--print-server",
                "print.lan:631",
            ]
            .map(OsString::from),
        )
        .unwrap();
        let c = l.kiosk_config().unwrap();
        assert_eq!(c.role, KioskRole::Pharmacy);
        assert_eq!(
            (c.printer.as_str(), c.print_server.as_str()),
            ("counter", "print.lan:631")
        );
        assert_eq!(c.reader, "PCD 00 01");
        assert_eq!(c.manifest, PathBuf::from("/tmp/m.json"));
    }

    #[test]
    fn an_unknown_role_is_refused_with_the_choices() {
        let e = Launch::from_args(["app", "--role", "cashier"].map(OsString::from)).unwrap_err();
        assert!(
            e.to_string()
                .contains("reception, doctor, pharmacy or insurer"),
            "{e}"
        );
    }

    #[test]
    fn the_profile_is_an_option_as_in_the_cli() {
        let l = Launch::from_args(
            ["app", "--role", "doctor", "--profile", "celo-sepolia"].map(OsString::from),
        )
        .unwrap();
        let c = l.kiosk_config().unwrap();
        assert_eq!(c.profile, "celo-sepolia");
        assert_eq!(
            c.manifest,
            PathBuf::from("kiosk-config/deployments/celo-sepolia.json")
        );
    }

    #[test]
    fn without_role_or_config_the_desk_is_the_first_run_set_up() {
        let dir = std::env::temp_dir().join(format!("carekiosk-launch-{}", std::process::id()));
        let file = dir.join("desk.toml");
        let _ = std::fs::remove_dir_all(&dir);
        let setup = ["app", "--setup-file", file.to_str().unwrap()];
        let l = Launch::from_args(setup.map(OsString::from)).unwrap();
        // Nothing set up yet: the first run; the configuration says what to do.
        assert!(l.from_setup() && l.first_run());
        let e = l.kiosk_config().unwrap_err().to_string();
        assert!(e.contains("not set up yet"), "{e}");
        // Saved by the set-up: the desk comes from it (the options given still override it).
        let mut c = KioskConfig::preset(KioskRole::Insurer);
        c.institution = Some(alloy::primitives::Address::repeat_byte(7));
        c.save(&file).unwrap();
        let l = Launch::from_args(
            [
                "app",
                "--setup-file",
                file.to_str().unwrap(),
                "--reader",
                "PCD 3",
            ]
            .map(OsString::from),
        )
        .unwrap();
        assert!(l.from_setup() && !l.first_run());
        assert_eq!(l.role(), KioskRole::Insurer);
        let got = l.kiosk_config().unwrap();
        assert_eq!(
            (got.institution, got.reader.as_str()),
            (c.institution, "PCD 3")
        );
        // A role given on the command line wins over the set-up, which can then not be reset from the app.
        let l = Launch::from_args(
            [
                "app",
                "--setup-file",
                file.to_str().unwrap(),
                "--role",
                "doctor",
            ]
            .map(OsString::from),
        )
        .unwrap();
        assert!(!l.from_setup() && !l.first_run());
        assert_eq!(l.kiosk_config().unwrap().role, KioskRole::Doctor);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_preset_file_says_which() {
        let l =
            Launch::from_args(["app", "--config", "/nonexistent/desk.toml"].map(OsString::from))
                .unwrap();
        let e = l.kiosk_config().unwrap_err();
        assert!(e.to_string().contains("/nonexistent/desk.toml"), "{e}");
    }
}
