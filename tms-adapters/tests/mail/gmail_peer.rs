//! A Gmail API peer for tests, shared by every suite that needs one (this
//! crate's adapter tests, the server's Mail Ops tests — they include this
//! file by path): an axum server on a free loopback port, following the
//! public shapes of the Gmail API v1 (`users.getProfile`,
//! `users.messages.list`, `users.history.list`, `users.messages.get`,
//! `users.messages.attachments.get`, `users.messages.send`). It uses only
//! axum, tokio, serde_json and base64, which both test targets have.
//!
//! State: a mailbox of messages (id, thread id, labels, raw bytes, internal
//! date), newest last, and a history of `messageAdded` records; every
//! change raises the history id by one.
//!
//! API for tests:
//! - [`GmailPeer::start`]`(token)` — listens; [`GmailPeer::base_url`] is the
//!   adapter's `base_url` (`…/gmail/v1/users/me`). Calls without
//!   `Authorization: Bearer <token>` answer 401 (as Google does);
//!   [`GmailPeer::set_token`] changes the accepted token (a revoked one).
//! - [`GmailPeer::add_message`]`(thread, labels, raw)` — a new message
//!   (a new history record), at any time, also while a sync runs; its id.
//!   `thread: None` starts a thread named after the message, as Gmail does.
//! - [`GmailPeer::add_attachment`]`(message, part_id, bytes)` — registers an
//!   attachment of a message under Gmail's part id (`"1"`, `"0.1"`, numbered
//!   from 0); its attachment id. `format=full` answers a payload whose parts
//!   are exactly the registered attachments (the peer does not parse MIME).
//! - [`GmailPeer::expire_history_below`]`(floor)` — `history` with a
//!   `startHistoryId` below `floor` answers 404.
//! - [`GmailPeer::fail_next`]`(n, Failure)` — the next `n` calls (after the
//!   token check) answer 429 with `Retry-After`, 403 `userRateLimitExceeded`,
//!   or 500.
//! - [`GmailPeer::sent`] — what `messages.send` received (raw, thread id);
//!   each sent message is also added to the mailbox with label `SENT`.
//! - [`GmailPeer::history_id`], [`GmailPeer::requests`] (method and path
//!   with query of every call, in order).
//!
//! Paging: `maxResults` (default 100) and an opaque `pageToken` (an offset
//! here). `messages.list` is newest first and ignores `q` except that it
//! is recorded in [`GmailPeer::requests`]. Unknown message ids answer 404.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::{Value, json};

/// A scripted failure ([`GmailPeer::fail_next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429 with `Retry-After: <secs>` and reason `rateLimitExceeded`.
    TooManyRequests { retry_after_secs: u32 },
    /// 403 with reason `userRateLimitExceeded`, no `Retry-After`.
    UserRateLimit,
    /// 500 "Backend Error".
    ServerError,
}

/// One message in the peer's mailbox.
#[derive(Debug, Clone)]
pub struct PeerMessage {
    pub id: String,
    pub thread_id: String,
    pub labels: Vec<String>,
    pub raw: Vec<u8>,
    /// Milliseconds since the epoch.
    pub internal_date: i64,
    /// Gmail part id → (attachment id, bytes).
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

/// One call to `messages.send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub id: String,
    pub raw: Vec<u8>,
    pub thread_id: Option<String>,
}

#[derive(Default)]
struct Mailbox {
    token: String,
    messages: Vec<PeerMessage>,
    /// (history id, message id), oldest first.
    history: Vec<(u64, String)>,
    history_id: u64,
    history_floor: u64,
    failures: Vec<Failure>,
    sent: Vec<SentMessage>,
    requests: Vec<String>,
    next_id: u64,
}

