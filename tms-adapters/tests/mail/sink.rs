//! The SMTP test server, shared by every suite that needs one (this
//! crate's SMTP transport tests, the server's mail connection tests, the
//! outbox benchmark — they include this file by path): aiosmtpd (from
//! PyPI, installed by `.ci/run` into `.ci/venv`) running
//! `tests/mail/smtp_sink.py` on a free loopback port, writing every
//! accepted message to a folder.
//!
//! The Python interpreter is `$TMS_TEST_SMTPD` (set by `.ci/run`), else the
//! workspace's `.ci/venv/bin/python`, else `python3`. When none has
//! aiosmtpd, [`start_sink`] says so loudly and answers `None` — except
//! under `CI=true`, where that is a failure.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The workspace root, from any member's manifest directory.
fn workspace() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|dir| dir.join("tms-adapters/tests/mail/smtp_sink.py").exists())
        .unwrap_or(here)
        .to_path_buf()
}

/// A running SMTP sink; killed (and reaped) on drop, its folder removed.
pub struct Sink {
    child: Child,
    /// Its loopback port.
    pub port: u16,
    /// Where it writes `<n>.eml` (the message) and `<n>.env` (envelope
    /// and login).
    pub maildir: PathBuf,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// The Python that runs the sink.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TMS_TEST_SMTPD") {
        return PathBuf::from(p);
    }
    let venv = workspace().join(".ci/venv/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// A free loopback port.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Starts the sink and waits for its "ready" line; `None` (said loudly)
/// when aiosmtpd is missing, a failure under `CI=true`.
pub fn start_sink() -> Option<Sink> {
    start_sink_with(&[])
}

/// [`start_sink`] with the script's options (`tls=starttls`,
/// `tls=implicit`, `refuse-first=N`; see `smtp_sink.py`). With `tls`, the
/// CA to trust is at `maildir/ca.pem`.
pub fn start_sink_with(options: &[&str]) -> Option<Sink> {
    let python = python();
    // TLS needs a certificate made at start: the `cryptography` package
    // (which moto brings into `.ci/venv`).
    let tls = options.iter().any(|o| o.starts_with("tls="));
    let imports = if tls {
        "import aiosmtpd, cryptography"
    } else {
        "import aiosmtpd"
    };
    let has_aiosmtpd = Command::new(&python)
        .args(["-c", imports])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_aiosmtpd {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "the SMTP test server is not available under CI=true: {} cannot `{imports}`",
                python.display()
            );
        }
        eprintln!(
            "\n==================================================================\n\
             SKIPPING a test that needs the SMTP test server: {} cannot\n\
             `{imports}`. Install them (pip install aiosmtpd cryptography) or\n\
             set TMS_TEST_SMTPD to a Python that has them. Under CI=true this\n\
             is a failure.\n\
             ==================================================================\n",
            python.display()
        );
        return None;
    }
    let script = workspace().join("tms-adapters/tests/mail/smtp_sink.py");
    let maildir = std::env::temp_dir().join(format!("tms-smtp-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&maildir).expect("maildir");
    let port = free_port();
    let mut child = Command::new(&python)
        .args(["-W", "ignore"])
        .arg(&script)
        .arg(port.to_string())
        .arg(&maildir)
        .args(options)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the SMTP sink");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the sink's first line");
    assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
    Some(Sink {
        child,
        port,
        maildir,
    })
}
