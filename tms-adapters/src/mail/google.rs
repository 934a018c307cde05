//! Google's OAuth 2.0 for Gmail (feature `gmail`): the
//! [`OAuthProvider`] port over the `oauth2` crate, its HTTP client a short
//! closure over reqwest 0.13 (the crate's own default would pull reqwest
//! 0.12 beside ours).
//!
//! - **Least scope.** Only `https://mail.google.com/`: it is the one scope
//!   Gmail's SMTP server accepts for XOAUTH2 (the narrower
//!   `gmail.send` works only with the Gmail API, not SMTP). The account's
//!   address comes from the Gmail profile endpoint, which that scope already
//!   covers — so no `openid`/`email` scopes are asked for.
//! - **Offline access.** `access_type=offline` and `prompt=consent`, so that
//!   Google returns a refresh token (it does so only on a consent screen).
//! - **PKCE S256 and a random state** on every authorization URL.
//! - **No redirects** are followed on token, revoke and profile calls: an
//!   OAuth endpoint that redirects is misconfigured, and following it would
//!   send the client secret elsewhere.
//! - Errors say what the caller can do: `invalid_grant` (a revoked or
//!   expired grant, a used code) is [`Error::Rejected`] — reconnecting is
//!   the only cure; network failures and Google's 5xx are
//!   [`Error::Unavailable`].
//!
//! Every endpoint is configurable, so that tests point them at a loopback
//! peer.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use tms_core::domain::Email;
use tms_core::ports::{AuthorizationRequest, OAuthProvider, OAuthTokens};
use tms_core::security::secret::Secret;
use tms_core::{Error, Result};

/// The scope SMTP XOAUTH2 needs (and the only one asked for).
pub const GMAIL_SCOPE: &str = "https://mail.google.com/";

/// Google's authorization endpoint.
pub const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// Google's token endpoint.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Google's revocation endpoint.
pub const GOOGLE_REVOKE_URL: &str = "https://oauth2.googleapis.com/revoke";
/// The Gmail profile of the signed-in account (its address).
pub const GMAIL_PROFILE_URL: &str = "https://gmail.googleapis.com/gmail/v1/users/me/profile";

/// The Google client of this installation and where Google's endpoints are.
#[derive(Clone, PartialEq, Eq)]
pub struct GoogleOAuthConfig {
    /// The OAuth client id (Google Cloud console).
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: Secret<String>,
    /// Where Google sends the browser back: the server's
    /// `/api/v1/mail/gmail/callback`.
    pub redirect_url: String,
    /// Authorization endpoint ([`GOOGLE_AUTH_URL`]).
    pub auth_url: String,
    /// Token endpoint ([`GOOGLE_TOKEN_URL`]).
    pub token_url: String,
    /// Revocation endpoint ([`GOOGLE_REVOKE_URL`]).
    pub revoke_url: String,
    /// Gmail profile endpoint ([`GMAIL_PROFILE_URL`]).
    pub profile_url: String,
    /// Gives up on a call to Google after this long.
    pub timeout: Duration,
}

impl fmt::Debug for GoogleOAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleOAuthConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_url", &self.redirect_url)
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .field("revoke_url", &self.revoke_url)
            .field("profile_url", &self.profile_url)
            .finish()
    }
}

