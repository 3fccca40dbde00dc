//! Who is calling: API tokens (`Authorization: Bearer pwt_…`) or a web
//! portal session cookie (with its CSRF rules, see [`super::session`]),
//! the client address for rate limits, and the audit helper.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use super::client::Client;
use super::session;
use crate::ids::{SessionId, TenantId, TokenId, UserId};
use crate::model::{NewAudit, Permission, Role, User};
use crate::secrets::{TOKEN_PREFIX, token_hash};
use crate::{Result, ServerError};

/// An authenticated user, with the role of the token it used (never more
/// than the user's own role).
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: User,
    pub role: Role,
    pub via: Credential,
}

/// What the caller authenticated with.
#[derive(Clone)]
pub enum Credential {
    Token(TokenId),
    /// A session cookie, and the session's CSRF token (for GET /api/v1/session).
    Session {
        id: SessionId,
        csrf: String,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Token(id) => write!(f, "Token({id})"),
            Credential::Session { id, .. } => write!(f, "Session({id})"),
        }
    }
}

impl Principal {
    /// A generic 403 unless the role has `permission`. Called before any
    /// object is looked up, so it says nothing about objects.
    pub fn require(&self, permission: Permission) -> Result<()> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            Err(ServerError::Forbidden)
        }
    }

    /// The tenant whose data (and whose customers' data) the caller sees.
    pub fn scope(&self) -> TenantId {
        self.user.tenant_id
    }

    /// Viewers see only the device groups granted to them.
    pub fn granted_to(&self) -> Option<UserId> {
        (self.role == Role::Viewer).then_some(self.user.id)
    }

    /// The audit entry of an administrative action by this caller, for a
    /// store method that writes it in the action's own transaction.
    pub fn audit_entry(
        &self,
        tenant: TenantId,
        action: &str,
        target: String,
        detail: String,
    ) -> NewAudit {
        NewAudit {
            tenant_id: tenant,
            actor: self.user.email.clone(),
            action: action.to_owned(),
            target,
            detail,
            at: crate::now(),
        }
    }

    /// Write an audit entry for an administrative action.
    pub async fn audit(
        &self,
        state: &AppState,
        tenant: TenantId,
        action: &str,
        target: String,
        detail: String,
    ) -> Result<()> {
        state
            .store
            .audit(NewAudit {
                tenant_id: tenant,
                actor: self.user.email.clone(),
                action: action.to_owned(),
                target,
                detail,
                at: crate::now(),
            })
            .await
    }
}

/// The header of a fresh second-factor code, for dangerous actions.
pub const SECOND_FACTOR_HEADER: &str = "x-second-factor";

impl Principal {
    /// Dangerous actions (deleting a tenant, creating a provider
    /// administrator, resetting someone's second factor) need a current TOTP
    /// code of the caller in `X-Second-Factor`, whatever the credential: a
    /// stolen token or session alone cannot do them. A caller without a
    /// second factor is refused until one is enrolled.
    pub async fn fresh_second_factor(
        &self,
        state: &AppState,
        headers: &axum::http::HeaderMap,
    ) -> Result<()> {
        let code = headers
            .get(SECOND_FACTOR_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(ServerError::SecondFactorRequired)?;
        let enrolled = state
            .store
            .totp_state(self.user.id)
            .await?
            .and_then(|t| t.sealed.map(|s| (s, t.last_step)))
            .ok_or(ServerError::SecondFactorRequired)?;
        if super::signin::check_totp(state, self.user.id, &enrolled.0, enrolled.1, code).await? {
            Ok(())
        } else {
            Err(ServerError::SecondFactorRequired)
        }
    }

    /// The session the caller used; a token is refused.
    pub fn require_session(&self) -> Result<SessionId> {
        match self.via {
            Credential::Session { id, .. } => Ok(id),
            Credential::Token(_) => Err(ServerError::SessionRequired),
        }
    }
}

/// The weaker of two roles.
pub fn weaker(a: Role, b: Role) -> Role {
    a.max(b)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        // An Authorization header is always a token (browsers never add one
        // by themselves): a bad one is refused, not replaced by a cookie.
        if let Some(header) = parts.headers.get(AUTHORIZATION) {
            let token = header
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| t.starts_with(TOKEN_PREFIX) && t.len() < 256)
                .ok_or(ServerError::Unauthenticated)?;
            return token_principal(state, token).await;
        }
        let client = Client::of(parts, &state.proxies);
        let secret = session::session_secret(&parts.headers, client.https)
            .ok_or(ServerError::Unauthenticated)?;
        let (found, user) = state
            .store
            .session_by_hash(&token_hash(secret))
            .await?
            .ok_or(ServerError::Unauthenticated)?;
        let now = crate::now();
        if found.expired(now, session::SESSION_IDLE_SECS, session::SESSION_MAX_SECS) {
            state.store.delete_session(found.id).await?;
            return Err(ServerError::Unauthenticated);
        }
        // Disabling deletes sessions; this also covers a race with it.
        if user.disabled {
            return Err(ServerError::Unauthenticated);
        }
        session::check_csrf(parts, &client, secret)?;
        if now - found.last_seen_at >= session::TOUCH_AFTER_SECS {
            state.store.touch_session(found.id, now).await?;
        }
        Ok(Principal {
            role: user.role,
            user,
            via: Credential::Session {
                id: found.id,
                csrf: session::csrf_token(secret),
            },
        })
    }
}

async fn token_principal(state: &AppState, token: &str) -> Result<Principal> {
    let (tok, user) = state
        .store
        .token_by_hash(&token_hash(token))
        .await?
        .ok_or(ServerError::Unauthenticated)?;
    if user.disabled || tok.expires_at.is_some_and(|e| crate::now() >= e) {
        return Err(ServerError::Unauthenticated);
    }
    Ok(Principal {
        role: weaker(tok.role, user.role),
        user,
        via: Credential::Token(tok.id),
    })
}

/// The client's address, when the server knows it (for rate limits): the
/// TCP peer, or the client a trusted reverse proxy names.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    pub fn key(&self) -> String {
        self.0
            .map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(Client::of(parts, &state.proxies).addr))
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Client::of(parts, &state.proxies))
    }
}
