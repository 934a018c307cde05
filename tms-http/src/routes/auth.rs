//! `/api/v1/auth`: login, logout, the current user, the user's sessions,
//! password change and reset (DESIGN.md §4).
//!
//! Login sets the session cookie [`SESSION_COOKIE`](crate::auth::SESSION_COOKIE) (`HttpOnly; Secure;
//! SameSite=Lax; Path=/`, `Max-Age` = the session's absolute lifetime) and
//! answers the CSRF token the web app must send as `X-CSRF-Token` on
//! cookie-authenticated writes, and the JWT itself for non-browser clients
//! (`Authorization: Bearer`). See [`crate::auth`].
//!
//! **Second factor.** A right password of a user with a second factor and
//! no (or a wrong) `otp` answers **401** with problem type
//! `second-factor-required` and `second_factors` listing the accepted
//! methods (`totp`, `email`); the client repeats the login with `otp`. A 401
//! keeps "not signed in" one status for every client.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tms_core::domain::{Session, User};
use tms_core::id::SessionId;
use tms_core::security::secret::Secret;
use tms_core::service::identity::two_factor::Reauth;
use tms_core::service::identity::{LoginOutcome, LoginRequest, SecondFactors, SignedIn};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::{Auth, RequestCaller, clear_session_cookie, csrf_token, session_cookie};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::revealed::Revealed;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        login,
        logout,
        me,
        logout_everywhere,
        my_sessions,
        revoke_my_session,
        change_password,
        request_password_reset,
        confirm_password_reset,
        start_totp,
        confirm_totp,
        disable_totp,
        regenerate_recovery_codes,
        set_email_otp,
        accept_invitation
    ),
    components(schemas(
        LoginBody,
        LoginAnswer,
        Me,
        UserSummary,
        SessionView,
        LoggedOutEverywhere,
        PasswordChange,
        PasswordResetRequest,
        TokenPassword,
        TotpStarted,
        TotpConfirm,
        RecoveryCodes,
        TotpDisable,
        EmailOtp
    )),
    tags((name = "auth", description = "Login, logout, sessions, passwords"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .route("/auth/logout-everywhere", post(logout_everywhere))
        .route("/auth/sessions", get(my_sessions))
        .route("/auth/sessions/{id}", delete(revoke_my_session))
        .route("/auth/password", post(change_password))
        .route("/auth/password-reset", post(request_password_reset))
        .route("/auth/password-reset/confirm", post(confirm_password_reset))
        .route("/auth/totp", post(start_totp))
        .route("/auth/totp/confirm", post(confirm_totp))
        .route("/auth/totp/disable", post(disable_totp))
        .route("/auth/recovery-codes", post(regenerate_recovery_codes))
        .route("/auth/email-otp", axum::routing::put(set_email_otp))
        .route("/auth/invitation/accept", post(accept_invitation))
}

/// A login form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    /// The tenant's slug.
    pub tenant: String,
    /// The login email.
    pub email: String,
    /// The password.
    #[schema(value_type = String)]
    pub password: Secret<String>,
    /// A second-factor code (TOTP, emailed code or recovery code).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub otp: Option<Secret<String>>,
}

/// Who is signed in.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserSummary {
    /// The user's id.
    pub id: String,
    /// The login email.
    pub email: String,
    /// The display name.
    pub name: String,
    /// The role, e.g. `tenant_super_admin`.
    pub role: String,
}

impl From<&User> for UserSummary {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.to_string(),
            name: user.name.to_string(),
            role: serde_json::to_value(user.role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| user.role.to_string()),
        }
    }
}

/// A successful login.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    /// Send as `X-CSRF-Token` on cookie-authenticated POST, PUT, PATCH and
    /// DELETE requests.
    #[schema(value_type = String)]
    pub csrf_token: Revealed,
    /// The session JWT, for non-browser clients (`Authorization: Bearer`).
    /// Browsers use the cookie instead.
    #[schema(value_type = String)]
    pub token: Revealed,
    /// Who signed in.
    pub user: UserSummary,
    /// Only self-service calls are open: the password must be changed
    /// (`password_change_required`), or the tenant requires a second factor
    /// for this role and the user has none.
    pub restricted: bool,
    /// The password was handed out (first run, `tms-server init`): change it
    /// with `POST /api/v1/auth/password`; until then every other call but
    /// `me`, the session list and logout answers 403
    /// `password-change-required`.
    pub password_change_required: bool,
    /// When the session ends, whatever the activity.
    pub expires_at: DateTime<Utc>,
}

