//! Logging in (token or session cookie) and out, the caller, users and API
//! tokens.

use super::extract::Json;
use super::extract::Path;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::auth::{ClientAddr, Credential, weaker};
use super::client::Client;
use super::second_factor;
use super::session::{self, SESSION_IDLE_SECS, SESSION_MAX_SECS};
use super::signin;
use super::{Access, AppState, Endpoint, Principal};
use crate::ids::{TenantId, TokenId, UserId};
use crate::model::{ApiToken, NewAudit, NewUser, Permission, Role, User};
use crate::secrets::{new_api_token, token_hash};
use crate::{Result, ServerError};

/// Lifetime of the token that logging in gives.
const LOGIN_TOKEN_SECS: i64 = 12 * 3600;
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest API token name (characters, trimmed).
const MAX_TOKEN_NAME: usize = 100;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::POST,
            "/api/v1/login",
            "Log in with e-mail and password; answers a bearer token valid 12 hours, or with \"session\": true sets a session cookie and answers its CSRF token",
            Access::Public,
            post(login).layer(DefaultBodyLimit::max(super::MAX_PUBLIC_BODY)),
        )
        .body::<Login>()
        .returns::<LoginAnswer>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/logout",
            "End the caller's session (deletes it and clears the cookie); with a bearer token, nothing",
            Access::User(Permission::ReadDevices),
            post(logout),
        )
        .no_content(),
        Endpoint::new(
            Method::GET,
            "/api/v1/session",
            "How the caller is authenticated; for a session cookie, its CSRF token",
            Access::User(Permission::ReadDevices),
            get(current_session),
        )
        .returns::<SessionInfo>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/me/password",
            "Change the caller's password (needs the current one); ends all the caller's sessions",
            Access::User(Permission::ReadDevices),
            post(change_password),
        )
        .body::<NewPassword>()
        .no_content(),
        Endpoint::new(
            Method::GET,
            "/api/v1/me",
            "The calling user and its effective role",
            Access::User(Permission::ReadDevices),
            get(me),
        )
        .returns::<Me>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/me/totp",
            "Start TOTP two-factor enrolment (or replace the second factor): needs a session (not a token), the password and, when one is enrolled, its current code; answers the secret and its otpauth:// URL",
            Access::User(Permission::ReadDevices),
            post(totp_enrol),
        )
        .body::<Reauthenticate>()
        .returns::<TotpEnrolment>(),
        Endpoint::new(
            Method::GET,
            "/api/v1/me/credentials",
            "The caller's API tokens and sessions (never their secrets)",
            Access::User(Permission::ReadDevices),
            get(own_credentials),
        )
        .returns::<Credentials>(),
        Endpoint::new(
            Method::DELETE,
            "/api/v1/me/credentials",
            "Revoke all the caller's API tokens and end all its sessions (this one too)",
            Access::User(Permission::ReadDevices),
            delete(end_own_credentials),
        )
        .returns::<CredentialsEnded>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/users/{user_id}/totp/reset",
            "Remove a user's second factor (lost device); needs the caller's own fresh second factor (X-Second-Factor)",
            Access::User(Permission::ManageUsers),
            post(reset_totp),
        )
        .second_factor()
        .no_content(),
        Endpoint::new(
            Method::POST,
            "/api/v1/me/totp/confirm",
            "Confirm enrolment with a first code; from then on logging in needs a code",
            Access::User(Permission::ReadDevices),
            post(totp_confirm),
        )
        .body::<TotpCode>()
        .no_content(),
        Endpoint::new(
            Method::GET,
            "/api/v1/users",
            "Users of the caller's tenant and its customers",
            Access::User(Permission::ManageUsers),
            get(list),
        )
        .returns::<Vec<User>>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/users",
            "Create a user in a visible tenant; an administrator of the provider needs the caller's fresh second factor (X-Second-Factor)",
            Access::User(Permission::ManageUsers),
            post(create),
        )
        .second_factor()
        .body::<CreateUser>()
        .creates::<User>(),
        Endpoint::new(
            Method::GET,
            "/api/v1/users/{user_id}",
            "One user",
            Access::User(Permission::ManageUsers),
            get(show),
        )
        .returns::<User>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/users/{user_id}/disable",
            "Disable a user: no more logins, its sessions end and its tokens stop working",
            Access::User(Permission::ManageUsers),
            post(disable),
        )
        .no_content(),
        Endpoint::new(
            Method::POST,
            "/api/v1/users/{user_id}/enable",
            "Enable a disabled user again",
            Access::User(Permission::ManageUsers),
            post(enable),
        )
        .no_content(),
        Endpoint::new(
            Method::GET,
            "/api/v1/users/{user_id}/tokens",
            "A user's API tokens (never their secrets)",
            Access::User(Permission::ManageUsers),
            get(user_tokens),
        )
        .returns::<Vec<ApiToken>>(),
        Endpoint::new(
            Method::GET,
            "/api/v1/tokens",
            "The caller's API tokens (never their secrets)",
            Access::User(Permission::ReadDevices),
            get(own_tokens),
        )
        .returns::<Vec<ApiToken>>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/tokens",
            "Create an API token for the caller (shown once; role at most the caller's)",
            Access::User(Permission::ReadDevices),
            post(create_token),
        )
        .body::<CreateToken>()
        .creates::<NewToken>(),
        Endpoint::new(
            Method::DELETE,
            "/api/v1/tokens/{token_id}",
            "Revoke an API token: the caller's own, or (with user management) one of a visible user",
            Access::User(Permission::ReadDevices),
            delete(revoke_token),
        )
        .no_content(),
    ]
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
    /// The current TOTP code, for users with two-factor enabled.
    #[serde(default)]
    totp: Option<String>,
    /// Set a session cookie (the web portal) instead of answering a token.
    #[serde(default)]
    session: bool,
}

