//! Logging in, the caller, users and API tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::auth::{ClientAddr, weaker};
use super::{Access, AppState, Endpoint, Principal};
use crate::ids::{TenantId, UserId};
use crate::model::{NewUser, Permission, Role};
use crate::secrets::{hash_password, new_api_token, token_hash, verify_password};
use crate::{Result, ServerError, totp};

/// Lifetime of the token that logging in gives.
const LOGIN_TOKEN_SECS: i64 = 12 * 3600;
pub const MIN_PASSWORD_LEN: usize = 12;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::POST,
            "/api/v1/login",
            "Log in with e-mail and password; answers a bearer token valid 12 hours",
            Access::Public,
            post(login),
        ),
        Endpoint::new(
            Method::GET,
            "/api/v1/me",
            "The calling user and its effective role",
            Access::User(Permission::ReadDevices),
            get(me),
        ),
        Endpoint::new(
            Method::POST,
            "/api/v1/me/totp",
            "Start TOTP two-factor enrolment: answers the secret and its otpauth:// URL",
            Access::User(Permission::ReadDevices),
            post(totp_enrol),
        ),
        Endpoint::new(
            Method::POST,
            "/api/v1/me/totp/confirm",
            "Confirm enrolment with a first code; from then on logging in needs a code",
            Access::User(Permission::ReadDevices),
            post(totp_confirm),
        ),
        Endpoint::new(
            Method::GET,
            "/api/v1/users",
            "Users of the caller's tenant and its customers",
            Access::User(Permission::ManageUsers),
            get(list),
        ),
        Endpoint::new(
            Method::POST,
            "/api/v1/users",
            "Create a user in a visible tenant",
            Access::User(Permission::ManageUsers),
            post(create),
        ),
        Endpoint::new(
            Method::GET,
            "/api/v1/users/{user_id}",
            "One user",
            Access::User(Permission::ManageUsers),
            get(show),
        ),
        Endpoint::new(
            Method::POST,
            "/api/v1/tokens",
            "Create an API token for the caller (shown once; role at most the caller's)",
            Access::User(Permission::ReadDevices),
            post(create_token),
        ),
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
    /// The current TOTP code, for users with two-factor enabled.
    #[serde(default)]
    totp: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    Json(body): Json<Login>,
) -> Result<impl IntoResponse> {
    let key = format!("{}/{}", client.key(), body.email.trim().to_lowercase());
    if !state.login_limiter.allowed(&key) {
        return Err(ServerError::RateLimited);
    }
    let found = state.store.user_by_email(&body.email).await?;
    let ok = match &found {
        Some((user, hash)) => verify_password(&body.password, hash) && !user.disabled,
        None => {
            // Same work for unknown users: no timing oracle for e-mails.
            let _ = verify_password(&body.password, DUMMY_HASH);
            false
        }
    };
    let Some((user, _)) = found.filter(|_| ok) else {
        state.login_limiter.failed(&key);
        return Err(ServerError::Unauthenticated);
    };
    if let Some(sealed) = state
        .store
        .totp_state(user.id)
        .await?
        .and_then(|t| t.sealed.map(|s| (s, t.last_step)))
    {
        let (sealed, last_step) = sealed;
        let Some(code) = body.totp.as_deref() else {
            return Err(ServerError::TotpRequired);
        };
        let secret = state.master.open(&totp_context(user.id), &sealed)?;
        let now = u64::try_from(crate::now()).unwrap_or(0);
        let step = totp::verify(&secret, code, now, u64::try_from(last_step).unwrap_or(0))?;
        let used = match step.and_then(|s| i64::try_from(s).ok()) {
            Some(step) => state.store.use_totp_step(user.id, step).await?,
            None => false,
        };
        if !used {
            state.login_limiter.failed(&key);
            return Err(ServerError::Unauthenticated);
        }
    }
    let token = new_api_token();
    let now = crate::now();
    let expires = now + LOGIN_TOKEN_SECS;
    state
        .store
        .create_token(
            &user,
            "login",
            user.role,
            &token_hash(&token),
            Some(expires),
            now,
        )
        .await?;
    Ok(Json(json!({
        "token": token,
        "expires_at": crate::ingest::format_time(expires),
        "user": user,
    })))
}

