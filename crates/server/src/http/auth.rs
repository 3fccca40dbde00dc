//! Who is calling: API tokens (`Authorization: Bearer pwt_…`), the client
//! address for rate limits, and the audit helper.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use crate::ids::{TenantId, TokenId, UserId};
use crate::model::{NewAudit, Permission, Role, User};
use crate::secrets::{TOKEN_PREFIX, token_hash};
use crate::{Result, ServerError};

/// An authenticated user, with the role of the token it used (never more
/// than the user's own role).
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: User,
    pub role: Role,
    pub token: TokenId,
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

/// The weaker of two roles.
pub fn weaker(a: Role, b: Role) -> Role {
    a.max(b)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.starts_with(TOKEN_PREFIX) && t.len() < 256)
            .ok_or(ServerError::Unauthenticated)?;
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
            token: tok.id,
        })
    }
}

/// The client's address, when the server knows it (for rate limits).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    pub fn key(&self) -> String {
        self.0
            .map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}