/// Signs in with a password (and a second factor when the user has one).
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in; sets the `__Host-tms_session` cookie", body = LoginAnswer),
        (status = 401, description = "Wrong tenant, email or password (one answer for all: `unauthenticated`), or `second-factor-required` with `second_factors`",
         body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "Too many failures: the account is locked; Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address; Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    RequestCaller(caller): RequestCaller,
    Json(body): Json<LoginBody>,
) -> ApiResult<Response> {
    let request = LoginRequest {
        tenant: body.tenant,
        email: body.email,
        password: body.password,
        otp: body.otp,
    };
    let (signed_in, restricted) = match state.identity.login(request, &caller).await? {
        LoginOutcome::Session(signed_in) => (signed_in, false),
        LoginOutcome::TwoFactorEnrolmentRequired(signed_in)
        | LoginOutcome::PasswordChangeRequired(signed_in) => (signed_in, true),
        LoginOutcome::SecondFactorRequired(factors) => {
            return Err(second_factor_required(factors));
        }
    };
    Ok(signed_in_response(&state, signed_in, restricted))
}

fn second_factor_required(factors: SecondFactors) -> ApiError {
    let mut problem = Problem::new(
        StatusCode::UNAUTHORIZED,
        "second-factor-required",
        "repeat the login with otp set to a second-factor code",
    );
    let mut methods = Vec::new();
    if factors.totp {
        methods.push("totp".to_owned());
    }
    if factors.email {
        methods.push("email".to_owned());
    }
    problem.second_factors = Some(methods);
    ApiError::Problem(Box::new(problem))
}

fn signed_in_response(state: &AppState, signed_in: SignedIn, restricted: bool) -> Response {
    let now = state.deps.clock.now();
    let jwt = signed_in.token.expose();
    let cookie = session_cookie(jwt, signed_in.session.expires_at, now);
    let answer = LoginAnswer {
        csrf_token: Revealed::new(csrf_token(jwt)),
        token: Revealed::new(jwt),
        password_change_required: signed_in.user.must_change_password,
        user: UserSummary::from(&signed_in.user),
        restricted,
        expires_at: signed_in.session.expires_at,
    };
    ([(header::SET_COOKIE, cookie)], axum::Json(answer)).into_response()
}

/// Ends this session and clears the cookie.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    responses(
        (status = 204, description = "Signed out; the same token is refused from now on"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Cookie request without the CSRF token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    state.identity.logout(&auth.authenticated).await?;
    Ok(signed_out())
}

fn signed_out() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_session_cookie())],
    )
        .into_response()
}

/// The signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// Who is signed in.
    pub user: UserSummary,
    /// Only self-service calls are open (change the password, or enrol a
    /// second factor, first).
    pub restricted: bool,
    /// The password was handed out and must be changed first.
    pub password_change_required: bool,
    /// This session's id.
    pub session_id: String,
}

/// Who is signed in.
#[utoipa::path(
    get,
    path = "/api/v1/auth/me",
    tag = "auth",
    responses(
        (status = 200, description = "The signed-in user", body = Me),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn me(auth: Auth) -> axum::Json<Me> {
    let a = &auth.authenticated;
    axum::Json(Me {
        user: UserSummary::from(&a.user),
        restricted: a.restricted || a.password_change_required,
        password_change_required: a.password_change_required,
        session_id: a.session.id.to_string(),
    })
}

/// How many sessions ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedOutEverywhere {
    /// Sessions ended, this one included.
    pub ended: u64,
}

/// Ends every session of the user, this one included.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout-everywhere",
    tag = "auth",
    responses(
        (status = 200, description = "Every session ended; the cookie is cleared", body = LoggedOutEverywhere),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout_everywhere(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    let ended = state
        .identity
        .logout_everywhere(&auth.authenticated)
        .await?;
    Ok((
        [(header::SET_COOKIE, clear_session_cookie())],
        axum::Json(LoggedOutEverywhere { ended }),
    )
        .into_response())
}

/// One of the user's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Its id (for `DELETE /auth/sessions/{id}`).
    pub id: String,
    /// When the user signed in.
    pub created_at: DateTime<Utc>,
    /// The last request seen.
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end.
    pub expires_at: DateTime<Utc>,
    /// Where it was opened from.
    pub ip: Option<String>,
    /// Which client opened it.
    pub user_agent: Option<String>,
    /// Whether it is the session of this request.
    pub current: bool,
}

