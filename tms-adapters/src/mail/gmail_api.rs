//! The Gmail API as a [`MailboxReader`] (feature `gmail`), over reqwest
//! 0.13 on rustls with ring.
//!
//! - **Calls.** `GET /profile` (the history id), `GET /messages` (search,
//!   paged), `GET /history?historyTypes=messageAdded` (incremental sync;
//!   404 means the start id is too old: [`HistoryOutcome::Expired`]),
//!   `GET /messages/{id}?format=raw` (the raw bytes, parsed by
//!   [`inbound::parse`](super::inbound::parse)), `GET
//!   /messages/{id}/attachments/{aid}` and `POST /messages/send`.
//! - **Attachment ids.** The raw format carries no attachment ids, so a
//!   message with attachments costs a second, partial call
//!   (`format=full&fields=payload`) whose part tree maps each part id to
//!   Gmail's attachment id. Gmail numbers parts from 0 (`"1.0"`), the
//!   parser from 1 as IMAP does (`"2.1"`): [`gmail_part_id`] converts.
//! - **Errors** (see the port's module doc): 429, and 403 with reason
//!   `rateLimitExceeded` / `userRateLimitExceeded`, are
//!   [`Error::RateLimited`] (`Retry-After` honoured, else
//!   [`DEFAULT_RETRY_AFTER_SECS`]); 5xx and network failures
//!   [`Error::Unavailable`]; 401 [`Error::Rejected`] (the token is refused:
//!   refresh or reconnect); 404 on a message [`Error::NotFound`]; other 4xx
//!   [`Error::Rejected`] with Google's `error.message`. No error and no
//!   `Debug` ever carries the access token.
//! - **Bounds.** A response is read up to
//!   [`GmailMailboxConfig::max_response_bytes`] (default
//!   [`MAX_RESPONSE_BYTES`]; Gmail's raw messages go up to 35 MB, base64
//!   adds a third); beyond that the call is [`Error::Rejected`]. Ids from
//!   the provider go into URL paths only after a check that they are Gmail
//!   ids (`[0-9A-Za-z_-]`).
//! - **No redirects** are followed: the bearer token must not travel to
//!   another host.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;
use tms_core::ports::{
    FetchedMessage, HistoryOutcome, HistoryPage, MailboxMessageRef, MailboxReader, MessageList,
};
use tms_core::security::secret::Secret;
use tms_core::{Error, Result};

use super::inbound;

/// The Gmail API of the signed-in account.
pub const GMAIL_API_URL: &str = "https://gmail.googleapis.com/gmail/v1/users/me";
/// The most bytes read of one answer (25 MiB).
pub const MAX_RESPONSE_BYTES: usize = 25 * 1024 * 1024;
/// How long to back off when Gmail limits the rate without a `Retry-After`.
pub const DEFAULT_RETRY_AFTER_SECS: i64 = 60;
/// The longest `Retry-After` believed: a broken header must not park the
/// mailbox for a day.
const MAX_RETRY_AFTER_SECS: i64 = 3600;
/// The most bytes sent in one `messages.send` (Gmail's limit for a message
/// sent as JSON, without the upload endpoint).
pub const MAX_SEND_BYTES: usize = 5 * 1024 * 1024;
/// The most bytes read of an error answer.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// Where the Gmail API is and how calls to it behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmailMailboxConfig {
    /// The API root, up to the user ([`GMAIL_API_URL`]).
    pub base_url: String,
    /// Gives up on a call after this long (a raw message can be large).
    pub timeout: Duration,
    /// The most bytes read of one answer ([`MAX_RESPONSE_BYTES`]).
    pub max_response_bytes: usize,
    /// Messages per listing page (`maxResults`, 1..=500).
    pub page_size: u32,
}

impl Default for GmailMailboxConfig {
    fn default() -> Self {
        Self {
            base_url: GMAIL_API_URL.to_owned(),
            timeout: Duration::from_secs(60),
            max_response_bytes: MAX_RESPONSE_BYTES,
            page_size: 100,
        }
    }
}