impl GoogleOAuthConfig {
    /// A client on Google's real endpoints, 20-second timeout.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: Secret<String>,
        redirect_url: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            redirect_url: redirect_url.into(),
            auth_url: GOOGLE_AUTH_URL.to_owned(),
            token_url: GOOGLE_TOKEN_URL.to_owned(),
            revoke_url: GOOGLE_REVOKE_URL.to_owned(),
            profile_url: GMAIL_PROFILE_URL.to_owned(),
            timeout: Duration::from_secs(20),
        }
    }
}

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Google as an [`OAuthProvider`].
///
/// ```
/// use tms_adapters::mail::{GoogleOAuth, GoogleOAuthConfig};
/// use tms_core::ports::OAuthProvider;
///
/// let google = GoogleOAuth::new(GoogleOAuthConfig::new(
///     "1234.apps.googleusercontent.com",
///     "client secret".to_owned().into(),
///     "https://tms.example/api/v1/mail/gmail/callback",
/// ))?;
/// let start = google.authorization_request()?;
/// assert!(start.url.contains("code_challenge_method=S256"));
/// assert!(start.url.contains("access_type=offline"));
/// # Ok::<(), tms_core::Error>(())
/// ```
pub struct GoogleOAuth {
    client: Client,
    http: reqwest::Client,
    revoke_url: String,
    profile_url: String,
}

impl fmt::Debug for GoogleOAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleOAuth")
            .field("client_id", &self.client.client_id().as_str())
            .finish_non_exhaustive()
    }
}

impl GoogleOAuth {
    /// A provider for `config`; `Invalid` when a URL does not parse.
    pub fn new(config: GoogleOAuthConfig) -> Result<Self> {
        // reqwest on rustls without a built-in provider: ring, installed
        // once per process (a second install is refused, harmlessly).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = |field: &'static str, e: oauth2::url::ParseError| {
            Error::invalid(field, format!("is not a URL: {e}"))
        };
        let client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(config.client_secret.expose().clone()))
            .set_auth_uri(AuthUrl::new(config.auth_url).map_err(|e| url("google_auth_url", e))?)
            .set_token_uri(TokenUrl::new(config.token_url).map_err(|e| url("google_token_url", e))?)
            .set_redirect_uri(
                RedirectUrl::new(config.redirect_url).map_err(|e| url("google_redirect_url", e))?,
            );
        oauth2::url::Url::parse(&config.revoke_url).map_err(|e| url("google_revoke_url", e))?;
        oauth2::url::Url::parse(&config.profile_url).map_err(|e| url("google_profile_url", e))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .build()
            .map_err(|e| Error::internal(format!("no HTTP client: {e}")))?;
        Ok(Self {
            client,
            http,
            revoke_url: config.revoke_url,
            profile_url: config.profile_url,
        })
    }

    /// The oauth2 crate's HTTP client: one request over reqwest.
    fn http_client(
        &self,
    ) -> impl Fn(
        oauth2::HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = std::result::Result<oauth2::HttpResponse, reqwest::Error>> + Send>,
    > + '_ {
        move |request: oauth2::HttpRequest| {
            let http = self.http.clone();
            Box::pin(async move {
                let (parts, body) = request.into_parts();
                let response = http
                    .request(parts.method, parts.uri.to_string())
                    .headers(parts.headers)
                    .body(body)
                    .send()
                    .await?;
                let status = response.status();
                let headers = response.headers().clone();
                let bytes = response.bytes().await?;
                let mut out = oauth2::HttpResponse::new(bytes.to_vec());
                *out.status_mut() = status;
                *out.headers_mut() = headers;
                Ok(out)
            })
        }
    }

    fn tokens(&self, response: &oauth2::basic::BasicTokenResponse) -> OAuthTokens {
        let expires_at = response
            .expires_in()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| Utc::now() + d);
        let scopes = match response.scopes() {
            Some(scopes) => scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            // Absent means "as requested" (RFC 6749 §5.1).
            None => vec![GMAIL_SCOPE.to_owned()],
        };
        OAuthTokens {
            access_token: Secret::new(response.access_token().secret().clone()),
            refresh_token: response
                .refresh_token()
                .map(|t| Secret::new(t.secret().clone())),
            expires_at,
            scopes,
        }
    }
}

