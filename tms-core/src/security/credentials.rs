//! Where a request's session token is read from: the `Cookie` header (the
//! web app) or `Authorization: Bearer` (other clients). Pure text parsing,
//! kept in the core so that it can be fuzzed without the HTTP stack
//! (`fuzz/fuzz_targets/credentials.rs`); `tms-http` applies it to requests.

/// The value of cookie `name` in a request's `Cookie` header values
/// (`a=1; b=2`, possibly several headers): the first pair whose name is
/// exactly `name`, trimmed; `None` when absent or empty.
///
/// ```
/// use tms_core::security::credentials::cookie_value;
/// let headers = ["theme=dark; sid=abc ", "sid=later"];
/// assert_eq!(cookie_value(headers, "sid"), Some("abc"));
/// assert_eq!(cookie_value(["sid="], "sid"), None);
/// assert_eq!(cookie_value(["xsid=abc"], "sid"), None);
/// ```
pub fn cookie_value<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    headers
        .into_iter()
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The token of an `Authorization` header value of the `Bearer` scheme
/// (any case), trimmed; `None` for another scheme or an empty token.
///
/// ```
/// use tms_core::security::credentials::bearer_token;
/// assert_eq!(bearer_token("Bearer abc.def"), Some("abc.def"));
/// assert_eq!(bearer_token("bearer  abc "), Some("abc"));
/// assert_eq!(bearer_token("Basic dXNlcjpwdw=="), None);
/// assert_eq!(bearer_token("Bearer "), None);
/// ```
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