/// A Gmail mailbox over the Gmail API (see the module doc). It holds no
/// token: every call takes the account's.
///
/// ```
/// use tms_adapters::mail::{GmailMailbox, GmailMailboxConfig};
///
/// let gmail = GmailMailbox::new(GmailMailboxConfig::default())?;
/// assert!(format!("{gmail:?}").contains("gmail.googleapis.com"));
/// # Ok::<(), tms_core::Error>(())
/// ```
pub struct GmailMailbox {
    http: reqwest::Client,
    base: Url,
    max_response_bytes: usize,
    page_size: u32,
}

impl fmt::Debug for GmailMailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GmailMailbox")
            .field("base_url", &self.base.as_str())
            .field("max_response_bytes", &self.max_response_bytes)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

/// Base64url as Gmail writes it, with or without padding.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A Gmail id (message, thread, attachment) checked before it goes into a
/// URL path.
fn gmail_id<'a>(field: &'static str, id: &'a str) -> Result<&'a str> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(id)
    } else {
        Err(Error::invalid(field, "is not a Gmail id"))
    }
}

/// Gmail's part id of an IMAP section number (`"2.1"` → `"1.0"`); `None`
/// when the number is not one.
pub fn gmail_part_id(imap: &str) -> Option<String> {
    imap.split('.')
        .map(|n| n.parse::<u32>().ok().and_then(|n| n.checked_sub(1)))
        .map(|n| n.map(|n| n.to_string()))
        .collect::<Option<Vec<_>>>()
        .map(|parts| parts.join("."))
}