fn totp_context(user: UserId) -> Vec<u8> {
    format!("printwatch/totp/v1/user/{user}").into_bytes()
}

async fn totp_enrol(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadDevices)?;
    let secret = totp::new_secret();
    let sealed = state
        .master
        .seal(&totp_context(principal.user.id), &secret)?;
    state
        .store
        .set_totp_pending(principal.user.id, &sealed)
        .await?;
    principal
        .audit(
            &state,
            principal.scope(),
            "totp.enrol",
            format!("user {}", principal.user.id),
            String::new(),
        )
        .await?;
    Ok(Json(json!({
        "secret": totp::base32(&secret),
        "otpauth_url": totp::otpauth_url(&secret, &principal.user.email),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TotpCode {
    code: String,
}

async fn totp_confirm(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<TotpCode>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadDevices)?;
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
    let step = totp::verify(&secret, &body.code, now, last)?.and_then(|s| i64::try_from(s).ok());
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
            &state,
            principal.scope(),
            "totp.enable",
            format!("user {id}"),
            String::new(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An argon2id hash of a random password, for constant-time failures.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1F5f6NlP3y1qJ1rHcN3e5F3m0b3t1Tt9XqCqQ1mF1pY";

async fn me(principal: Principal) -> Result<impl IntoResponse> {
    Ok(Json(
        json!({ "user": principal.user, "role": principal.role }),
    ))
}

async fn list(State(state): State<AppState>, principal: Principal) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageUsers)?;
    Ok(Json(state.store.users(principal.scope()).await?))
}

async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageUsers)?;
    let user = state
        .store
        .user(principal.scope(), UserId(id))
        .await?
        .ok_or(ServerError::NotFound)?;
    Ok(Json(user))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    tenant_id: i64,
    email: String,
    password: String,
    role: String,
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateUser>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageUsers)?;
    let tenant = state
        .store
        .tenant(principal.scope(), TenantId(body.tenant_id))
        .await?
        .ok_or(ServerError::NotFound)?;
    let role = Role::parse(&body.role)?;
    if weaker(role, principal.role) != role {
        return Err(ServerError::Forbidden);
    }
    let email = body.email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 || email.chars().any(char::is_whitespace) {
        return Err(ServerError::Invalid(
            "a valid e-mail address is needed".into(),
        ));
    }
    if body.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ServerError::Invalid(format!(
            "the password needs at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let user = state
        .store
        .create_user(
            NewUser {
                tenant_id: tenant.id,
                email,
                password_hash: hash_password(&body.password)?,
                role,
            },
            crate::now(),
        )
        .await?;
    principal
        .audit(
            &state,
            tenant.id,
            "user.create",
            format!("user {}", user.id),
            format!("{} as {}", user.email, role.as_str()),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    name: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateToken>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadDevices)?;
    let requested = match &body.role {
        Some(r) => Role::parse(r)?,
        None => principal.role,
    };
    let role = weaker(requested, principal.role);
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ServerError::Invalid(
            "a token name of 1 to 100 characters is needed".into(),
        ));
    }
    let now = crate::now();
    let expires = body
        .expires_in_days
        .map(|d| now + i64::from(d.min(3650)) * 86_400);
    let token = new_api_token();
    let record = state
        .store
        .create_token(
            &principal.user,
            name,
            role,
            &token_hash(&token),
            expires,
            now,
        )
        .await?;
    principal
        .audit(
            &state,
            principal.scope(),
            "token.create",
            format!("token {}", record.id),
            format!("{name} as {}", role.as_str()),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": token, "record": record })),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dummy_hash_costs_a_real_verification() {
        // If it did not parse, unknown e-mails would answer faster.
        assert!(argon2::password_hash::PasswordHash::new(super::DUMMY_HASH).is_ok());
    }
}
