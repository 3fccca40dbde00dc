//! Signing in, shared by the API's `POST /api/v1/login` and the portal's
//! sign-in page: the password and the second factor, the limits (per
//! address, per address and account, per account in the database), the
//! audit of successes and (within a budget) failures, and new sessions.
//! Handlers only read their input and shape the answer.

use axum::http::HeaderMap;

use super::auth::ClientAddr;
use super::client::Client;
use super::session;
use super::{AppState, AuditVerdict};
use crate::ids::{TenantId, UserId};
use crate::model::{NewAudit, User};
use crate::secrets::token_hash;
use crate::{Result, ServerError, totp};

/// A hash that never verifies: unknown users cost the same as known ones.
use super::users::DUMMY_HASH;

/// One try at signing in.
pub(super) struct Attempt<'a> {
    /// As typed; compared trimmed and lower-case.
    pub email: &'a str,
    pub password: &'a str,
    /// Instead of the password: the proof, from a moment ago, that this
    /// e-mail's password was given right ([`password_proof`]): the
    /// portal's second step, which asks for the code alone.
    pub proof: Option<&'a str>,
    pub totp: Option<&'a str>,
    /// For a session cookie (the portal): the request must come from this
    /// server's own pages.
    pub session: bool,
    pub client: &'a Client,
    pub headers: &'a HeaderMap,
}

/// The user `attempt` signs in as, or why not. Failures are counted by
/// every limiter and audited within the client's budget.
pub(super) async fn authenticate(state: &AppState, attempt: &Attempt<'_>) -> Result<User> {
    // Nothing longer can be an account: refused before it costs anything
    // (no limiter key, no hash, no audit entry).
    let email = attempt.email.trim().to_lowercase();
    if email.len() > super::MAX_EMAIL || attempt.password.len() > super::MAX_PASSWORD {
        return Err(ServerError::Invalid(format!(
            "an e-mail address has at most {} bytes and a password at most {}",
            super::MAX_EMAIL,
            super::MAX_PASSWORD
        )));
    }
    let addr = ClientAddr(attempt.client.addr).key();
    let key = format!("{addr}/{email}");
    // Refused tries are not audited: the limiter is there to stop floods,
    // and auditing each would let one client flood the audit log.
    if !state.address_limiter.allowed(&addr) || !state.login_limiter.allowed(&key) {
        return Err(ServerError::RateLimited);
    }
    // The per-account limit, in the database: it holds across server
    // processes and client addresses, and counts unknown e-mails alike so
    // that it does not tell which accounts exist. It is no hard lock (one
    // an attacker could set off on the administrator at will): while it
    // holds, addresses that failed on this account are refused, and a
    // correct password from elsewhere passes (with its second factor if
    // one is enrolled). Every failure while it holds answers 429, like the
    // refusals, so a guess tells nothing.
    let now = crate::now();
    let locked = state.store.login_locked(&email, now).await?;
    let dirty = state.login_limiter.failures(&key) > 0;
    if locked && dirty && attempt.totp.is_none() {
        return Err(ServerError::RateLimited);
    }
    if attempt.session {
        session::check_origin(attempt.headers, attempt.client)?;
    }
    let fail = async |tenant: Option<TenantId>, reason: &str, error: ServerError| {
        state.login_limiter.failed(&key);
        state.address_limiter.failed(&addr);
        state
            .store
            .record_login_failure(&email, crate::now(), state.account_limit)
            .await?;
        audit_failure(state, tenant, &email, attempt.client, reason).await?;
        let error = if locked {
            ServerError::RateLimited
        } else {
            error
        };
        Err::<User, _>(error)
    };
    let (user, hash) = match state.store.user_by_email(&email).await? {
        Some(found) => found,
        None => {
            // Same work for unknown users: no timing oracle for e-mails.
            let _ = state.hasher.verify(attempt.password, DUMMY_HASH).await?;
            return fail(None, "unknown user", ServerError::WrongCredentials).await;
        }
    };
    let password_ok = match attempt.proof {
        Some(proof) => proof_holds(state, proof, &email, now),
        None => state.hasher.verify(attempt.password, &hash).await?,
    };
    if !password_ok {
        return fail(
            Some(user.tenant_id),
            "wrong password",
            ServerError::WrongCredentials,
        )
        .await;
    }
    if user.disabled {
        return fail(
            Some(user.tenant_id),
            "user disabled",
            ServerError::WrongCredentials,
        )
        .await;
    }
    let second_factor = state
        .store
        .totp_state(user.id)
        .await?
        .and_then(|t| t.sealed.map(|s| (s, t.last_step)));
    if locked && dirty && second_factor.is_none() {
        // From an address that failed on this account, under attack, only
        // a second factor lets a correct password through.
        return fail(
            Some(user.tenant_id),
            "account under attack: no second factor",
            ServerError::RateLimited,
        )
        .await;
    }
    if let Some((sealed, last_step)) = second_factor {
        let Some(code) = attempt.totp else {
            audit_failure(
                state,
                Some(user.tenant_id),
                &email,
                attempt.client,
                "two-factor code needed",
            )
            .await?;
            return Err(ServerError::TotpRequired);
        };
        if !check_totp(state, user.id, &sealed, last_step, code).await? {
            let why = "wrong or reused two-factor code";
            return fail(Some(user.tenant_id), why, ServerError::WrongSecondFactor).await;
        }
    }
    state
        .store
        .clear_login_failures(&email, now, state.account_limit)
        .await?;
    Ok(user)
}

