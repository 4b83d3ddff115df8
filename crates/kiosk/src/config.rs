use std::path::PathBuf;

use carekiosk_chain::bindings::Role;
use serde::{Deserialize, Serialize};

use crate::KioskError;

/// What a kiosk is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KioskRole {
    /// A hospital's reception: check-in and registration.
    Reception,
    /// A hospital's consultation room: history, diagnoses, prescriptions, claims.
    Doctor,
    /// A pharmacy counter.
    Pharmacy,
    /// An insurer's claims desk.
    Insurer,
}

impl KioskRole {
    /// All roles.
    pub const ALL: [KioskRole; 4] = [
        KioskRole::Reception,
        KioskRole::Doctor,
        KioskRole::Pharmacy,
        KioskRole::Insurer,
    ];

    /// The institution role on chain.
    pub fn chain_role(self) -> Role {
        match self {
            KioskRole::Reception | KioskRole::Doctor => Role::Hospital,
            KioskRole::Pharmacy => Role::Pharmacy,
            KioskRole::Insurer => Role::Insurer,
        }
    }

    /// The name used in configuration and the keyring.
    pub fn as_str(self) -> &'static str {
        match self {
            KioskRole::Reception => "reception",
            KioskRole::Doctor => "doctor",
            KioskRole::Pharmacy => "pharmacy",
            KioskRole::Insurer => "insurer",
        }
    }

    /// The keyring slot of the institution's record key: one per institution kind, so reception and doctor
    /// kiosks of one hospital open each other's records.
    pub fn institution_slot(self) -> &'static str {
        match self.chain_role() {
            Role::Hospital => "hospital",
            Role::Pharmacy => "pharmacy",
            Role::Insurer => "insurer",
        }
    }
}

impl std::str::FromStr for KioskRole {
    type Err = KioskError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KioskRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                KioskError::Invalid(format!(
                    "unknown role {s:?}: reception, doctor, pharmacy or insurer"
                ))
            })
    }
}

/// A kiosk's configuration: its role preset (`kiosk-config/roles/<role>.toml`) plus where it runs. Unknown keys
/// are refused, so a misspelt one is an error rather than a silent default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KioskConfig {
    /// The role.
    pub role: KioskRole,
    /// Reader name pattern (substring) of the card reader; empty for none (insurer desks).
    #[serde(default)]
    pub reader: String,
    /// Seconds of inactivity before the screen returns to "insert card".
    #[serde(default = "default_idle")]
    pub idle_timeout_secs: u64,
    /// Network profile name or path.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// Deployment manifest.
    #[serde(default)]
    pub manifest: PathBuf,
    /// Folder of the kiosk's database.
    #[serde(default)]
    pub data_dir: PathBuf,
    /// The screen's text size in percent (100, 125, 150 or 175; others snap to the nearest): the default until
    /// someone at the kiosk picks another size on screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_scale: Option<u16>,
    /// Kiosk mode: the app fills the screen without window decorations and closes only with the staff code
    /// (`carekiosk admin staff-code`) or when IT stops its service. On for the desks patients stand at.
    #[serde(default)]
    pub kiosk_mode: bool,
    /// The CUPS destination the desk prints its documents to (issue letter, prescription token, dispense
    /// receipt): empty for the system's default printer, `none` to save them as files (also what happens when
    /// there is no printer).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub printer: String,
    /// The CUPS server (`host[:port]`) that has the printer; empty for this machine's CUPS (or its
    /// `client.conf`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub print_server: String,
    /// The institution this kiosk was set up for (first-run set-up): the only one whose offer to enrol it the
    /// kiosk accepts by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<alloy::primitives::Address>,
}

fn default_idle() -> u64 {
    120
}

fn default_profile() -> String {
    "local".into()
}

const PRESETS: [(&str, &str); 4] = [
    (
        "reception",
        include_str!("../../../kiosk-config/roles/reception.toml"),
    ),
    (
        "doctor",
        include_str!("../../../kiosk-config/roles/doctor.toml"),
    ),
    (
        "pharmacy",
        include_str!("../../../kiosk-config/roles/pharmacy.toml"),
    ),
    (
        "insurer",
        include_str!("../../../kiosk-config/roles/insurer.toml"),
    ),
];

impl KioskConfig {
    /// The embedded preset of a role, on the local profile, with the manifest and data folder defaults.
    pub fn preset(role: KioskRole) -> KioskConfig {
        let text = PRESETS
            .iter()
            .find(|(n, _)| *n == role.as_str())
            .map(|(_, t)| *t)
            .expect("every role has a preset");
        let mut c: KioskConfig = toml::from_str(text).expect("embedded presets parse");
        c.manifest = PathBuf::from("kiosk-config/deployments/local.json");
        c.data_dir = default_data_dir();
        c
    }