impl SessionView {
    fn of(session: &Session, current: SessionId) -> Self {
        Self {
            id: session.id.to_string(),
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.expires_at,
            ip: session.ip.clone(),
            user_agent: session.user_agent.clone(),
            current: session.id == current,
        }
    }
}

/// The user's live sessions.
#[utoipa::path(
    get,
    path = "/api/v1/auth/sessions",
    tag = "auth",
    responses(
        (status = 200, description = "The user's live sessions", body = [SessionView]),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn my_sessions(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<Vec<SessionView>>> {
    let current = auth.authenticated.session.id;
    let sessions = state.identity.my_sessions(&auth.authenticated).await?;
    Ok(axum::Json(
        sessions
            .iter()
            .map(|s| SessionView::of(s, current))
            .collect(),
    ))
}

/// Ends one of the user's sessions.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/sessions/{id}",
    tag = "auth",
    params(("id" = String, Path, description = "The session id")),
    responses(
        (status = 204, description = "The session is ended"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session of this user", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_my_session(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    // An id that does not parse names no session of this user.
    let id: SessionId = id
        .parse()
        .map_err(|_| tms_core::Error::not_found("session"))?;
    state
        .identity
        .revoke_my_session(&auth.authenticated, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    /// The current password.
    #[schema(value_type = String)]
    pub current: Secret<String>,
    /// The new password.
    #[schema(value_type = String)]
    pub new: Secret<String>,
}

/// Changes the user's own password; ends their other sessions.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password",
    tag = "auth",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "Not signed in, or the current password is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password breaks the rules", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<PasswordChange>,
) -> ApiResult<StatusCode> {
    state
        .identity
        .change_password(&auth.authenticated, &body.current, &body.new)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A request for a reset link.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordResetRequest {
    /// The tenant's slug.
    pub tenant: String,
    /// The login email.
    pub email: String,
}

/// Mails a reset link if the user exists; the same answer either way.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset",
    tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "A link is mailed if the user exists"),
        (status = 429, description = "Too many requests; Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn request_password_reset(
    State(state): State<AppState>,
    RequestCaller(caller): RequestCaller,
    Json(body): Json<PasswordResetRequest>,
) -> ApiResult<StatusCode> {
    state
        .identity
        .request_password_reset(&body.tenant, &body.email, &caller)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// A password set with a mailed single-use token: a password reset, or an
/// invitation's first password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenPassword {
    /// The tenant's slug.
    pub tenant: String,
    /// The token of the mailed link (reset or invitation).
    #[schema(value_type = String)]
    pub token: Secret<String>,
    /// The new password.
    #[schema(value_type = String)]
    pub password: Secret<String>,
}

/// Sets a new password with a reset token; ends every session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset/confirm",
    tag = "auth",
    request_body = TokenPassword,
    responses(
        (status = 204, description = "The password is set; every session is ended"),
        (status = 401, description = "The token is unknown, used or expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password breaks the rules", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn confirm_password_reset(
    State(state): State<AppState>,
    RequestCaller(caller): RequestCaller,
    Json(body): Json<TokenPassword>,
) -> ApiResult<StatusCode> {
    state
        .identity
        .confirm_password_reset(&body.tenant, body.token.expose(), &body.password, &caller)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A started authenticator enrolment.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpStarted {
    /// The `otpauth://` URI to show as a QR code (holds the secret).
    #[schema(value_type = String)]
    pub otpauth_uri: Revealed,
}

/// Starts (or restarts) authenticator-app enrolment. Open to restricted
/// sessions.
#[utoipa::path(
    post,
    path = "/api/v1/auth/totp",
    tag = "auth",
    responses(
        (status = 200, description = "Scan the URI, then confirm with a first code", body = TotpStarted),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An authenticator app is already set up", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn start_totp(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<TotpStarted>> {
    let uri = state.identity.start_totp(&auth.authenticated).await?;
    Ok(axum::Json(TotpStarted {
        otpauth_uri: Revealed::new(uri.expose()),
    }))
}

/// A first code from the authenticator app.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TotpConfirm {
    /// The 6-digit code.
    #[schema(value_type = String)]
    pub code: Secret<String>,
}

/// Recovery codes, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Each works once as `otp` at login, in place of a TOTP code.
    #[schema(value_type = Vec<String>)]
    pub recovery_codes: Vec<Revealed>,
}

/// Confirms authenticator enrolment with a first code; answers the
/// recovery codes, once.
#[utoipa::path(
    post,
    path = "/api/v1/auth/totp/confirm",
    tag = "auth",
    request_body = TotpConfirm,
    responses(
        (status = 200, description = "The second factor is on", body = RecoveryCodes),
        (status = 401, description = "Not signed in, or a wrong code", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No enrolment in progress", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn confirm_totp(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<TotpConfirm>,
) -> ApiResult<axum::Json<RecoveryCodes>> {
    let codes = state
        .identity
        .confirm_totp(&auth.authenticated, body.code.expose())
        .await?;
    Ok(axum::Json(RecoveryCodes {
        recovery_codes: codes.iter().map(|c| Revealed::new(c.expose())).collect(),
    }))
}

/// Proof of identity for turning the authenticator off: the password or a
/// current code.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TotpDisable {
    /// The current password.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub password: Option<Secret<String>>,
    /// A current authenticator code (if no password is given).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub code: Option<Secret<String>>,
}

/// Turns the authenticator app off (and drops the recovery codes).
#[utoipa::path(
    post,
    path = "/api/v1/auth/totp/disable",
    tag = "auth",
    request_body = TotpDisable,
    responses(
        (status = 204, description = "Off"),
        (status = 401, description = "Not signed in, or the proof is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No authenticator app is set up", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither password nor code given", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn disable_totp(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<TotpDisable>,
) -> ApiResult<StatusCode> {
    let proof = match (body.password, body.code) {
        (Some(password), _) => Reauth::Password(password),
        (None, Some(code)) => Reauth::TotpCode(code),
        (None, None) => {
            return Err(tms_core::Error::invalid("password", "give the password or a code").into());
        }
    };
    state
        .identity
        .disable_totp(&auth.authenticated, &proof)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the recovery codes (proof: a current authenticator code).
#[utoipa::path(
    post,
    path = "/api/v1/auth/recovery-codes",
    tag = "auth",
    request_body = TotpConfirm,
    responses(
        (status = 200, description = "The new codes, shown once; the old ones stop working", body = RecoveryCodes),
        (status = 401, description = "Not signed in, or a wrong code", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No authenticator app is set up", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<TotpConfirm>,
) -> ApiResult<axum::Json<RecoveryCodes>> {
    let codes = state
        .identity
        .regenerate_recovery_codes(&auth.authenticated, body.code.expose())
        .await?;
    Ok(axum::Json(RecoveryCodes {
        recovery_codes: codes.iter().map(|c| Revealed::new(c.expose())).collect(),
    }))
}

/// Switching emailed login codes on or off.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailOtp {
    /// The current password.
    #[schema(value_type = String)]
    pub password: Secret<String>,
    /// On or off.
    pub enabled: bool,
}

/// Turns emailed login codes on or off as a second factor.
#[utoipa::path(
    put,
    path = "/api/v1/auth/email-otp",
    tag = "auth",
    request_body = EmailOtp,
    responses(
        (status = 204, description = "Set"),
        (status = 401, description = "Not signed in, or a wrong password", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn set_email_otp(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<EmailOtp>,
) -> ApiResult<StatusCode> {
    state
        .identity
        .set_email_otp(&auth.authenticated, &body.password, body.enabled)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts an invitation: sets the first password.
#[utoipa::path(
    post,
    path = "/api/v1/auth/invitation/accept",
    tag = "auth",
    request_body = TokenPassword,
    responses(
        (status = 204, description = "The password is set; log in"),
        (status = 401, description = "The token is unknown, used or expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The password breaks the rules", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn accept_invitation(
    State(state): State<AppState>,
    RequestCaller(caller): RequestCaller,
    Json(body): Json<TokenPassword>,
) -> ApiResult<StatusCode> {
    state
        .identity
        .accept_invitation(&body.tenant, body.token.expose(), &body.password, &caller)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_second_factor_is_a_401_listing_the_methods() {
        let problem = second_factor_required(SecondFactors {
            totp: true,
            email: false,
        })
        .problem();
        assert_eq!(problem.status, 401);
        assert_eq!(problem.kind, "second-factor-required");
        assert_eq!(problem.second_factors, Some(vec!["totp".to_owned()]));
    }
}
