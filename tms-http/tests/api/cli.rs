//! The `tms-server` binary, run as an operator would, on a temp data dir.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn tms_server(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tms-server"))
        .args(args)
        .env_clear()
        .env("TMS_DATA_DIR", data_dir)
        .env("TMS_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tms-server starts");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("tms-server ends")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const INIT: &[&str] = &[
    "init",
    "--slug",
    "al-noor",
    "--name",
    "Al Noor Travel",
    "--currency",
    "SAR",
    "--branch",
    "Riyadh",
    "--email",
    "owner@alnoor.example",
    "--owner-name",
    "Noor Owner",
];

#[test]
fn init_creates_a_tenant_and_prints_a_generated_password_once() {
    let dir = tempfile::tempdir().unwrap();
    let output = tms_server(dir.path(), INIT, None);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("created tenant `al-noor`"), "{text}");
    assert!(text.contains("password: "), "{text}");
    // Logs and warnings never carry it.
    let password = text
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap();
    assert!(!String::from_utf8_lossy(&output.stderr).contains(password));

    // Printed, so handed out: it must be changed at first login.
    assert_eq!(owners_must_change_password(dir.path()), [true]);

    // The same slug again is a conflict.
    let again = tms_server(dir.path(), INIT, None);
    assert!(!again.status.success());
}

#[test]
fn init_reads_the_password_from_stdin_and_prints_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = INIT.to_vec();
    args.push("--password-stdin");
    let output = tms_server(dir.path(), &args, Some("correct-Horse-battery-staple-93\n"));
    assert!(output.status.success(), "{output:?}");
    assert!(!stdout(&output).contains("password"));
    // Chosen by the operator: no change forced.
    assert_eq!(owners_must_change_password(dir.path()), [false]);
}

/// `users.must_change_password` of every user in the embedded database.
fn owners_must_change_password(data_dir: &Path) -> Vec<bool> {
    use sqlx::Connection as _;
    let url = format!("sqlite://{}", data_dir.join("tms.db").display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar("SELECT must_change_password FROM users")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    })
}

#[test]
fn init_refuses_a_weak_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = INIT.to_vec();
    args.push("--password-stdin");
    let output = tms_server(dir.path(), &args, Some("password\n"));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("owner_password"));
}

#[test]
fn audit_verify_and_export_read_the_tenants_chain() {
    let dir = tempfile::tempdir().unwrap();
    assert!(tms_server(dir.path(), INIT, None).status.success());

    let verify = tms_server(
        dir.path(),
        &["audit", "verify", "--tenant", "al-noor"],
        None,
    );
    assert!(verify.status.success(), "{verify:?}");
    assert!(stdout(&verify).contains("intact: 3 events"), "{verify:?}");

    let jsonl = tms_server(
        dir.path(),
        &[
            "audit", "export", "--tenant", "al-noor", "--format", "jsonl",
        ],
        None,
    );
    assert!(jsonl.status.success(), "{jsonl:?}");
    let lines: Vec<serde_json::Value> = stdout(&jsonl)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);

    let csv = tms_server(
        dir.path(),
        &["audit", "export", "--tenant", "al-noor", "--format", "csv"],
        None,
    );
    assert!(csv.status.success(), "{csv:?}");
    let text = stdout(&csv);
    assert!(text.starts_with("seq,id,at,"), "{text}");
    assert_eq!(text.lines().count(), 4);
}

#[test]
fn audit_verify_of_an_unknown_tenant_fails() {
    let dir = tempfile::tempdir().unwrap();
    let output = tms_server(dir.path(), &["audit", "verify", "--tenant", "nobody"], None);
    assert!(!output.status.success());
}

#[test]
fn migrate_creates_the_embedded_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = tms_server(dir.path(), &["migrate"], None);
    assert!(output.status.success(), "{output:?}");
    assert!(dir.path().join("tms.db").exists());
}

#[test]
fn keys_rotate_appends_a_newer_key_and_keeps_the_file_private() {
    let dir = tempfile::tempdir().unwrap();
    assert!(tms_server(dir.path(), &["migrate"], None).status.success());
    let first = tms_server(dir.path(), &["keys", "rotate"], None);
    assert!(first.status.success(), "{first:?}");
    let second = tms_server(dir.path(), &["keys", "rotate"], None);
    assert!(
        stdout(&second).contains("key ids now [1, 2, 3]"),
        "{second:?}"
    );
    let path = dir.path().join("keyring");
    let ring = tms_core::security::keyring::KeyRing::from_file(&path).unwrap();
    assert_eq!(ring.newest_key_id(), 3);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_config_file_is_read_and_the_environment_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let file = dir.path().join("tms.toml");
    std::fs::write(
        &file,
        format!(
            "data_dir = {:?}\nlog = \"warn\"\n",
            other.path().display().to_string()
        ),
    )
    .unwrap();
    // TMS_DATA_DIR (set by the helper) wins over the file's data_dir.
    let output = tms_server(
        dir.path(),
        &["--config", file.to_str().unwrap(), "migrate"],
        None,
    );
    assert!(output.status.success(), "{output:?}");
    assert!(dir.path().join("tms.db").exists());
    assert!(!other.path().join("tms.db").exists());

    std::fs::write(&file, "no_such_setting = 1\n").unwrap();
    let output = tms_server(
        dir.path(),
        &["--config", file.to_str().unwrap(), "migrate"],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
}

/// Starts `tms-server serve` on port 0; returns the child and a channel of
/// its stderr lines.
fn start_serve(data_dir: &Path) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tms-server"))
        .arg("serve")
        .env_clear()
        .env("TMS_DATA_DIR", data_dir)
        .env("TMS_LISTEN", "127.0.0.1:0")
        .env("TMS_LOG", "info")
        .env("TMS_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tms-server starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for the "listening" log line; returns every line up to it.
fn wait_until_listening(rx: &std::sync::mpsc::Receiver<String>) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("tms-server logs that it listens");
        let done = line.contains("tms-server listening");
        lines.push(line);
        if done {
            return lines;
        }
    }
}

