//! A systemd user manager of the test's own (`systemd --user`, its own runtime directory and home), to run the
//! Debian package's user unit as a desktop session would. systemd runs a user manager only on a machine booted
//! with it (`/run/systemd/system` exists); in a container it was not, so the marker is made for the manager's
//! lifetime (and removed after, when this made it). The manager is stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BOOTED: &str = "/run/systemd/system";

pub struct UserManager {
    child: std::process::Child,
    runtime: PathBuf,
    pub home: PathBuf,
    made_marker: bool,
}

impl UserManager {
    /// Starts `systemd --user` with `dir/run` as its runtime directory and `dir/home` as its home; the units it
    /// starts get this process's `DISPLAY` and session bus (the test's keyring).
    pub fn start(dir: &Path) -> UserManager {
        let made_marker = !Path::new(BOOTED).exists();
        if made_marker {
            std::fs::create_dir_all(BOOTED).unwrap_or_else(|e| {
                panic!(
                    "cannot make {BOOTED} ({e}): run as root, as scripts/test.sh's package step is"
                )
            });
        }
        let (runtime, home) = (dir.join("run"), dir.join("home"));
        for d in [&runtime, &home] {
            std::fs::create_dir_all(d).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        let systemd = [
            "/usr/lib/systemd/systemd",
            "/lib/systemd/systemd",
            "/usr/bin/systemd",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("systemd is not installed: apt-get install systemd (scripts/setup.sh does)");
        let child = Command::new(systemd)
            .arg("--user")
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("HOME", &home)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {systemd} --user: {e}"));
        let m = UserManager {
            child,
            runtime,
            home,
            made_marker,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let state = m.systemctl(&["is-system-running"]);
            let said = String::from_utf8_lossy(&state.stdout).trim().to_owned();
            if matches!(said.as_str(), "running" | "degraded") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the user manager did not start: {said:?} {}",
                String::from_utf8_lossy(&state.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut env = vec!["set-environment".to_owned()];
        for k in ["DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "XAUTHORITY"] {
            if let Ok(v) = std::env::var(k) {
                env.push(format!("{k}={v}"));
            }
        }
        let args: Vec<&str> = env.iter().map(String::as_str).collect();
        let out = m.systemctl(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        m
    }

    /// `systemctl --user ARGS` against this manager.
    pub fn systemctl(&self, args: &[&str]) -> Output {
        Command::new("systemctl")
            .arg("--user")
            .args(args)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("HOME", &self.home)
            .output()
            .expect("systemctl runs")
    }

    /// The unit's main process, if it runs.
    pub fn main_pid(&self, unit: &str) -> Option<u32> {
        let out = self.systemctl(&["show", "-p", "MainPID", "--value", unit]);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .ok()
            .filter(|p| *p != 0)
    }

    /// Waits until the unit's main process is one other than `not` (and not none).
    pub fn wait_main_pid(&self, unit: &str, not: Option<u32>, within: Duration) -> u32 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(p) = self.main_pid(unit).filter(|p| Some(*p) != not) {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "{unit} has no new main process after {within:?}: {}",
                String::from_utf8_lossy(&self.systemctl(&["status", unit]).stdout)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for UserManager {
    fn drop(&mut self) {
        let _ = self.systemctl(&["stop", "carekiosk.service"]);
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.made_marker {
            let _ = std::fs::remove_dir(BOOTED);
        }
    }
}