async fn login(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Json(body): Json<Login>,
) -> Result<Response> {
    let attempt = signin::Attempt {
        email: &body.email,
        password: &body.password,
        proof: None,
        totp: body.totp.as_deref(),
        session: body.session,
        client: &client,
        headers: &headers,
    };
    let user = signin::authenticate(&state, &attempt).await?;
    let email = user.email.clone();
    let now = crate::now();
    if body.session {
        return start_session(&state, &user, &client, &headers, &email, now).await;
    }
    let token = new_api_token();
    let expires = now + LOGIN_TOKEN_SECS;
    let record = state
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
    let detail = format!("token {}", record.id);
    signin::audit_login(
        &state,
        Some(user.tenant_id),
        &email,
        &client,
        "login.success",
        &detail,
    )
    .await?;
    Ok(Json(LoginAnswer::Token {
        token,
        expires_at: crate::ingest::format_time(expires),
        user,
    })
    .into_response())
}

/// What logging in answers.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
enum LoginAnswer {
    /// A bearer token.
    Token {
        token: String,
        /// RFC 3339.
        expires_at: String,
        user: User,
    },
    /// With `"session": true`: the session cookie is set; this is its CSRF token.
    Session {
        csrf_token: String,
        /// RFC 3339: the session's longest life.
        expires_at: String,
        idle_timeout_secs: i64,
        user: User,
    },
}

/// A new session for `user`: the cookie, and the CSRF token in the answer.
async fn start_session(
    state: &AppState,
    user: &User,
    client: &Client,
    headers: &HeaderMap,
    email: &str,
    now: i64,
) -> Result<Response> {
    let opened = signin::open_session(state, user, client, headers, email, now).await?;
    Ok((
        [(
            SET_COOKIE,
            session::set_cookie(&opened.secret, client.https),
        )],
        Json(LoginAnswer::Session {
            csrf_token: opened.csrf_token,
            expires_at: crate::ingest::format_time(now + SESSION_MAX_SECS),
            idle_timeout_secs: SESSION_IDLE_SECS,
            user: user.clone(),
        }),
    )
        .into_response())
}

async fn logout(
    State(state): State<AppState>,
    principal: Principal,
    client: Client,
) -> Result<Response> {
    principal.require(Permission::ReadDevices)?;
    // A bearer token is revoked with DELETE /api/v1/tokens/{token_id}.
    let Credential::Session { id, .. } = principal.via else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    state.store.delete_session(id).await?;
    principal
        .audit(
            &state,
            principal.scope(),
            "logout",
            format!("session {id}"),
            String::new(),
        )
        .await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(SET_COOKIE, session::clear_cookie(client.https))],
    )
        .into_response())
}

async fn current_session(principal: Principal) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadDevices)?;
    let (auth, csrf) = match &principal.via {
        Credential::Token(_) => ("token", None),
        Credential::Session { csrf, .. } => ("session", Some(csrf.clone())),
    };
    Ok(Json(SessionInfo {
        user: principal.user,
        role: principal.role,
        auth: auth.into(),
        csrf_token: csrf,
        idle_timeout_secs: SESSION_IDLE_SECS,
    }))
}