    /// Parses a role preset file's text.
    pub fn parse(text: &str, origin: &str) -> Result<KioskConfig, KioskError> {
        let invalid = |reason: String| KioskError::Config {
            path: origin.into(),
            reason,
        };
        let mut c: KioskConfig = toml::from_str(text)
            .map_err(|e| invalid(carekiosk_chain::profile::toml_error(text, &e)))?;
        if c.idle_timeout_secs == 0 {
            return Err(invalid(
                "`idle_timeout_secs` must be at least 1 (0 would end every session at once)".into(),
            ));
        }
        if let Some(t) = c.text_scale {
            if !(100..=175).contains(&t) {
                return Err(invalid(format!(
                    "`text_scale` is a percentage from 100 to 175 (got {t})"
                )));
            }
        }
        if c.profile.trim().is_empty() {
            return Err(invalid(
                "`profile` must name a profile (local, celo-sepolia, celo) or a .toml file".into(),
            ));
        }
        if c.manifest.as_os_str().is_empty() {
            c.manifest = PathBuf::from(format!("kiosk-config/deployments/{}.json", c.profile));
        }
        if c.data_dir.as_os_str().is_empty() {
            c.data_dir = default_data_dir();
        }
        Ok(c)
    }

    /// This configuration as a preset file's text (what the first-run set-up saves).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a kiosk configuration always serialises")
    }

    /// Writes this configuration to `path` (the first-run set-up's file), creating its folder.
    pub fn save(&self, path: &std::path::Path) -> Result<(), KioskError> {
        let fail = |e: std::io::Error| KioskError::Config {
            path: path.display().to_string(),
            reason: format!(
                "cannot write the kiosk's set-up ({e}): check the folder's permissions"
            ),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        std::fs::write(path, self.to_toml()).map_err(fail)
    }

    /// The kiosk's database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir
            .join(format!("{}-{}.db", self.profile_name(), self.role.as_str()))
    }

    /// The profile's name (the file stem when it is a path).
    pub fn profile_name(&self) -> String {
        std::path::Path::new(&self.profile)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Where a kiosk runs, as a command line (the CLI's or the app's) or the environment gives it: each `Some`
/// overrides the preset. [`KioskConfig::resolve`] is the one place these are turned into a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigOverrides {
    /// A role preset file (`kiosk-config/roles/<role>.toml`) instead of the embedded preset.
    pub config: Option<PathBuf>,
    /// Network profile: a name (local, celo-sepolia, celo) or a path to a profile .toml.
    pub profile: Option<String>,
    /// Deployment manifest.
    pub manifest: Option<PathBuf>,
    /// Folder of the kiosk's database.
    pub data_dir: Option<PathBuf>,
    /// Card reader name, or part of it.
    pub reader: Option<String>,
    /// The CUPS destination to print to (`none`: save documents as files).
    pub printer: Option<String>,
    /// The CUPS server that has it (`host[:port]`).
    pub print_server: Option<String>,
}

impl KioskConfig {
    /// The configuration `o` gives for `role` (`None`: a command that is not one kiosk's; the embedded presets
    /// agree on everything but the role and reader). Precedence: an override, then the `config` file, then
    /// defaults — the profile the manifest was deployed with (when it is a built-in one), the manifest
    /// `kiosk-config/deployments/<profile>.json` of a given profile, else the embedded preset's `local`. A preset
    /// file of another role is refused.
    pub fn resolve(
        role: Option<KioskRole>,
        o: &ConfigOverrides,
    ) -> Result<KioskConfig, KioskError> {
        use carekiosk_chain::{Deployment, Profile};
        let preset_role = role.unwrap_or(KioskRole::Reception);
        let mut c = match &o.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| KioskError::Config {
                    path: p.display().to_string(),
                    reason: format!("cannot read the kiosk config ({e}): check the --config path"),
                })?;
                KioskConfig::parse(&text, &p.display().to_string())?
            }
            None => KioskConfig::preset(preset_role),
        };
        if let (Some(role), Some(p)) = (role, &o.config) {
            if c.role != role {
                return Err(KioskError::Config {
                    path: p.display().to_string(),
                    reason: format!("a {} preset, not {}", c.role.as_str(), role.as_str()),
                });
            }
        }
        let from_file = o.config.is_some();
        match (&o.profile, &o.manifest) {
            (Some(p), Some(m)) => {
                c.profile = p.clone();
                c.manifest = m.clone();
            }
            (Some(p), None) => {
                c.profile = p.clone();
                if !from_file {
                    let name = Profile::load(p)?.name;
                    c.manifest = PathBuf::from(format!("kiosk-config/deployments/{name}.json"));
                }
            }
            (None, Some(m)) => {
                c.manifest = m.clone();
                if !from_file {
                    if let Ok(d) = Deployment::load(m) {
                        c.profile = recorded_profile(&d, m)?;
                    }
                }
            }
            (None, None) => {}
        }
        if let Some(d) = &o.data_dir {
            c.data_dir = d.clone();
        }
        if let Some(r) = &o.reader {
            c.reader = r.clone();
        }
        if let Some(p) = &o.printer {
            c.printer = p.clone();
        }
        if let Some(p) = &o.print_server {
            c.print_server = p.clone();
        }
        Ok(c)
    }
}

