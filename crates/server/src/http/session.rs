//! Cookie sessions for the web portal, and their CSRF protection.
//!
//! The cookie holds 256 random bits; the database only their SHA-256. The
//! CSRF token is derived from the session secret (a domain-separated
//! SHA-256): bound to the session, nothing more to store, and unknown to a
//! cross-site attacker, who can neither read the HttpOnly cookie nor our
//! answers. A state-changing request authenticated by the cookie must
//! carry it (`X-CSRF-Token` or the form field `csrf_token`) and, when the
//! browser says where it comes from (`Origin`, else `Referer`), come from
//! this server's own origin. Bearer tokens are exempt: browsers never send
//! them by themselves.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_TYPE, COOKIE, ORIGIN, REFERER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::client::{Client, normal_origin};
use crate::secrets::random_secret;
use crate::{Result, ServerError};

/// A session ends after this long without a request…
pub const SESSION_IDLE_SECS: i64 = 3600;
/// …and this long after logging in, whatever happens.
pub const SESSION_MAX_SECS: i64 = 12 * 3600;
/// Activity is written at most once a minute per session.
pub const TOUCH_AFTER_SECS: i64 = 60;

/// The cookie over HTTPS: `__Host-` makes browsers refuse it unless it is
/// Secure, host-only and `Path=/`, so no sibling host or plain-HTTP
/// attacker can plant one (session fixation).
pub const SECURE_COOKIE: &str = "__Host-printwatch_session";
/// The cookie over plain HTTP (a local installation without TLS).
pub const PLAIN_COOKIE: &str = "printwatch_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf_token";

/// A new session secret: 256 random bits.
pub fn new_secret() -> String {
    random_secret(32)
}

/// The CSRF token of a session.
pub fn csrf_token(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"printwatch/csrf/v1\0");
    h.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

fn cookie_name(https: bool) -> &'static str {
    if https { SECURE_COOKIE } else { PLAIN_COOKIE }
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(secret: &str, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!(
        "{}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_MAX_SECS}{secure}",
        cookie_name(https)
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        cookie_name(https)
    )
}

/// The session secret in the request's cookies. Over HTTPS only the
/// `__Host-` cookie counts.
pub fn session_secret(headers: &HeaderMap, https: bool) -> Option<&str> {
    let name = cookie_name(https);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() < 256)
}

/// Why a cookie-authenticated change is refused. One message for every
/// case: it says what a legitimate client must do and nothing else.
fn refused() -> ServerError {
    ServerError::CrossSite
}

/// `Origin` (else `Referer`), when the browser sent one, must be ours.
pub fn check_origin(headers: &HeaderMap, client: &Client) -> Result<()> {
    let claimed = if let Some(origin) = headers.get(ORIGIN) {
        // "null" and anything unreadable are not ours.
        origin.to_str().ok().and_then(origin_of)
    } else if let Some(referer) = headers.get(REFERER) {
        referer.to_str().ok().and_then(origin_of)
    } else {
        return Ok(());
    };
    match (claimed, client.origin()) {
        (Some(claimed), Some(own)) if claimed == own => Ok(()),
        _ => Err(refused()),
    }
}

/// `scheme://host[:port]` of an Origin or Referer value.
fn origin_of(text: &str) -> Option<String> {
    let uri: Uri = text.trim().parse().ok()?;
    Some(normal_origin(uri.scheme_str()?, uri.authority()?.as_str()))
}

/// The CSRF rules for a request authenticated by the session `secret`.
pub fn check_csrf(parts: &Parts, client: &Client, secret: &str) -> Result<()> {
    if parts.method.is_safe() {
        return Ok(());
    }
    check_origin(&parts.headers, client)?;
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.extensions.get::<FormCsrf>().map(|f| f.0.as_str()))
        .ok_or_else(refused)?;
    let expected = csrf_token(secret);
    if bool::from(expected.as_bytes().ct_eq(sent.trim().as_bytes())) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// The `csrf_token` field of a form body, found by [`form_csrf`].
#[derive(Clone)]
struct FormCsrf(String);

/// For a form posted with a cookie and no `X-CSRF-Token`: read the body
/// (within the API's limit), note its `csrf_token` field, and pass the
/// body on unchanged.
pub async fn form_csrf(request: Request, next: Next) -> Response {
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !is_form
        || request.method().is_safe()
        || request.method() == Method::OPTIONS
        || request.headers().contains_key(CSRF_HEADER)
        || !request.headers().contains_key(COOKIE)
    {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, super::MAX_API_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    // Our tokens are URL-safe base64: a browser sends them unencoded.
    let field = bytes
        .split(|b| *b == b'&')
        .filter_map(|pair| pair.strip_prefix(format!("{CSRF_FIELD}=").as_bytes()))
        .find_map(|v| std::str::from_utf8(v).ok());
    if let Some(token) = field {
        parts.extensions.insert(FormCsrf(token.to_string()));
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn client(https: bool, host: &str) -> Client {
        Client {
            addr: None,
            https,
            host: Some(host.into()),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn origins_must_be_ours() {
        let us = client(true, "pw.example");
        assert!(check_origin(&headers(&[]), &us).is_ok());
        assert!(check_origin(&headers(&[("origin", "https://pw.example")]), &us).is_ok());
        assert!(check_origin(&headers(&[("origin", "https://PW.example:443")]), &us).is_ok());
        for bad in [
            "https://evil.example",
            "http://pw.example",
            "https://pw.example:8443",
            "https://pw.example.evil.example",
            "null",
            "",
        ] {
            assert!(
                check_origin(&headers(&[("origin", bad)]), &us).is_err(),
                "{bad}"
            );
        }
        assert!(check_origin(&headers(&[("referer", "https://pw.example/x?y")]), &us).is_ok());
        assert!(
            check_origin(
                &headers(&[("referer", "https://evil.example/pw.example")]),
                &us
            )
            .is_err()
        );
        // Origin wins over Referer.
        let both = headers(&[
            ("origin", "https://evil.example"),
            ("referer", "https://pw.example/"),
        ]);
        assert!(check_origin(&both, &us).is_err());
    }

    #[test]
    fn cookies() {
        let secret = new_secret();
        assert_eq!(secret.len(), 43);
        let c = set_cookie(&secret, true);
        assert!(c.starts_with("__Host-printwatch_session="));
        assert!(c.contains("; Secure") && c.contains("; HttpOnly") && c.contains("; Path=/"));
        assert!(!set_cookie(&secret, false).contains("Secure"));
        let h = headers(&[(
            "cookie",
            "a=b; printwatch_session=plain; __Host-printwatch_session=secure",
        )]);
        assert_eq!(session_secret(&h, true), Some("secure"));
        assert_eq!(session_secret(&h, false), Some("plain"));
        assert_eq!(
            session_secret(&headers(&[("cookie", "printwatch_session=")]), false),
            None
        );
        assert_ne!(csrf_token("a"), csrf_token("b"));
    }
}