impl Mailbox {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        // Gmail's ids are 16 hex digits.
        format!("{:016x}", 0x18c2_0000_0000_0000_u64 + self.next_id)
    }

    fn add(&mut self, thread: Option<String>, labels: Vec<String>, raw: Vec<u8>) -> PeerMessage {
        let id = self.new_id();
        self.history_id += 1;
        let message = PeerMessage {
            thread_id: thread.unwrap_or_else(|| id.clone()),
            id: id.clone(),
            labels,
            raw,
            // A fixed clock: 2026-12-01T12:00:00Z plus a minute a message.
            internal_date: 1_796_126_400_000 + self.next_id as i64 * 60_000,
            attachments: Vec::new(),
        };
        self.history.push((self.history_id, id));
        self.messages.push(message.clone());
        message
    }

    fn find(&self, id: &str) -> Option<&PeerMessage> {
        self.messages.iter().find(|m| m.id == id)
    }
}

type Shared = Arc<Mutex<Mailbox>>;

/// A running Gmail peer; stops when dropped.
pub struct GmailPeer {
    state: Shared,
    base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GmailPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GmailPeer {
    /// Starts a peer accepting `token`, its history id at 1000.
    pub async fn start(token: &str) -> Self {
        let state: Shared = Arc::new(Mutex::new(Mailbox {
            token: token.to_owned(),
            history_id: 1000,
            ..Mailbox::default()
        }));
        let api = Router::new()
            .route("/profile", get(profile))
            .route("/messages", get(list))
            .route("/messages/send", post(send))
            .route("/messages/{id}", get(message))
            .route("/messages/{id}/attachments/{aid}", get(attachment))
            .route("/history", get(history))
            .layer(middleware::from_fn_with_state(state.clone(), gate))
            .with_state(state.clone());
        let app = Router::new().nest("/gmail/v1/users/me", api);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the Gmail peer");
        let port = listener.local_addr().expect("local addr").port();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("serve the Gmail peer");
        });
        Self {
            state,
            base_url: format!("http://127.0.0.1:{port}/gmail/v1/users/me"),
            task,
        }
    }

    /// The adapter's `base_url`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mailbox> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a message (a new history record); its id.
    pub fn add_message(&self, thread: Option<&str>, labels: &[&str], raw: &[u8]) -> String {
        self.lock()
            .add(
                thread.map(str::to_owned),
                labels.iter().map(|l| (*l).to_owned()).collect(),
                raw.to_vec(),
            )
            .id
    }

    /// The message `id` as stored.
    pub fn message(&self, id: &str) -> Option<PeerMessage> {
        self.lock().find(id).cloned()
    }

    /// Registers an attachment of `message` at Gmail's `part_id`; its id.
    pub fn add_attachment(&self, message: &str, part_id: &str, bytes: &[u8]) -> String {
        let mut mailbox = self.lock();
        // Gmail's attachment ids are long base64url strings.
        let aid = format!("ANGjdJ_{}_{}", message, part_id.replace('.', "-"));
        let m = mailbox
            .messages
            .iter_mut()
            .find(|m| m.id == message)
            .expect("add_attachment: no such message");
        m.attachments
            .push((part_id.to_owned(), aid.clone(), bytes.to_vec()));
        aid
    }

    /// The current history id.
    pub fn history_id(&self) -> u64 {
        self.lock().history_id
    }

    /// `history` below `floor` answers 404 from now on.
    pub fn expire_history_below(&self, floor: u64) {
        self.lock().history_floor = floor;
    }

    /// The next `n` calls fail with `failure`.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut mailbox = self.lock();
        mailbox.failures.extend(std::iter::repeat_n(failure, n));
    }

    /// The token the peer accepts from now on.
    pub fn set_token(&self, token: &str) {
        self.lock().token = token.to_owned();
    }

    /// What `messages.send` received, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// Every call, as `METHOD /path?query`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }
}

fn google_error(status: StatusCode, message: &str, reason: &str) -> Response {
    let body = json!({
        "error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{ "message": message, "domain": "global", "reason": reason }],
            "status": match status.as_u16() {
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                404 => "NOT_FOUND",
                429 => "RESOURCE_EXHAUSTED",
                400 => "INVALID_ARGUMENT",
                _ => "INTERNAL",
            },
        }
    });
    (status, axum::Json(body)).into_response()
}

