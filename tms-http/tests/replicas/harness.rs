//! What the replica and fault tests share: a PostgreSQL database of their
//! own, `tms-server` processes started from the built binary, and HTTP.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection as _;

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The role the servers connect as: it owns no table, so row-level
/// security binds it (the owner URL migrates and grants it row access).
pub const APP_ROLE: &str = "tms_test_app";
pub const SLUG: &str = "replica-travel";
pub const EMAIL: &str = "owner@replica.example";
pub const PASSWORD: &str = "correct-Horse-battery-staple-93";
/// One key ring and one session key for every replica (production hands
/// them in the same way, from outside the database).
const KEYRING: &str = "1:QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
const JWT_KEY: &str = "SldUSldUSldUSldUSldUSldUSldUSldUSldUSldUSldUSldU";

fn admin_url() -> String {
    std::env::var("TMS_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// `url` with another database and, optionally, another user.
pub fn rewrite_url(url: &str, user: Option<&str>, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let rest = &base[scheme_end..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let authority = match (user, authority.rfind('@')) {
        (Some(user), Some(at)) => format!("{user}@{}", &authority[at + 1..]),
        (Some(user), None) => format!("{user}@{authority}"),
        (None, _) => authority.to_owned(),
    };
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{}{authority}/{database}{query}", &base[..scheme_end])
}

/// A database of the test's own on the shared server; dropped on drop.
pub struct Database {
    pub name: String,
    /// As the owner (the test role).
    pub owner_url: String,
    /// As [`APP_ROLE`].
    pub app_url: String,
    admin: String,
}

impl Database {
    /// `None` (said loudly) when PostgreSQL is unreachable, a failure under
    /// `CI=true`.
    pub async fn create() -> Option<Self> {
        Self::create_on(&admin_url()).await
    }

    pub async fn create_on(admin: &str) -> Option<Self> {
        let mut conn = match sqlx::PgConnection::connect(admin).await {
            Ok(conn) => conn,
            Err(e) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("PostgreSQL is unreachable under CI=true: {e}");
                }
                eprintln!("\nSKIPPING: no PostgreSQL at TMS_TEST_DATABASE_URL ({e})\n");
                return None;
            }
        };
        let name = format!(
            "tms_test_{}_{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )))
        .execute(&mut conn)
        .await
        .expect("CREATE ROLE");
        let _ = conn.close().await;
        Some(Self {
            owner_url: rewrite_url(admin, None, &name),
            app_url: rewrite_url(admin, Some(APP_ROLE), &name),
            name,
            admin: admin.to_owned(),
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port()
}

/// How a server process is configured, beyond the shared keys.
#[derive(Clone, Default)]
pub struct ServerEnv {
    pub vars: Vec<(String, String)>,
}

impl ServerEnv {
    pub fn for_database(db: &Database) -> Self {
        Self {
            vars: vec![
                ("TMS_DATABASE_URL".into(), db.app_url.clone()),
                ("TMS_DATABASE_OWNER_URL".into(), db.owner_url.clone()),
            ],
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.vars.push((key.into(), value.into()));
        self
    }

    fn command(&self, data_dir: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tms-server"));
        cmd.env_clear()
            .env("TMS_DATA_DIR", data_dir)
            .env("TMS_KEYRING", KEYRING)
            .env("TMS_JWT_KEY", JWT_KEY)
            .env("TMS_LOG", "warn")
            // Each request below comes "from" its own address, so the
            // per-IP login throttle stays out of the way.
            .env("TMS_TRUSTED_PROXIES", "127.0.0.1")
            .env("TMS_FIRST_RUN", "false")
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// `tms-server init` of the test tenant.
    pub fn init(&self) {
        let dir = tempfile::tempdir().expect("dir");
        let mut child = self
            .command(dir.path())
            .args([
                "init",
                "--slug",
                SLUG,
                "--name",
                "Replica Travel",
                "--currency",
                "SAR",
                "--branch",
                "Riyadh",
                "--email",
                EMAIL,
                "--owner-name",
                "Replica Owner",
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tms-server init");
        {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().expect("stdin");
            writeln!(stdin, "{PASSWORD}").expect("password");
        }
        let output = child.wait_with_output().expect("init ends");
        assert!(output.status.success(), "init: {output:?}");
    }

    /// Starts `tms-server serve` on a free port and waits until `/readyz`.
    pub async fn serve(&self) -> Server {
        let data_dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let child = self
            .command(data_dir.path())
            .env("TMS_LISTEN", format!("127.0.0.1:{port}"))
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tms-server serve");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _data_dir: data_dir,
        };
        server.wait_ready().await;
        server
    }
}

/// A running `tms-server`; killed on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    _data_dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Polls `/readyz` (generously: two cores, several test processes).
    pub async fn wait_ready(&self) {
        for _ in 0..600 {
            if let Ok(r) = http().get(self.url("/readyz")).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} never became ready", self.base);
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A login from `ip`; the response.
    pub async fn login_from(&self, ip: &str, password: &str) -> reqwest::Response {
        http()
            .post(self.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", ip)
            .json(&json!({ "tenant": SLUG, "email": EMAIL, "password": password }))
            .send()
            .await
            .expect("login request")
    }

    /// The owner's session token.
    pub async fn login(&self) -> String {
        let response = self.login_from(&next_ip(), PASSWORD).await;
        assert_eq!(response.status(), 200, "login");
        let body: Value = response.json().await.expect("body");
        body["token"].as_str().expect("token").to_owned()
    }
}

pub fn http() -> reqwest::Client {
    // reqwest is built without a crypto provider of its own (one provider,
    // ring, for the whole workspace): install it once.
    tms_adapters::blob::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// A fresh documentation address (198.51.100.0/24, then on) per call.
pub fn next_ip() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("198.51.{}.{}", 100 + n / 250, 1 + n % 250)
}

/// Every `Message-ID` in the sink's folder (one per accepted message).
pub fn message_ids(maildir: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    let Ok(entries) = std::fs::read_dir(maildir) else {
        return ids;
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    paths.sort();
    for path in paths {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if let Some(id) = text.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("message-id")
                .then(|| value.trim().to_owned())
        }) {
            ids.push(id);
        }
    }
    ids
}

/// The shared SMTP sink's script, started on a port the test chose (the
/// fault tests stop it and start it again where the server expects it).
pub fn start_sink_at(port: u16, maildir: &Path) -> Child {
    use std::io::{BufRead as _, BufReader};
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .join("tms-adapters/tests/mail/smtp_sink.py");
    std::fs::create_dir_all(maildir).expect("maildir");
    let mut child = Command::new(crate::sink::python())
        .args(["-W", "ignore"])
        .arg(&script)
        .arg(port.to_string())
        .arg(maildir)
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
    child
}

/// Asks for `n` password-reset mails (each from its own address, past the
/// per-IP throttle).
pub async fn request_resets(server: &Server, n: usize) {
    for _ in 0..n {
        let r = http()
            .post(server.url("/api/v1/auth/password-reset"))
            .header("X-Forwarded-For", next_ip())
            .json(&json!({ "tenant": SLUG, "email": EMAIL }))
            .send()
            .await
            .expect("reset request");
        assert_eq!(r.status(), 202);
    }
}

/// Runs `sql` (one count) as the owner until it reaches `n`, polling
/// generously; the last count.
pub async fn wait_for_count(db: &Database, sql: &str, n: i64) -> i64 {
    let mut last = -1;
    for _ in 0..3000 {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&db.owner_url).await {
            let count: Result<(i64,), _> = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_one(&mut conn)
                .await;
            let _ = conn.close().await;
            if let Ok((count,)) = count {
                last = count;
                if count >= n {
                    return count;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}