/// How the caller is authenticated.
#[derive(Serialize, JsonSchema)]
struct SessionInfo {
    user: User,
    role: Role,
    /// `token` or `session`.
    auth: String,
    /// For a session cookie: the token its changes need.
    csrf_token: Option<String>,
    idle_timeout_secs: i64,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    current_password: String,
    #[schemars(length(min = MIN_PASSWORD_LEN, max = super::MAX_PASSWORD))]
    new_password: String,
    /// Keep the caller's API tokens (all are revoked by default: a new
    /// password is how an intruder is turned out).
    #[serde(default)]
    keep_tokens: bool,
}

async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    client: Client,
    Json(body): Json<NewPassword>,
) -> Result<Response> {
    principal.require(Permission::ReadDevices)?;
    let user = &principal.user;
    // The login limiter: a stolen session must not be a password oracle.
    let key = format!("{}/{}", ClientAddr(client.addr).key(), user.email);
    if !state.login_limiter.allowed(&key) {
        return Err(ServerError::RateLimited);
    }
    let Some((_, hash)) = state.store.user_by_email(&user.email).await? else {
        return Err(ServerError::Unauthenticated);
    };
    if !state.hasher.verify(&body.current_password, &hash).await? {
        state.login_limiter.failed(&key);
        return Err(ServerError::Invalid("the current password is wrong".into()));
    }
    check_password(&body.new_password)?;
    let detail = if body.keep_tokens {
        "sessions ended, API tokens kept"
    } else {
        "sessions ended, API tokens revoked"
    };
    let entry = principal.audit_entry(
        principal.scope(),
        "user.password",
        format!("user {}", user.id),
        detail.into(),
    );
    let hash = state.hasher.hash(&body.new_password).await?;
    state
        .store
        .set_password_audited(user.id, &hash, body.keep_tokens, entry)
        .await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(SET_COOKIE, session::clear_cookie(client.https))],
    )
        .into_response())
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_LEN || password.len() > super::MAX_PASSWORD {
        return Err(ServerError::Invalid(format!(
            "the password needs at least {MIN_PASSWORD_LEN} characters and at most {} bytes",
            super::MAX_PASSWORD
        )));
    }
    Ok(())
}

pub(super) fn totp_context(user: UserId) -> Vec<u8> {
    format!("printwatch/totp/v1/user/{user}").into_bytes()
}

/// What enrolling (or replacing) a second factor needs.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Reauthenticate {
    #[schemars(length(max = super::MAX_PASSWORD))]
    password: String,
    /// The current code, when a second factor is enrolled already.
    #[serde(default)]
    totp: Option<String>,
}

async fn totp_enrol(
    State(state): State<AppState>,
    principal: Principal,
    client: Client,
    Json(body): Json<Reauthenticate>,
) -> Result<impl IntoResponse> {
    let enrolment = second_factor::begin(
        &state,
        &principal,
        &client,
        &body.password,
        body.totp.as_deref(),
    )
    .await?;
    Ok(Json(TotpEnrolment {
        secret: enrolment.secret,
        otpauth_url: enrolment.otpauth_url,
    }))
}