fn not_found() -> Response {
    google_error(
        StatusCode::NOT_FOUND,
        "Requested entity was not found.",
        "notFound",
    )
}

/// Records the call, checks the bearer token, plays scripted failures.
async fn gate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let failure = {
        let mut mailbox = state.lock().unwrap_or_else(|p| p.into_inner());
        let line = format!(
            "{} {}",
            request.method(),
            request
                .uri()
                .path_and_query()
                .map_or("", |p| p.as_str())
                .trim_start_matches("/gmail/v1/users/me")
        );
        mailbox.requests.push(line);
        let expected = format!("Bearer {}", mailbox.token);
        let authorized = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == expected);
        if !authorized {
            return google_error(
                StatusCode::UNAUTHORIZED,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, \
                 login cookie or other valid authentication credential.",
                "authError",
            );
        }
        (!mailbox.failures.is_empty()).then(|| mailbox.failures.remove(0))
    };
    match failure {
        Some(Failure::TooManyRequests { retry_after_secs }) => {
            let mut response = google_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many concurrent requests for user",
                "rateLimitExceeded",
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                retry_after_secs.to_string().parse().unwrap(),
            );
            response
        }
        Some(Failure::UserRateLimit) => google_error(
            StatusCode::FORBIDDEN,
            "User-rate limit exceeded.",
            "userRateLimitExceeded",
        ),
        Some(Failure::ServerError) => google_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Backend Error",
            "backendError",
        ),
        None => next.run(request).await,
    }
}

/// `maxResults` and `pageToken` as (offset, size), or Google's 400.
fn page(query: &HashMap<String, String>) -> Option<(usize, usize)> {
    let size = match query.get("maxResults") {
        Some(v) => v.parse::<usize>().ok().filter(|n| (1..=500).contains(n))?,
        None => 100,
    };
    let offset = match query.get("pageToken") {
        Some(v) => v.parse::<usize>().ok()?,
        None => 0,
    };
    Some((offset, size))
}

fn bad_page() -> Response {
    google_error(
        StatusCode::BAD_REQUEST,
        "Invalid pageToken or maxResults",
        "invalidArgument",
    )
}

async fn profile(State(state): State<Shared>) -> Response {
    let mailbox = state.lock().unwrap_or_else(|p| p.into_inner());
    axum::Json(json!({
        "emailAddress": "bookings@alnoor-travel.example",
        "messagesTotal": mailbox.messages.len(),
        "threadsTotal": mailbox.messages.len(),
        "historyId": mailbox.history_id.to_string(),
    }))
    .into_response()
}

async fn list(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some((offset, size)) = page(&query) else {
        return bad_page();
    };
    let mailbox = state.lock().unwrap_or_else(|p| p.into_inner());
    let newest_first: Vec<&PeerMessage> = mailbox.messages.iter().rev().collect();
    let slice: Vec<Value> = newest_first
        .iter()
        .skip(offset)
        .take(size)
        .map(|m| json!({ "id": m.id, "threadId": m.thread_id }))
        .collect();
    let mut body = json!({ "resultSizeEstimate": slice.len() });
    // Gmail leaves `messages` out of an empty page.
    if !slice.is_empty() {
        body["messages"] = Value::from(slice);
    }
    if offset + size < newest_first.len() {
        body["nextPageToken"] = Value::from((offset + size).to_string());
    }
    axum::Json(body).into_response()
}