fn sigterm(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn serve_prints_the_first_run_password_once_on_stdout_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();

    let (child, rx) = start_serve(dir.path());
    let mut logs = wait_until_listening(&rx);
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    logs.extend(rx.iter());
    let text = stdout(&output);
    let password = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no password in {text}"))
        .to_owned();
    assert!(text.contains("tenant:   demo"), "{text}");
    assert!(text.contains("Change it at first login"), "{text}");
    assert!(!text.contains("127.0.0.1:0"), "{text}");
    let all_logs = logs.join("\n");
    assert!(
        !all_logs.contains(&password),
        "the password reached the log"
    );
    assert!(
        all_logs.contains("production must supply its own"),
        "{all_logs}"
    );

    // The second start finds the store set up: nothing printed.
    let (child, rx) = start_serve(dir.path());
    wait_until_listening(&rx);
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(!stdout(&output).contains("password"), "{output:?}");
}

/// RFC 4648 base32 (no padding), for the secret of an `otpauth://` URI.
fn base32_decode(text: &str) -> Vec<u8> {
    let (mut bits, mut value, mut out) = (0u32, 0u32, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        value = (value << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
            value &= (1 << bits) - 1;
        }
    }
    out
}

/// The demo owner as stored now.
async fn stored_owner(app: &crate::helpers::TestApp) -> tms_core::domain::User {
    use tms_core::ports::Store as _;
    let tenant = crate::helpers::tenant_id(app, tms_http::setup::DEMO_SLUG).await;
    let mut uow = app.store.begin().await.unwrap();
    let owner = uow
        .users()
        .find_by_email(
            tenant,
            &tms_core::domain::Email::parse(tms_http::setup::DEMO_EMAIL).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    uow.rollback().await.unwrap();
    owner
}

#[tokio::test]
async fn keys_rotate_re_encrypts_the_totp_secret_and_it_still_verifies() {
    use serde_json::{Value, json};
    use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};
    let app = crate::helpers::spawn_app().await;
    let password = app.first_run_password.clone().unwrap();
    let client = crate::helpers::http();
    let login = |otp: Option<String>| {
        let mut body = json!({ "tenant": DEMO_SLUG, "email": DEMO_EMAIL, "password": password });
        if let Some(otp) = otp {
            body["otp"] = json!(otp);
        }
        client
            .post(app.url("/api/v1/auth/login"))
            .json(&body)
            .send()
    };
    let session: Value = login(None).await.unwrap().json().await.unwrap();
    let token = session["token"].as_str().unwrap();

    // Enrol an authenticator app.
    let started: Value = client
        .post(app.url("/api/v1/auth/totp"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uri = started["otpauth_uri"].as_str().unwrap();
    let secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap();
    let secret = tms_core::security::totp::TotpSecret::from_bytes(&base32_decode(secret)).unwrap();
    let response = client
        .post(app.url("/api/v1/auth/totp/confirm"))
        .bearer_auth(token)
        .json(&json!({ "code": secret.code_at(chrono::Utc::now()).unwrap() }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let before = stored_owner(&app).await.two_factor.totp_secret.unwrap();
    assert_eq!(before.key_id(), Some(1));

    // Rotate with the server stopped (it holds the ring in memory).
    let mut app = app;
    app.stop().await;
    let output = tms_server(app.data_dir.path(), &["keys", "rotate"], None);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("added key 2"), "{text}");
    assert!(
        text.contains("re-encrypted 1 of 1 secrets with key 2"),
        "{text}"
    );

    let app = crate::helpers::restart(app).await;
    let after = stored_owner(&app).await.two_factor.totp_secret.unwrap();
    assert_eq!(after.key_id(), Some(2), "the ciphertext names the new key");
    assert_ne!(after, before);

    // The authenticator app still works: the next step's code signs in.
    let next = secret
        .code_at(chrono::Utc::now() + chrono::Duration::seconds(30))
        .unwrap();
    let password = crate::helpers::OWNER_PASSWORD;
    let response = crate::helpers::http()
        .post(app.url("/api/v1/auth/login"))
        .json(
            &json!({ "tenant": DEMO_SLUG, "email": DEMO_EMAIL, "password": password, "otp": next }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);

    // A second run has nothing left to re-encrypt.
    let mut app = app;
    app.stop().await;
    let output = tms_server(app.data_dir.path(), &["keys", "reseal"], None);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).contains("re-encrypted 0 of 1 secrets with key 2 (1 already under it"),
        "{output:?}"
    );
}