#[derive(Serialize, JsonSchema)]
struct TotpEnrolment {
    /// Base32.
    secret: String,
    otpauth_url: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TotpCode {
    code: String,
}

async fn totp_confirm(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<TotpCode>,
) -> Result<impl IntoResponse> {
    second_factor::confirm(&state, &principal, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's credentials.
#[derive(Serialize, JsonSchema)]
struct Credentials {
    tokens: Vec<ApiToken>,
    sessions: Vec<crate::model::Session>,
}

async fn own_credentials(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadDevices)?;
    let id = principal.user.id;
    Ok(Json(Credentials {
        tokens: state.store.tokens_of(principal.scope(), id).await?,
        sessions: state.store.sessions_of(id).await?,
    }))
}

/// What ending the caller's credentials ended.
#[derive(Serialize, JsonSchema)]
struct CredentialsEnded {
    tokens_revoked: u64,
    sessions_ended: u64,
}

async fn end_own_credentials(
    State(state): State<AppState>,
    principal: Principal,
    client: Client,
) -> Result<Response> {
    principal.require(Permission::ReadDevices)?;
    let entry = principal.audit_entry(
        principal.scope(),
        "user.credentials_end",
        format!("user {}", principal.user.id),
        "all API tokens revoked, all sessions ended".into(),
    );
    let (tokens_revoked, sessions_ended) = state
        .store
        .end_credentials_audited(principal.user.id, entry)
        .await?;
    Ok((
        [(SET_COOKIE, session::clear_cookie(client.https))],
        Json(CredentialsEnded {
            tokens_revoked,
            sessions_ended,
        }),
    )
        .into_response())
}

async fn reset_totp(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    principal.require(Permission::ManageUsers)?;
    let user = state
        .store
        .user(principal.scope(), UserId(id))
        .await?
        .ok_or(ServerError::NotFound)?;
    // Not someone with more rights than the caller.
    if weaker(user.role, principal.role) != user.role {
        return Err(ServerError::Forbidden);
    }
    principal.fresh_second_factor(&state, &headers).await?;
    // In the caller's log: it outlives the user's tenant.
    let entry = principal.audit_entry(
        principal.scope(),
        "user.totp_reset",
        format!("user {}", user.id),
        "second factor removed".into(),
    );
    if !state
        .store
        .reset_totp_audited(principal.scope(), user.id, entry)
        .await?
    {
        return Err(ServerError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// An argon2id hash of a random password, for constant-time failures.
pub(super) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1F5f6NlP3y1qJ1rHcN3e5F3m0b3t1Tt9XqCqQ1mF1pY";

/// The caller and its effective role (a token's may be weaker than its user's).
#[derive(Serialize, JsonSchema)]
struct Me {
    user: User,
    role: Role,
}

async fn me(principal: Principal) -> Result<impl IntoResponse> {
    Ok(Json(Me {
        user: principal.user,
        role: principal.role,
    }))
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

/// The one answer for any e-mail address a new user cannot have.
const UNUSABLE_EMAIL: &str =
    "this e-mail address cannot be used for a new user: it is malformed or already in use";

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    tenant_id: i64,
    email: String,
    #[schemars(length(min = MIN_PASSWORD_LEN))]
    password: String,
    /// What the user may do; at most the creator's own role.
    // Parsed by `Role::parse`, which takes exactly the names `Role`
    // serializes to (a unit test holds them together).
    #[schemars(with = "Role")]
    role: String,
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
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
    check_password(&body.password)?;
    if role == Role::Admin && tenant.kind == crate::model::TenantKind::Provider {
        // An administrator of the provider sees every customer.
        principal.fresh_second_factor(&state, &headers).await?;
    }
    // E-mail addresses are unique across all tenants, because logging in
    // names only the e-mail (and single sign-on maps to it): per-tenant
    // uniqueness would make a login ambiguous. So an address taken in
    // another tenant must be refused, and the refusal must not tell that
    // tenant's users apart from anything else: the same answer for an
    // address taken in the caller's tenant and one taken anywhere else. What remains ("this well-formed address cannot be
    // used") is inherent to global login names, and needs user management.
    let unusable = || ServerError::Conflict(UNUSABLE_EMAIL.into());
    let email = body.email.trim().to_lowercase();
    // Its form is no secret, so a malformed address is told as such.
    check_email(&email)?;
    let actor = principal.user.email.clone();
    let user = state
        .store
        .create_user_audited(
            NewUser {
                tenant_id: tenant.id,
                email,
                password_hash: state.hasher.hash(&body.password).await?,
                role,
            },
            crate::now(),
            // Written in the same transaction: no user without its entry.
            Box::new(move |user: &User| NewAudit {
                tenant_id: user.tenant_id,
                actor,
                action: "user.create".into(),
                target: format!("user {}", user.id),
                detail: format!("{} as {}", user.email, user.role.as_str()),
                at: user.created_at,
            }),
        )
        .await
        .map_err(|e| match e {
            ServerError::Database(sqlx::Error::Database(d))
                if d.kind() == sqlx::error::ErrorKind::UniqueViolation =>
            {
                unusable()
            }
            other => other,
        })?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// A login name: `local@domain`, at most 254 bytes (RFC 5321's path
/// limit), no spaces or control characters.
fn check_email(email: &str) -> Result<()> {
    let well_formed = email.len() <= super::MAX_EMAIL
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if well_formed {
        Ok(())
    } else {
        Err(ServerError::Invalid(format!(
            "email is not an e-mail address: write it as name@domain, at most {} bytes",
            super::MAX_EMAIL
        )))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    #[schemars(length(min = 1, max = MAX_TOKEN_NAME), regex(pattern = r"\S"))]
    name: String,
    /// At most the caller's; the caller's by default.
    #[serde(default)]
    #[schemars(with = "Option<Role>")]
    role: Option<String>,
    /// Days until it expires (at most 3650); the server's default (90
    /// days unless configured) when absent.
    #[serde(default)]
    #[schemars(range(min = 1, max = 3650))]
    expires_in_days: Option<u32>,
    /// A token that never expires: only when asked for, never by default.
    #[serde(default)]
    never_expires: bool,
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
    // Characters, as the schema's maxLength counts them (not bytes).
    if name.is_empty() || name.chars().count() > MAX_TOKEN_NAME {
        return Err(ServerError::Invalid(format!(
            "a token name of 1 to {MAX_TOKEN_NAME} characters is needed"
        )));
    }
    let now = crate::now();
    let expires = match (body.never_expires, body.expires_in_days) {
        (true, Some(_)) => {
            return Err(ServerError::Invalid(
                "give expires_in_days or never_expires, not both".into(),
            ));
        }
        (true, None) => None,
        (false, Some(days)) if !(1..=3650).contains(&days) => {
            return Err(ServerError::Invalid(
                "expires_in_days must be 1 to 3650".into(),
            ));
        }
        (false, days) => {
            let days = days.unwrap_or(state.token_days).clamp(1, 3650);
            Some(now + i64::from(days) * 86_400)
        }
    };
    let token = new_api_token();
    let (actor, scope) = (principal.user.email.clone(), principal.scope());
    let record = state
        .store
        .create_token_audited(
            &principal.user,
            name,
            role,
            &token_hash(&token),
            expires,
            now,
            Box::new(move |t: &ApiToken| NewAudit {
                tenant_id: scope,
                actor,
                action: "token.create".into(),
                target: format!("token {}", t.id),
                detail: format!("{} as {}", t.name, t.role.as_str()),
                at: t.created_at,
            }),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(NewToken { token, record })))
}

/// A new API token: its secret (shown this once) and its record.
#[derive(Serialize, JsonSchema)]
struct NewToken {
    token: String,
    record: ApiToken,
}

async fn disable(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse> {
    set_disabled(state, principal, UserId(id), true).await
}

async fn enable(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse> {
    set_disabled(state, principal, UserId(id), false).await
}

async fn set_disabled(
    state: AppState,
    principal: Principal,
    id: UserId,
    disabled: bool,
) -> Result<StatusCode> {
    principal.require(Permission::ManageUsers)?;
    // Disabling oneself would lock the last administrator out.
    if disabled && id == principal.user.id {
        return Err(ServerError::Invalid(
            "you cannot disable yourself: ask another administrator".into(),
        ));
    }
    let user = state
        .store
        .user(principal.scope(), id)
        .await?
        .ok_or(ServerError::NotFound)?;
    let (action, detail) = if disabled {
        ("user.disable", "sessions ended")
    } else {
        ("user.enable", "")
    };
    let entry = principal.audit_entry(user.tenant_id, action, format!("user {id}"), detail.into());
    if !state
        .store
        .set_user_disabled_audited(principal.scope(), id, disabled, entry)
        .await?
    {
        return Err(ServerError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn user_tokens(
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
    Ok(Json(
        state.store.tokens_of(principal.scope(), user.id).await?,
    ))
}

async fn own_tokens(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadDevices)?;
    Ok(Json(
        state
            .store
            .tokens_of(principal.scope(), principal.user.id)
            .await?,
    ))
}

async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadDevices)?;
    // Someone else's token is "not found" unless the caller manages users:
    // its existence is not the caller's business.
    let token = state
        .store
        .token(principal.scope(), TokenId(id))
        .await?
        .filter(|t| {
            t.user_id == principal.user.id || principal.role.allows(Permission::ManageUsers)
        })
        .ok_or(ServerError::NotFound)?;
    let entry = principal.audit_entry(
        token.tenant_id,
        "token.revoke",
        format!("token {}", token.id),
        format!("{} of user {}", token.name, token.user_id),
    );
    if !state
        .store
        .delete_token_audited(principal.scope(), token.id, entry)
        .await?
    {
        return Err(ServerError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dummy_hash_costs_a_real_verification() {
        // If it did not parse, unknown e-mails would answer faster.
        assert!(argon2::password_hash::PasswordHash::new(super::DUMMY_HASH).is_ok());
    }
}
