//! The control socket of a card process: a Unix stream socket taking one command per line and answering one line.
//!
//! | command | effect |
//! |---|---|
//! | `insert` | put the card in the reader |
//! | `remove` | take it out (at once, even mid-command) |
//! | `pull-on <ins>` | the next APDU with that INS (`sign`, `verify`, `any`, `2a`…) is never answered: pulled mid-command |
//! | `fault <short\|truncate\|garbage> [<ins>]` | corrupt the next response (to that INS, default any) |
//! | `status` | `inserted=… connected=… apdus=… pulls=… ident=…` |
//! | `wait-connected <true\|false> [<ms>]` | wait until vpcd holds (or dropped) the connection |
//! | `quit` | stop the card process |
//!
//! Answers start with `ok` or `error:`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use crate::sim::{Fault, InsMatch, Sim};

/// Runs one command line against `sim`; `Ok(None)` asks the process to quit.
pub fn execute(sim: &Sim, line: &str) -> Result<Option<String>, String> {
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or("");
    let arg = words.next();
    let ins = |a: Option<&str>| -> Result<InsMatch, String> {
        InsMatch::parse(a.unwrap_or("any"))
            .ok_or_else(|| format!("not an INS: {}", a.unwrap_or("")))
    };
    match cmd {
        "insert" => sim.insert(),
        "remove" => sim.remove(),
        "pull-on" => sim.pull_on(ins(arg)?),
        "fault" => {
            let f = arg
                .and_then(Fault::parse)
                .ok_or("fault must be short, truncate or garbage")?;
            sim.fault_on(ins(words.next())?, f);
        }
        "status" => {
            let s = sim.status();
            return Ok(Some(format!(
                "ok inserted={} connected={} apdus={} pulls={} ident={}",
                s.inserted,
                s.connected,
                s.apdus,
                s.pulls,
                sim.ident()
            )));
        }
        "wait-connected" => {
            let want = arg.map(|a| a == "true").unwrap_or(true);
            let ms = words.next().and_then(|m| m.parse().ok()).unwrap_or(5000);
            if !sim.wait_connected(want, Duration::from_millis(ms)) {
                return Err(format!("connected did not become {want} within {ms} ms"));
            }
        }
        "quit" => return Ok(None),
        "" => return Err("empty command".into()),
        other => return Err(format!("unknown command {other}")),
    }
    Ok(Some("ok".into()))
}

/// Serves the control socket at `path` (replacing a stale socket file) until a `quit`, which is sent on `quit`.
pub fn serve(path: &Path, sim: Arc<Sim>, quit: Sender<()>) -> std::io::Result<()> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::thread::Builder::new()
        .name("card-sim-control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let sim = sim.clone();
                let quit = quit.clone();
                std::thread::spawn(move || handle(conn, &sim, &quit));
            }
        })?;
    Ok(())
}

fn handle(conn: UnixStream, sim: &Sim, quit: &Sender<()>) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    for line in BufReader::new(conn).lines() {
        let Ok(line) = line else { return };
        let reply = match execute(sim, line.trim()) {
            Ok(Some(r)) => r,
            Ok(None) => {
                let _ = writeln!(out, "ok");
                let _ = quit.send(());
                return;
            }
            Err(e) => format!("error: {e}"),
        };
        if writeln!(out, "{reply}").is_err() {
            return;
        }
    }
}

/// Sends one command to the control socket at `path` and returns the answer line.
pub fn send(path: &Path, command: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    writeln!(s, "{command}")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line.trim_end().to_string())
}
