//! The blob store on a real S3-protocol server: moto's `moto_server`,
//! started by the harness on a free loopback port for each test and killed
//! when the test's guard drops.
//!
//! The server is `$TMS_TEST_MOTO` (set by `.ci/run`, which installs
//! `moto[server]` in a venv), else `moto_server` on `PATH`. When neither is
//! there the tests say so loudly and skip — except under `CI=true`, where
//! that fails them.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tms_adapters::blob::{S3BlobStore, install_crypto_provider};
use tms_core::Error;
use tms_core::ports::{BlobCategory, BlobStore};
use tms_core::security::secret::Secret;
use tms_core::testkit::blobs::new_key;

const BUCKET: &str = "tms-test";
const ACCESS_KEY: &str = "AKIDTMSTEST";
const SECRET_KEY: &str = "tms-test-secret-do-not-leak";

/// A running moto server; killed (and reaped) on drop.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn moto_binary() -> String {
    std::env::var("TMS_TEST_MOTO").unwrap_or_else(|_| "moto_server".to_owned())
}

fn skip_or_fail(why: String) -> Option<Moto> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the S3 test server is not available under CI=true: {why}");
    }
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "\n==================================================================\n\
             SKIPPING the S3 blob store tests: {why}.\n\
             Install it (pip install 'moto[server]') or set TMS_TEST_MOTO to\n\
             the moto_server binary. Under CI=true this is a failure.\n\
             ==================================================================\n"
        );
    }
    None
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Starts moto on a free port and waits until it accepts connections.
async fn start_moto() -> Option<Moto> {
    let binary = moto_binary();
    for _attempt in 0..3 {
        let port = free_port();
        let child = match Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => return skip_or_fail(format!("cannot start `{binary}` ({e})")),
        };
        let mut moto = Moto { child, port };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = moto.child.try_wait() {
                break; // exited: the port was taken meanwhile; try another
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Some(moto);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("`{binary}` did not start listening on loopback");
}

fn http_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::new()
}

async fn create_bucket(moto: &Moto) {
    let response = http_client()
        .put(format!("{}/{BUCKET}", moto.endpoint()))
        .send()
        .await
        .expect("create bucket");
    assert!(
        response.status().is_success(),
        "create bucket: {}",
        response.status()
    );
}

fn store_for(endpoint: &str) -> S3BlobStore {
    S3BlobStore::builder(BUCKET)
        .endpoint(endpoint)
        .region("us-east-1")
        .path_style(true)
        .allow_http(true)
        .credentials(ACCESS_KEY, Secret::new(SECRET_KEY.to_owned()))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build the S3 store")
}

pub async fn fresh_store() -> Option<(Arc<dyn BlobStore>, Moto)> {
    let moto = start_moto().await?;
    create_bucket(&moto).await;
    let store = store_for(&moto.endpoint());
    Some((Arc::new(store), moto))
}

tms_core::blob_contract_tests!(fresh_store);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presigned_url_downloads_the_file_and_carries_no_secret() {
    let Some((store, moto)) = fresh_store().await else {
        return;
    };
    let key = new_key(BlobCategory::BookingDocument);
    store
        .put(&key, b"%PDF-1.4 visa".to_vec(), "application/pdf")
        .await
        .expect("put");
    let url = store
        .presign_get(&key, chrono::Duration::hours(24))
        .await
        .expect("presign")
        .expect("S3 presigns");
    assert!(url.starts_with(&moto.endpoint()), "{url}");
    assert!(!url.contains(SECRET_KEY), "the secret is in the URL");
    // A day was asked for; at most 15 minutes is given.
    assert!(url.contains("X-Amz-Expires=900"), "{url}");
    let response = http_client().get(&url).send().await.expect("download");
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        response.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/pdf"[..])
    );
    assert_eq!(&response.bytes().await.expect("body")[..], b"%PDF-1.4 visa");
    // The plain URL without a signature is not a way in... on real S3. Moto
    // does not check signatures, so that part is AWS's to keep.
    drop(moto);
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_errors_leak_nothing() {
    // A port nobody listens on.
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let store = store_for(&endpoint);
    let key = new_key(BlobCategory::Branding);
    for err in [
        store.get(&key).await.expect_err("get"),
        store
            .put(&key, b"x".to_vec(), "image/png")
            .await
            .expect_err("put"),
    ] {
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        let text = format!("{err} {err:?}");
        assert!(
            !text.contains(SECRET_KEY) && !text.contains(&endpoint),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_not_a_success() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let store = store_for(&moto.endpoint());
    let err = store
        .put(&new_key(BlobCategory::Branding), b"x".to_vec(), "image/png")
        .await
        .expect_err("no bucket");
    assert!(!format!("{err:?}").contains(SECRET_KEY), "{err:?}");
}