/// How long the proof of a right password lasts: the time to type a code.
const PROOF_SECS: i64 = 300;

fn proof_context() -> &'static [u8] {
    b"printwatch/signin-proof/v1"
}

/// A proof that `email`'s password was just given right, for the step
/// that asks for the second factor alone (so the page never sends the
/// password back to the browser): sealed with the master key, bound to
/// the e-mail, valid for [`PROOF_SECS`]. It stands for the password only:
/// the limits, the second factor and the audit apply as to a password.
pub(super) fn password_proof(state: &AppState, email: &str, now: i64) -> Result<String> {
    use base64::Engine as _;
    let plain = format!("{}\n{email}", now + PROOF_SECS);
    let sealed = state.master.seal(proof_context(), plain.as_bytes())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed))
}

fn proof_holds(state: &AppState, proof: &str, email: &str, now: i64) -> bool {
    use base64::Engine as _;
    let Ok(sealed) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(proof.trim()) else {
        return false;
    };
    let Ok(plain) = state.master.open(proof_context(), &sealed) else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(&plain) else {
        return false;
    };
    match text.split_once('\n') {
        Some((until, bound)) => {
            bound == email && until.parse::<i64>().is_ok_and(|until| now <= until)
        }
        None => false,
    }
}

/// Audit a login attempt: who tried (the e-mail as given), from where, the
/// outcome. Never the password or any secret.
pub(super) async fn audit_login(
    state: &AppState,
    tenant: Option<TenantId>,
    email: &str,
    client: &Client,
    action: &str,
    detail: &str,
) -> Result<()> {
    // Unknown e-mails go to the provider's log.
    let tenant = match tenant {
        Some(t) => Some(t),
        None => state.store.provider().await?.map(|p| p.id),
    };
    let Some(tenant_id) = tenant else {
        return Ok(());
    };
    let from = ClientAddr(client.addr).key();
    state
        .store
        .audit(NewAudit {
            tenant_id,
            actor: email.chars().take(254).collect(),
            action: action.to_owned(),
            target: "login".into(),
            detail: format!("{detail} (from {from})"),
            at: crate::now(),
        })
        .await
}

/// Audit a failed login, within the client's audit budget: one client
/// cannot flood the log, and what was left out is counted in the next
/// entry written for it.
async fn audit_failure(
    state: &AppState,
    tenant: Option<TenantId>,
    email: &str,
    client: &Client,
    reason: &str,
) -> Result<()> {
    match state.login_audit.spend(&ClientAddr(client.addr).key()) {
        AuditVerdict::LeaveOut => Ok(()),
        AuditVerdict::Write { left_out: 0 } => {
            audit_login(state, tenant, email, client, "login.failure", reason).await
        }
        AuditVerdict::Write { left_out } => {
            let detail =
                format!("{reason}; {left_out} earlier failures from this address not logged");
            audit_login(state, tenant, email, client, "login.failure", &detail).await
        }
    }
}

/// Check a TOTP `code` against the sealed secret and use its step (a code
/// is accepted once).
pub(super) async fn check_totp(
    state: &AppState,
    user: UserId,
    sealed: &[u8],
    last_step: i64,
    code: &str,
) -> Result<bool> {
    let secret = state
        .master
        .open(&super::users::totp_context(user), sealed)?;
    let now = u64::try_from(crate::now()).unwrap_or(0);
    let step = totp::verify(&secret, code, now, u64::try_from(last_step).unwrap_or(0))?;
    Ok(match step.and_then(|s| i64::try_from(s).ok()) {
        Some(step) => state.store.use_totp_step(user, step).await?,
        None => false,
    })
}

/// A session opened for a user who signed in: its secret (the cookie's
/// value) and its CSRF token.
pub(super) struct OpenedSession {
    pub secret: String,
    pub csrf_token: String,
}

/// Open a session for `user`, ending the one the browser still holds (one
/// live session per browser, never one chosen before signing in); audited.
pub(super) async fn open_session(
    state: &AppState,
    user: &User,
    client: &Client,
    headers: &HeaderMap,
    email: &str,
    now: i64,
) -> Result<OpenedSession> {
    if let Some(old) = session::session_secret(headers, client.https)
        && let Some((old, _)) = state.store.session_by_hash(&token_hash(old)).await?
    {
        state.store.delete_session(old.id).await?;
    }
    state
        .store
        .purge_sessions(
            now - session::SESSION_IDLE_SECS,
            now - session::SESSION_MAX_SECS,
        )
        .await?;
    let secret = session::new_secret();
    let created = state
        .store
        .create_session(user.id, &token_hash(&secret), now)
        .await?;
    let detail = format!("session {}", created.id);
    audit_login(
        state,
        Some(user.tenant_id),
        email,
        client,
        "login.success",
        &detail,
    )
    .await?;
    Ok(OpenedSession {
        csrf_token: session::csrf_token(&secret),
        secret,
    })
}