/// What a failed token request means for the caller. The message never
/// carries a token or the response body (it may echo one).
fn classify<RE: std::error::Error + 'static>(
    what: &str,
    e: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
) -> Error {
    match e {
        RequestTokenError::ServerResponse(response) => match response.error() {
            BasicErrorResponseType::InvalidGrant => Error::rejected(format!(
                "Google refused the {what} (invalid_grant): the grant is revoked, expired or \
                 already used; connect Gmail again"
            )),
            other => Error::unavailable(format!("Google refused the {what} ({other})")),
        },
        RequestTokenError::Request(e) => {
            Error::unavailable(format!("Google cannot be reached for the {what}: {e}"))
        }
        RequestTokenError::Parse(_, _) => {
            Error::unavailable(format!("Google's answer to the {what} could not be read"))
        }
        RequestTokenError::Other(why) => {
            Error::unavailable(format!("Google's answer to the {what}: {why}"))
        }
    }
}

#[async_trait]
impl OAuthProvider for GoogleOAuth {
    fn authorization_request(&self) -> Result<AuthorizationRequest> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new(GMAIL_SCOPE.to_owned()))
            .set_pkce_challenge(challenge)
            .add_extra_param("access_type", "offline")
            .add_extra_param("prompt", "consent")
            .url();
        Ok(AuthorizationRequest {
            url: url.to_string(),
            state: Secret::new(state.secret().clone()),
            pkce_verifier: Secret::new(verifier.secret().clone()),
        })
    }

    async fn exchange_code(
        &self,
        code: &Secret<String>,
        pkce_verifier: &Secret<String>,
    ) -> Result<OAuthTokens> {
        let http = self.http_client();
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.expose().clone()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.expose().clone()))
            .request_async(&http)
            .await
            .map_err(|e| classify("authorization code", e))?;
        Ok(self.tokens(&response))
    }

    async fn refresh(&self, refresh_token: &Secret<String>) -> Result<OAuthTokens> {
        let http = self.http_client();
        let token = RefreshToken::new(refresh_token.expose().clone());
        let response = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&http)
            .await
            .map_err(|e| classify("token refresh", e))?;
        let mut tokens = self.tokens(&response);
        // Google does not send a new refresh token on refresh: the old one
        // stays valid.
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.clone());
        }
        Ok(tokens)
    }

    async fn revoke(&self, token: &Secret<String>) -> Result<()> {
        // By hand rather than with the crate's revocation request: that one
        // insists on an https endpoint even on loopback, where the tests'
        // peer listens. Google's form: POST `token=…` (RFC 7009).
        let body = oauth2::url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token.expose())
            .finish();
        let response = self
            .http
            .post(&self.revoke_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                Error::unavailable(format!("Google cannot be reached for the revocation: {e}"))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(Error::unavailable(format!(
                "Google answered {status} to the revocation"
            )));
        }
        #[derive(serde::Deserialize)]
        struct Refusal {
            error: String,
        }
        let refusal = response.json::<Refusal>().await.ok();
        match refusal.as_ref().map(|r| r.error.as_str()) {
            // Google answers `invalid_token` for a token that is already
            // revoked or expired: it is unusable either way.
            Some("invalid_token") => Ok(()),
            Some(code) => {
                let code: String = code
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .take(64)
                    .collect();
                Err(Error::rejected(format!(
                    "Google refused the revocation ({code})"
                )))
            }
            None => Err(Error::rejected(format!(
                "Google answered {status} to the revocation"
            ))),
        }
    }

    async fn account_address(&self, access_token: &Secret<String>) -> Result<Email> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Profile {
            email_address: String,
        }
        let response = self
            .http
            .get(&self.profile_url)
            .bearer_auth(access_token.expose())
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("Gmail cannot be reached: {e}")))?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(Error::unavailable(format!(
                "Gmail's profile answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(Error::rejected(format!(
                "Gmail's profile answered {status}: was the mail scope granted?"
            )));
        }
        let profile: Profile = response
            .json()
            .await
            .map_err(|_| Error::unavailable("Gmail's profile could not be read"))?;
        Email::parse(&profile.email_address)
            .map_err(|_| Error::rejected("Gmail's profile has no usable address"))
    }
}