async fn history(
    State(state): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(start) = query
        .get("startHistoryId")
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid startHistoryId",
            "invalidArgument",
        );
    };
    let Some((offset, size)) = page(&query) else {
        return bad_page();
    };
    let mailbox = state.lock().unwrap_or_else(|p| p.into_inner());
    if start < mailbox.history_floor {
        return not_found();
    }
    let records: Vec<&(u64, String)> = mailbox.history.iter().filter(|(h, _)| *h > start).collect();
    let history: Vec<Value> = records
        .iter()
        .skip(offset)
        .take(size)
        .filter_map(|(h, id)| {
            let m = mailbox.find(id)?;
            let message = json!({ "id": m.id, "threadId": m.thread_id, "labelIds": m.labels });
            Some(json!({
                "id": h.to_string(),
                "messages": [{ "id": m.id, "threadId": m.thread_id }],
                "messagesAdded": [{ "message": message }],
            }))
        })
        .collect();
    let mut body = json!({ "historyId": mailbox.history_id.to_string() });
    if !history.is_empty() {
        body["history"] = Value::from(history);
    }
    if offset + size < records.len() {
        body["nextPageToken"] = Value::from((offset + size).to_string());
    }
    axum::Json(body).into_response()
}

async fn message(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mailbox = state.lock().unwrap_or_else(|p| p.into_inner());
    let Some(m) = mailbox.find(&id) else {
        return not_found();
    };
    match query.get("format").map(String::as_str) {
        Some("raw") => axum::Json(json!({
            "id": m.id,
            "threadId": m.thread_id,
            "labelIds": m.labels,
            "snippet": "",
            "sizeEstimate": m.raw.len(),
            "historyId": mailbox.history_id.to_string(),
            "internalDate": m.internal_date.to_string(),
            "raw": URL_SAFE.encode(&m.raw),
        }))
        .into_response(),
        Some("full") => {
            let parts: Vec<Value> = m
                .attachments
                .iter()
                .map(|(part, aid, bytes)| {
                    json!({
                        "partId": part,
                        "mimeType": "application/octet-stream",
                        "filename": format!("part-{part}"),
                        "body": { "attachmentId": aid, "size": bytes.len() },
                    })
                })
                .collect();
            axum::Json(json!({
                "payload": {
                    "partId": "",
                    "mimeType": "multipart/mixed",
                    "body": { "size": 0 },
                    "parts": parts,
                }
            }))
            .into_response()
        }
        _ => google_error(
            StatusCode::BAD_REQUEST,
            "The peer serves format=raw and format=full only",
            "invalidArgument",
        ),
    }
}

async fn attachment(
    State(state): State<Shared>,
    Path((id, aid)): Path<(String, String)>,
) -> Response {
    let mailbox = state.lock().unwrap_or_else(|p| p.into_inner());
    let Some(m) = mailbox.find(&id) else {
        return not_found();
    };
    match m.attachments.iter().find(|(_, a, _)| *a == aid) {
        Some((_, aid, bytes)) => axum::Json(json!({
            "attachmentId": aid,
            "size": bytes.len(),
            "data": URL_SAFE.encode(bytes),
        }))
        .into_response(),
        None => not_found(),
    }
}

async fn send(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let Some(parsed) = parsed.filter(|_| is_json) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid JSON payload received.",
            "badRequest",
        );
    };
    let raw = parsed["raw"].as_str().and_then(|r| {
        URL_SAFE
            .decode(r)
            .ok()
            // Google also takes standard base64 here.
            .or_else(|| STANDARD.decode(r).ok())
    });
    let Some(raw) = raw else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid value for ByteString",
            "invalidArgument",
        );
    };
    let thread_id = parsed["threadId"].as_str().map(str::to_owned);
    let mut mailbox = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(thread) = &thread_id
        && !mailbox.messages.iter().any(|m| &m.thread_id == thread)
    {
        return not_found();
    }
    let m = mailbox.add(thread_id.clone(), vec!["SENT".to_owned()], raw.clone());
    mailbox.sent.push(SentMessage {
        id: m.id.clone(),
        raw,
        thread_id,
    });
    axum::Json(json!({ "id": m.id, "threadId": m.thread_id, "labelIds": m.labels })).into_response()
}