impl GmailMailbox {
    /// A mailbox client for `config`; `Invalid` when the base URL does not
    /// parse or the page size is out of Gmail's range.
    pub fn new(config: GmailMailboxConfig) -> Result<Self> {
        // reqwest on rustls without a built-in provider: ring, installed
        // once per process (a second install is refused, harmlessly).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut base = Url::parse(config.base_url.trim_end_matches('/'))
            .map_err(|e| Error::invalid("gmail_api_url", format!("is not a URL: {e}")))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(Error::invalid("gmail_api_url", "is not an http(s) URL"));
        }
        // Joined paths append to it.
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        if !(1..=500).contains(&config.page_size) {
            return Err(Error::invalid("gmail_page_size", "must be 1 to 500"));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .build()
            .map_err(|e| Error::internal(format!("no HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            max_response_bytes: config.max_response_bytes,
            page_size: config.page_size,
        })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url> {
        let mut url = self
            .base
            .join(path)
            .map_err(|e| Error::internal(format!("Gmail URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// One call; its body when it succeeded, else the error it means
    /// (`not_found` for a 404).
    async fn call(
        &self,
        method: Method,
        url: Url,
        token: &Secret<String>,
        body: Option<Value>,
        what: &'static str,
        not_found: impl FnOnce() -> Error,
    ) -> Result<Vec<u8>> {
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(token.expose())
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let mut response = request.send().await.map_err(|e| {
            Error::unavailable(format!(
                "Gmail cannot be reached for the {what}: {}",
                e.without_url()
            ))
        })?;
        let status = response.status();
        if status.is_success() {
            return self
                .read(&mut response, self.max_response_bytes, what)
                .await;
        }
        let retry_after = retry_after(response.headers());
        // An unreadable error body is still an error of this status.
        let body = self
            .read(&mut response, MAX_ERROR_BYTES, what)
            .await
            .unwrap_or_default();
        Err(classify(status, retry_after, &body, what, not_found))
    }

    /// The body, up to `max` bytes.
    async fn read(
        &self,
        response: &mut reqwest::Response,
        max: usize,
        what: &'static str,
    ) -> Result<Vec<u8>> {
        let too_big = || {
            Error::rejected(format!(
                "Gmail's answer to the {what} is larger than the {} KiB TMS reads",
                max / 1024
            ))
        };
        if response
            .content_length()
            .is_some_and(|len| len > max as u64)
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            Error::unavailable(format!(
                "Gmail's answer to the {what} broke off: {}",
                e.without_url()
            ))
        })? {
            if body.len() + chunk.len() > max {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        url: Url,
        token: &Secret<String>,
        what: &'static str,
        not_found: impl FnOnce() -> Error,
    ) -> Result<T> {
        let body = self
            .call(Method::GET, url, token, None, what, not_found)
            .await?;
        serde_json::from_slice(&body).map_err(|e| {
            Error::unavailable(format!("Gmail's answer to the {what} is unreadable: {e}"))
        })
    }

    /// Gmail's attachment id of each part, from the message's part tree.
    async fn attachment_ids(
        &self,
        token: &Secret<String>,
        id: &str,
    ) -> Result<Vec<(String, String)>> {
        let url = self.url(
            &format!("messages/{id}"),
            &[("format", "full"), ("fields", "payload")],
        )?;
        let full: FullMessage = self
            .get_json(url, token, "message structure", || {
                Error::not_found("mail message")
            })
            .await?;
        let mut out = Vec::new();
        let mut stack: Vec<&Part> = full.payload.iter().collect();
        while let Some(part) = stack.pop() {
            if let (Some(part_id), Some(aid)) = (
                part.part_id.as_ref(),
                part.body.as_ref().and_then(|b| b.attachment_id.as_ref()),
            ) {
                out.push((part_id.clone(), aid.clone()));
            }
            // Gmail nests at most a few levels; a hostile tree is bounded
            // by the response cap.
            stack.extend(part.parts.iter());
        }
        Ok(out)
    }
}

/// What a failed call means for the caller.
fn classify(
    status: StatusCode,
    retry_after: Option<chrono::Duration>,
    body: &[u8],
    what: &str,
    not_found: impl FnOnce() -> Error,
) -> Error {
    let google: Option<GoogleError> = serde_json::from_slice::<GoogleErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let rate_reason = google.as_ref().is_some_and(|g| {
        g.errors.iter().any(|e| {
            matches!(
                e.reason.as_deref(),
                Some("rateLimitExceeded" | "userRateLimitExceeded")
            )
        })
    });
    if status == StatusCode::TOO_MANY_REQUESTS || (status == StatusCode::FORBIDDEN && rate_reason) {
        return Error::RateLimited {
            retry_after: retry_after
                .unwrap_or_else(|| chrono::Duration::seconds(DEFAULT_RETRY_AFTER_SECS)),
        };
    }
    if status.is_server_error() {
        return Error::unavailable(format!("Gmail answered {} to the {what}", status.as_u16()));
    }
    if status == StatusCode::UNAUTHORIZED {
        return Error::rejected(format!(
            "Gmail refused the access token for the {what} (401): refresh it or connect Gmail again"
        ));
    }
    if status == StatusCode::NOT_FOUND {
        return not_found();
    }
    let message = google
        .and_then(|g| g.message)
        .map(|m| safe_text(&m))
        .filter(|m| !m.is_empty());
    match message {
        Some(message) => Error::rejected(format!(
            "Gmail refused the {what} ({}): {message}",
            status.as_u16()
        )),
        None => Error::rejected(format!("Gmail refused the {what} ({})", status.as_u16())),
    }
}

/// Google's message, bounded and on one line (it ends up in logs).
fn safe_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// `Retry-After` as seconds or an HTTP date, bounded.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<chrono::Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let secs = match value.parse::<i64>() {
        Ok(secs) => secs,
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&Utc) - Utc::now()).num_seconds()
        }
    };
    Some(chrono::Duration::seconds(
        secs.clamp(0, MAX_RETRY_AFTER_SECS),
    ))
}

#[derive(Deserialize)]
struct GoogleErrorBody {
    error: GoogleError,
}

#[derive(Deserialize)]
struct GoogleError {
    message: Option<String>,
    #[serde(default)]
    errors: Vec<GoogleErrorItem>,
}

#[derive(Deserialize)]
struct GoogleErrorItem {
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    history_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ref {
    id: String,
    thread_id: String,
}

impl From<Ref> for MailboxMessageRef {
    fn from(r: Ref) -> Self {
        MailboxMessageRef {
            id: r.id,
            thread_id: r.thread_id,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    #[serde(default)]
    messages: Vec<Ref>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryResponse {
    #[serde(default)]
    history: Vec<HistoryRecord>,
    next_page_token: Option<String>,
    history_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryRecord {
    #[serde(default)]
    messages_added: Vec<Added>,
}

#[derive(Deserialize)]
struct Added {
    message: Ref,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessage {
    id: String,
    thread_id: String,
    #[serde(default)]
    label_ids: Vec<String>,
    internal_date: Option<String>,
    raw: String,
}

#[derive(Deserialize)]
struct FullMessage {
    payload: Option<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    part_id: Option<String>,
    body: Option<PartBody>,
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartBody {
    attachment_id: Option<String>,
}

#[derive(Deserialize)]
struct AttachmentBody {
    data: String,
}

#[derive(Deserialize)]
struct Sent {
    id: String,
}

#[async_trait]
impl MailboxReader for GmailMailbox {
    async fn current_history_id(&self, access_token: &Secret<String>) -> Result<String> {
        let url = self.url("profile", &[])?;
        let profile: Profile = self
            .get_json(url, access_token, "profile", || {
                Error::rejected("Gmail has no profile for this account")
            })
            .await?;
        Ok(profile.history_id)
    }

    async fn list_messages(
        &self,
        access_token: &Secret<String>,
        query: &str,
        page_token: Option<String>,
    ) -> Result<MessageList> {
        let page_size = self.page_size.to_string();
        let mut params = vec![("q", query), ("maxResults", page_size.as_str())];
        if let Some(token) = page_token.as_deref() {
            params.push(("pageToken", token));
        }
        let url = self.url("messages", &params)?;
        let list: ListResponse = self
            .get_json(url, access_token, "message listing", || {
                Error::rejected("Gmail has no message listing for this account")
            })
            .await?;
        Ok(MessageList {
            messages: list.messages.into_iter().map(Into::into).collect(),
            next_page_token: list.next_page_token,
        })
    }

    async fn history(
        &self,
        access_token: &Secret<String>,
        start_history_id: &str,
        page_token: Option<String>,
    ) -> Result<HistoryOutcome> {
        if start_history_id.is_empty()
            || start_history_id.len() > 20
            || !start_history_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::invalid(
                "start_history_id",
                "is not a Gmail history id",
            ));
        }
        let page_size = self.page_size.to_string();
        let mut params = vec![
            ("startHistoryId", start_history_id),
            ("historyTypes", "messageAdded"),
            ("maxResults", page_size.as_str()),
        ];
        if let Some(token) = page_token.as_deref() {
            params.push(("pageToken", token));
        }
        let url = self.url("history", &params)?;
        // Gmail answers 404 for a start id older than the history it keeps.
        let expired = || Error::not_found("history");
        match self
            .get_json::<HistoryResponse>(url, access_token, "history", expired)
            .await
        {
            Ok(page) => Ok(HistoryOutcome::Changes(HistoryPage {
                added: page
                    .history
                    .into_iter()
                    .flat_map(|h| h.messages_added)
                    .map(|a| a.message.into())
                    .collect(),
                next_page_token: page.next_page_token,
                history_id: page.history_id,
            })),
            Err(Error::NotFound { .. }) => Ok(HistoryOutcome::Expired),
            Err(e) => Err(e),
        }
    }

    async fn fetch(
        &self,
        access_token: &Secret<String>,
        message_id: &str,
    ) -> Result<FetchedMessage> {
        let id = gmail_id("message_id", message_id)?;
        let url = self.url(&format!("messages/{id}"), &[("format", "raw")])?;
        let message: RawMessage = self
            .get_json(url, access_token, "message", || {
                Error::not_found("mail message")
            })
            .await?;
        let raw = B64
            .decode(message.raw.trim_end())
            .map_err(|_| Error::unavailable("Gmail's raw message is not base64url"))?;
        let mut mail = inbound::parse(&raw);
        if !mail.attachments.is_empty() {
            let ids = self.attachment_ids(access_token, id).await?;
            for attachment in &mut mail.attachments {
                let Some(gmail) = gmail_part_id(&attachment.part_id) else {
                    continue;
                };
                let found = ids
                    .iter()
                    .find(|(part, _)| *part == gmail)
                    // A single-part message's body is Gmail's part "".
                    .or_else(|| {
                        (attachment.part_id == "1")
                            .then(|| ids.iter().find(|(part, _)| part.is_empty()))
                            .flatten()
                    });
                attachment.attachment_id = found.map(|(_, aid)| aid.clone());
            }
        }
        let received_at = message
            .internal_date
            .as_deref()
            .and_then(|ms| ms.parse::<i64>().ok())
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .or(mail.date)
            .unwrap_or_else(Utc::now);
        Ok(FetchedMessage {
            id: message.id,
            thread_id: message.thread_id,
            label_ids: message.label_ids,
            received_at,
            mail,
        })
    }

    async fn fetch_attachment(
        &self,
        access_token: &Secret<String>,
        message_id: &str,
        attachment_id: &str,
    ) -> Result<Vec<u8>> {
        let id = gmail_id("message_id", message_id)?;
        let aid = gmail_id("attachment_id", attachment_id)?;
        let url = self.url(&format!("messages/{id}/attachments/{aid}"), &[])?;
        let body: AttachmentBody = self
            .get_json(url, access_token, "attachment", || {
                Error::not_found("mail attachment")
            })
            .await?;
        B64.decode(body.data.trim_end())
            .map_err(|_| Error::unavailable("Gmail's attachment is not base64url"))
    }

    async fn send(
        &self,
        access_token: &Secret<String>,
        raw: &[u8],
        thread_id: Option<String>,
    ) -> Result<String> {
        if raw.len() > MAX_SEND_BYTES {
            return Err(Error::invalid(
                "message",
                format!(
                    "is larger than the {} MiB Gmail takes",
                    MAX_SEND_BYTES / (1024 * 1024)
                ),
            ));
        }
        let mut body = serde_json::json!({ "raw": B64.encode(raw) });
        if let Some(thread) = thread_id.as_deref() {
            body["threadId"] = Value::from(gmail_id("thread_id", thread)?);
        }
        let url = self.url("messages/send", &[])?;
        let answer = self
            // Gmail answers 404 for a thread it does not know.
            .call(Method::POST, url, access_token, Some(body), "send", || {
                Error::not_found("mail thread")
            })
            .await?;
        let sent: Sent = serde_json::from_slice(&answer)
            .map_err(|_| Error::unavailable("Gmail's answer to the send is unreadable"))?;
        Ok(sent.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_ids_convert_from_imap_to_gmail_numbering() {
        assert_eq!(gmail_part_id("1").as_deref(), Some("0"));
        assert_eq!(gmail_part_id("2.1").as_deref(), Some("1.0"));
        assert_eq!(gmail_part_id("0"), None);
        assert_eq!(gmail_part_id("x"), None);
    }

    #[test]
    fn ids_with_path_characters_are_refused() {
        assert!(gmail_id("message_id", "18c2f0a1b2c3d4e5").is_ok());
        for bad in ["", "../profile", "a/b", "a?b", "a%2Fb", "a b"] {
            assert!(gmail_id("message_id", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_is_bounded() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "retry-after",
            "7".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(retry_after(&headers), Some(chrono::Duration::seconds(7)));
        headers.insert(
            "retry-after",
            "999999".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(
            retry_after(&headers),
            Some(chrono::Duration::seconds(MAX_RETRY_AFTER_SECS))
        );
    }

    #[test]
    fn a_403_without_a_rate_reason_is_a_refusal() {
        let body = br#"{"error":{"code":403,"message":"Insufficient Permission","errors":[{"reason":"insufficientPermissions"}]}}"#;
        let e = classify(StatusCode::FORBIDDEN, None, body, "message", || {
            Error::not_found("x")
        });
        assert!(matches!(e, Error::Rejected { .. }), "{e:?}");
        assert!(e.to_string().contains("Insufficient Permission"));
        let body = br#"{"error":{"code":403,"message":"Quota","errors":[{"reason":"userRateLimitExceeded"}]}}"#;
        let e = classify(StatusCode::FORBIDDEN, None, body, "message", || {
            Error::not_found("x")
        });
        assert!(matches!(e, Error::RateLimited { .. }), "{e:?}");
    }
}
