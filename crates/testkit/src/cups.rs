//! A private CUPS scheduler (the real `cupsd` of Debian's `cups-daemon`) on a free local port, with one queue
//! whose backend writes each job to a folder: a printer whose paper can be read back by a test.
//!
//! It runs in its own folder (configuration, spool, logs), never touches the system's CUPS, and stops when
//! dropped. cupsd runs backends as the `lp` user, so the sink folder is world-writable (inside a private folder).

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A running private CUPS with one sink queue.
pub struct Cups {
    dir: PathBuf,
    /// `127.0.0.1:<port>`: what `CUPS_SERVER` (or a kiosk's `print_server`) names.
    pub server: String,
    /// The sink queue's name.
    pub printer: String,
    pid: u32,
}

const BACKEND: &str = r#"#!/bin/sh
# CUPS backend of the tests' sink printer: writes each job's document to the folder its URI names (sink:/dir).
if [ $# -eq 0 ]; then echo 'direct sink "Unknown" "carekiosk test sink"'; exit 0; fi
dir="${DEVICE_URI#sink:}"
if [ $# -ge 6 ]; then cat "$6"; else cat; fi > "$dir/job-$1.pdf.part" || exit 1
mv "$dir/job-$1.pdf.part" "$dir/job-$1.pdf"
"#;

impl Cups {
    /// Starts cupsd in `<temp>/carekiosk-cups-<tag>-<pid>` with a queue named `printer`. Panics with what to
    /// install when cupsd is missing (scripts/setup.sh installs it).
    pub fn start(tag: &str, printer: &str) -> Cups {
        let dir = std::env::temp_dir().join(format!("carekiosk-cups-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in [
            "spool",
            "cache",
            "state",
            "log",
            "ppd",
            "sink",
            "bin/backend",
        ] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        // cupsd drops to `lp` for backends and filters: they must reach the sink and the binaries.
        for d in [dir.as_path(), &dir.join("bin"), &dir.join("bin/backend")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(dir.join("sink"), std::fs::Permissions::from_mode(0o777)).unwrap();
        for sub in [
            "filter", "daemon", "cgi-bin", "notifier", "monitor", "driver",
        ] {
            std::os::unix::fs::symlink(
                Path::new("/usr/lib/cups").join(sub),
                dir.join("bin").join(sub),
            )
            .unwrap();
        }
        let backend = dir.join("bin/backend/sink");
        std::fs::write(&backend, BACKEND).unwrap();
        std::fs::set_permissions(&backend, std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let server = format!("127.0.0.1:{port}");
        std::fs::write(
            dir.join("cupsd.conf"),
            format!(
                "Listen {server}\nLogLevel info\nWebInterface No\nDefaultAuthType None\nBrowsing No\n\
                 <Location />\n  Order allow,deny\n  Allow 127.0.0.1\n</Location>\n\
                 <Location /admin>\n  Order allow,deny\n  Allow 127.0.0.1\n</Location>\n\
                 <Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n"
            ),
        )
        .unwrap();
        let d = dir.display();
        std::fs::write(
            dir.join("cups-files.conf"),
            format!(
                "ServerRoot {d}\nRequestRoot {d}/spool\nCacheDir {d}/cache\nStateDir {d}/state\n\
                 ErrorLog {d}/log/error_log\nAccessLog {d}/log/access_log\nPageLog {d}/log/page_log\n\
                 ServerBin {d}/bin\nDataDir /usr/share/cups\n"
            ),
        )
        .unwrap();
        let status = Command::new("cupsd")
            .arg("-c")
            .arg(dir.join("cupsd.conf"))
            .arg("-s")
            .arg(dir.join("cups-files.conf"))
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot run cupsd ({e}): install cups-daemon and cups-client (bash scripts/setup.sh)")
            });
        assert!(
            status.success(),
            "cupsd did not start: see {d}/log/error_log"
        );
        let pid_file = dir.join("state/cupsd.pid");
        let deadline = Instant::now() + Duration::from_secs(20);
        let pid = loop {
            let up = Command::new("lpstat")
                .args(["-h", &server, "-r"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("is running"));
            if let (true, Ok(p)) = (up, std::fs::read_to_string(&pid_file)) {
                if let Ok(p) = p.trim().parse::<u32>() {
                    break p;
                }
            }
            assert!(
                Instant::now() < deadline,
                "cupsd did not answer on {server}: see {d}/log/error_log"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let cups = Cups {
            server,
            printer: printer.to_owned(),
            pid,
            dir,
        };
        let out = Command::new("lpadmin")
            .args(["-h", &cups.server, "-p", printer, "-E", "-m", "raw", "-v"])
            .arg(format!("sink:{}", cups.sink().display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "lpadmin: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cups
    }

    /// The folder the sink queue prints to (`job-<n>.pdf`).
    pub fn sink(&self) -> PathBuf {
        self.dir.join("sink")
    }

    /// Waits for job `job` (`<printer>-<n>`) to come out of the sink printer and returns its bytes.
    pub fn wait_job(&self, job: &str) -> Vec<u8> {
        let n = job.rsplit('-').next().unwrap_or(job);
        let path = self.sink().join(format!("job-{n}.pdf"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(bytes) = std::fs::read(&path) {
                return bytes;
            }
            assert!(
                Instant::now() < deadline,
                "job {job} did not come out of the printer: see {}/log/error_log",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The documents printed so far, oldest first.
    pub fn printed(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.sink())
            .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.retain(|p| p.extension().is_some_and(|e| e == "pdf"));
        v.sort();
        v
    }

    /// Stops the queue from taking jobs (as a printer switched off at the queue: `cupsreject`).
    pub fn reject(&self) {
        let out = Command::new("cupsreject")
            .args(["-h", &self.server, &self.printer])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cupsreject: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cups {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
        // cupsd writes its state on the way out: remove the folder once it is gone.
        let proc = PathBuf::from(format!("/proc/{}", self.pid));
        let deadline = Instant::now() + Duration::from_secs(5);
        while proc.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