/// The profile a manifest says it was deployed with, when that is a built-in one; a profile from a file must be
/// given again (a manifest does not say where that file is).
fn recorded_profile(
    d: &carekiosk_chain::Deployment,
    manifest: &std::path::Path,
) -> Result<String, KioskError> {
    if carekiosk_chain::Profile::embedded_names().contains(&d.profile.as_str()) {
        return Ok(d.profile.clone());
    }
    Err(KioskError::Config {
        path: manifest.display().to_string(),
        reason: format!(
            "deployed with profile {:?}, which is not a built-in one: pass --profile <its .toml file>",
            d.profile
        ),
    })
}

/// Where the app keeps the set-up chosen on its first run: `$XDG_CONFIG_HOME/carekiosk/desk.toml`, else
/// `~/.config/carekiosk/desk.toml`.
pub fn default_setup_file() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from(".config"));
    base.join("carekiosk").join("desk.toml")
}

/// `$CAREKIOSK_DATA_DIR`, else `$XDG_DATA_HOME/carekiosk`, else `~/.local/share/carekiosk`.
pub fn default_data_dir() -> PathBuf {
    if let Ok(d) = std::env::var("CAREKIOSK_DATA_DIR") {
        return PathBuf::from(d);
    }
    if let Ok(d) = std::env::var("XDG_DATA_HOME") {
        return PathBuf::from(d).join("carekiosk");
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    PathBuf::from(home).join(".local/share/carekiosk")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_map_to_chain_roles() {
        for role in KioskRole::ALL {
            let c = KioskConfig::preset(role);
            assert_eq!(c.role, role);
            assert_eq!(c.profile, "local");
        }
        assert_eq!(
            KioskConfig::preset(KioskRole::Reception).text_scale,
            Some(125)
        );
        assert_eq!(KioskConfig::preset(KioskRole::Doctor).text_scale, None);
        assert!(KioskConfig::preset(KioskRole::Reception).kiosk_mode);
        assert!(KioskConfig::preset(KioskRole::Pharmacy).kiosk_mode);
        assert!(!KioskConfig::preset(KioskRole::Insurer).kiosk_mode);
        let e = KioskConfig::parse("role = \"doctor\"\ntext_scale = 400\n", "d.toml").unwrap_err();
        assert!(e.to_string().contains("100 to 175"), "{e}");
        assert_eq!(KioskRole::Doctor.chain_role(), Role::Hospital);
        assert_eq!(
            KioskRole::Doctor.institution_slot(),
            KioskRole::Reception.institution_slot()
        );
        assert!("nurse"
            .parse::<KioskRole>()
            .unwrap_err()
            .to_string()
            .contains("reception"));
        let e = KioskConfig::parse("role = \"janitor\"", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml"), "{e}");
    }

    #[test]
    fn a_saved_set_up_reads_back_as_it_was() {
        let dir = std::env::temp_dir().join(format!("carekiosk-setup-{}", std::process::id()));
        let file = dir.join("nested").join("desk.toml");
        let mut c = KioskConfig::preset(KioskRole::Doctor);
        c.profile = "/etc/carekiosk/hospital.toml".into();
        c.manifest = PathBuf::from("/etc/carekiosk/hospital.json");
        c.institution = Some(alloy::primitives::Address::repeat_byte(0x42));
        c.save(&file).unwrap();
        let back = KioskConfig::resolve(
            None,
            &ConfigOverrides {
                config: Some(file.clone()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(back, c);
        assert_eq!(back.profile_name(), "hospital");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn overrides_resolve_once_for_the_cli_and_the_app() {
        let dir = std::env::temp_dir().join(format!("carekiosk-resolve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("desk.toml");
        std::fs::write(
            &file,
            "role = \"pharmacy\"\nreader = \"PCD 7\"\nprinter = \"counter\"\n",
        )
        .unwrap();
        let c = KioskConfig::resolve(
            Some(KioskRole::Pharmacy),
            &ConfigOverrides {
                config: Some(file.clone()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.printer, "counter");
        let o = ConfigOverrides {
            config: Some(file.clone()),
            reader: Some("PCD 9".into()),
            data_dir: Some(dir.join("data")),
            printer: Some("none".into()),
            ..Default::default()
        };
        let c = KioskConfig::resolve(Some(KioskRole::Pharmacy), &o).unwrap();
        assert_eq!((c.role, c.reader.as_str()), (KioskRole::Pharmacy, "PCD 9"));
        assert_eq!(c.printer, "none");
        assert_eq!(c.data_dir, dir.join("data"));
        // A preset file of another role is refused, naming the file.
        let e = KioskConfig::resolve(Some(KioskRole::Doctor), &o)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("desk.toml") && e.contains("a pharmacy preset, not doctor"),
            "{e}"
        );
        // A profile given by name picks that profile's manifest.
        let o = ConfigOverrides {
            profile: Some("celo".into()),
            ..Default::default()
        };
        let c = KioskConfig::resolve(Some(KioskRole::Doctor), &o).unwrap();
        assert_eq!(
            c.manifest,
            PathBuf::from("kiosk-config/deployments/celo.json")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
