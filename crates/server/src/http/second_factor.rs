//! Enrolling a second factor (TOTP), shared by the API (`POST
//! /api/v1/me/totp`, `…/confirm`) and the portal's account page: an
//! interactive session, the password and, when one is enrolled already,
//! its current code; a new secret is pending until a code of it confirms.

use super::auth::ClientAddr;
use super::client::Client;
use super::users::totp_context;
use super::{AppState, Principal, signin};
use crate::model::Permission;
use crate::{Result, ServerError, totp};

/// A pending enrolment: what the authenticator app needs.
pub(super) struct Enrolment {
    /// Base32, for typing in.
    pub secret: String,
    /// `otpauth://…`, for the QR code.
    pub otpauth_url: String,
}

/// Start (or restart) the caller's enrolment.
pub(super) async fn begin(
    state: &AppState,
    principal: &Principal,
    client: &Client,
    password: &str,
    current_code: Option<&str>,
) -> Result<Enrolment> {
    principal.require(Permission::ReadDevices)?;
    // A stolen token (even a viewer's) must not replace the owner's second
    // factor: an interactive session, the password and the current code.
    principal.require_session()?;
    let id = principal.user.id;
    let key = format!("{}/{}", ClientAddr(client.addr).key(), principal.user.email);
    if !state.login_limiter.allowed(&key) {
        return Err(ServerError::RateLimited);
    }
    let Some((_, hash)) = state.store.user_by_email(&principal.user.email).await? else {
        return Err(ServerError::Unauthenticated);
    };
    let current = state.store.totp_state(id).await?.unwrap_or_default();
    let password_ok =
        password.len() <= super::MAX_PASSWORD && state.hasher.verify(password, &hash).await?;
    let code_ok = match (&current.sealed, current_code) {
        (None, _) => true,
        (Some(sealed), Some(code)) => {
            password_ok && signin::check_totp(state, id, sealed, current.last_step, code).await?
        }
        (Some(_), None) => false,
    };
    if !password_ok || !code_ok {
        state.login_limiter.failed(&key);
        return Err(ServerError::Invalid(
            "the password, or the current two-factor code, is wrong".into(),
        ));
    }
    let secret = totp::new_secret();
    let sealed = state.master.seal(&totp_context(id), &secret)?;
    state.store.set_totp_pending(id, &sealed).await?;
    principal
        .audit(
            state,
            principal.scope(),
            "totp.enrol",
            format!("user {id}"),
            String::new(),
        )
        .await?;
    Ok(Enrolment {
        secret: totp::base32(&secret),
        otpauth_url: totp::otpauth_url(&secret, &principal.user.email),
    })
}

/// Confirm the pending enrolment with a code of it: from then on, signing
/// in needs a code.
pub(super) async fn confirm(state: &AppState, principal: &Principal, code: &str) -> Result<()> {
    principal.require(Permission::ReadDevices)?;
    principal.require_session()?;
    let id = principal.user.id;
    let current = state.store.totp_state(id).await?.unwrap_or_default();
    let Some(pending) = current.pending else {
        return Err(ServerError::Invalid(
            "no enrolment in progress: POST /api/v1/me/totp first".into(),
        ));
    };
    let secret = state.master.open(&totp_context(id), &pending)?;
    let now = u64::try_from(crate::now()).unwrap_or(0);
    let last = u64::try_from(current.last_step).unwrap_or(0);
    let step = totp::verify(&secret, code, now, last)?.and_then(|s| i64::try_from(s).ok());
    let confirmed = match step {
        Some(step) => state.store.confirm_totp(id, step).await?,
        None => false,
    };
    if !confirmed {
        return Err(ServerError::Invalid(
            "wrong code: check the device's clock and try the next code".into(),
        ));
    }
    principal
        .audit(
            state,
            principal.scope(),
            "totp.enable",
            format!("user {id}"),
            String::new(),
        )
        .await
}
