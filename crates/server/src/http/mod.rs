//! The HTTP layer: the agent endpoints (`/agent/v1`) and the REST API
//! (`/api/v1`), both built from one table of [`Endpoint`]s, which also
//! gives the OpenAPI document and the list the tenancy test walks.
//!
//! Rules every handler keeps: check the permission first (a generic 403
//! that says nothing about the object), then read through the caller's
//! scope so that another tenant's object is simply not found (404).

mod agent;
mod agents;
mod auth;
mod billing;
mod channel;
mod client;
mod commands;
mod csv;
mod devices;
mod docs;
mod endpoint;
mod extract;
mod forecasts;
mod intake;
mod limit;
mod pages;
mod reports;
mod second_factor;
mod session;
mod signin;
mod tenants;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use auth::{Credential, Principal};
pub use client::{Client, TlsConnection, TrustedProxies};
pub use endpoint::{Access, Endpoint, openapi};
pub use intake::{Admitted, DEFAULT_ENVELOPE_BUDGET, EnvelopeGate};
pub use limit::{AuditBudget, AuditVerdict, RateLimiter};
pub use session::{
    CSRF_FIELD, CSRF_HEADER, PLAIN_COOKIE, SECURE_COOKIE, SESSION_IDLE_SECS, SESSION_MAX_SECS,
};
pub use users::MIN_PASSWORD_LEN;

use crate::ServerError;
use crate::hashing::HashPool;
use crate::secrets::MasterKey;
use crate::store::DynStore;

/// Largest request body of the REST API.
pub const MAX_API_BODY: usize = 256 * 1024;
/// Largest request body of the endpoints open to anyone (logging in, agent
/// activation): their bodies are a few hundred bytes.
pub const MAX_PUBLIC_BODY: usize = 8 * 1024;
/// Bytes of long-poll hellos being received at once, all agents together.
pub const HELLO_BUDGET: usize = 16 * 1024 * 1024;
/// Lifetime of a new API token when none is asked for.
pub const DEFAULT_TOKEN_DAYS: u32 = 90;
/// Longest e-mail address (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL: usize = 254;
/// Longest password accepted (bytes): hashing cost grows with it.
pub const MAX_PASSWORD: usize = 1024;
/// Failed logins of one client address (any e-mails) in 10 minutes.
pub const MAX_FAILURES_PER_ADDRESS: u32 = 100;
/// Audit entries of failed logins written per client address in 10
/// minutes; the next one written says how many were left out.
pub const MAX_AUDITED_FAILURES: u32 = 20;
/// Failed logins of one account (from anywhere, on any server) after which
/// the account is "under attack" for a while; each address also has the
/// in-memory limits of `AppState::login_limiter` (10 in 10 minutes per
/// e-mail) and `address_limiter`. Under attack, only addresses without a
/// failure on the account may try, or a correct password with a correct
/// second factor passes (see `users::login`): the attackers are slowed,
/// the owner is not locked out.
pub const ACCOUNT_LOGIN_LIMIT: crate::store::LoginPolicy = crate::store::LoginPolicy {
    max_failures: 50,
    window_secs: 15 * 60,
    lockout_secs: 15 * 60,
};
/// How long a PIN stays valid.
pub const PIN_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub master: Arc<MasterKey>,
    /// PIN guesses per client address.
    pub pin_limiter: Arc<RateLimiter>,
    /// Failed logins per client address and e-mail.
    pub login_limiter: Arc<RateLimiter>,
    /// Failed logins per client address, whatever the e-mail.
    pub address_limiter: Arc<RateLimiter>,
    /// Audit entries of failed logins per client address.
    pub login_audit: Arc<AuditBudget>,
    /// Password hashing, off the async workers.
    pub hasher: HashPool,
    /// Envelope bodies being received, not authenticated yet.
    pub envelopes: Arc<EnvelopeGate>,
    /// Long-poll hellos being received, not authenticated yet (a gate of
    /// their own: an agent's uplink and channel send at the same time).
    pub hellos: Arc<EnvelopeGate>,
    /// Lifetime of a new API token when none is asked for (days).
    pub token_days: u32,
    /// Failed logins per account, in the database (all servers).
    pub account_limit: crate::store::LoginPolicy,
    /// Reverse proxies whose forwarding headers are believed.
    pub proxies: Arc<TrustedProxies>,
    /// Wake-ups of the agents' channels held by this process.
    pub hub: Arc<crate::command::ChannelHub>,
    /// The command channel's challenges (a key derived from the master key).
    pub challenges: Arc<crate::command::Challenges>,
    /// How long a long-poll is held when no command waits.
    pub poll_hold: std::time::Duration,
}

impl AppState {
    pub fn new(store: DynStore, master: MasterKey) -> AppState {
        let challenges = crate::command::Challenges::new(master.derive("channel-challenge"));
        AppState {
            store,
            master: Arc::new(master),
            pin_limiter: Arc::new(RateLimiter::new(10, std::time::Duration::from_secs(600))),
            login_limiter: Arc::new(RateLimiter::new(10, std::time::Duration::from_secs(600))),
            address_limiter: Arc::new(RateLimiter::new(
                MAX_FAILURES_PER_ADDRESS,
                std::time::Duration::from_secs(600),
            )),
            login_audit: Arc::new(AuditBudget::new(
                MAX_AUDITED_FAILURES,
                std::time::Duration::from_secs(600),
            )),
            hasher: HashPool::default(),
            envelopes: Arc::new(EnvelopeGate::new(DEFAULT_ENVELOPE_BUDGET)),
            hellos: Arc::new(EnvelopeGate::new(HELLO_BUDGET)),
            token_days: DEFAULT_TOKEN_DAYS,
            account_limit: ACCOUNT_LOGIN_LIMIT,
            proxies: Arc::new(TrustedProxies::default()),
            hub: Arc::new(crate::command::ChannelHub::default()),
            challenges: Arc::new(challenges),
            poll_hold: std::time::Duration::from_secs(printwatch_protocol::channel::POLL_HOLD_SECS),
        }
    }

    /// Another long-poll hold (tests).
    pub fn with_poll_hold(mut self, hold: std::time::Duration) -> AppState {
        self.poll_hold = hold;
        self
    }

    /// Another default lifetime of new API tokens (days, 1 to 3650).
    pub fn with_token_days(mut self, days: u32) -> AppState {
        self.token_days = days.clamp(1, 3650);
        self
    }

    /// Another password hashing pool (tests, benches).
    pub fn with_hasher(mut self, hasher: HashPool) -> AppState {
        self.hasher = hasher;
        self
    }

    /// Another budget of bytes for envelope bodies in flight.
    pub fn with_envelope_budget(mut self, bytes: usize) -> AppState {
        self.envelopes = Arc::new(EnvelopeGate::new(bytes));
        self
    }

    /// Another per-account login limit (tests).
    pub fn with_account_limit(mut self, policy: crate::store::LoginPolicy) -> AppState {
        self.account_limit = policy;
        self
    }

    /// Believe the forwarding headers of peers in these networks.
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> AppState {
        self.proxies = Arc::new(proxies);
        self
    }
}

/// Every endpoint of the server, REST API and agent endpoints alike.
pub fn endpoints() -> Vec<Endpoint> {
    let mut all = endpoint::openapi_endpoints();
    all.extend(users::endpoints());
    all.extend(tenants::endpoints());
    all.extend(agents::endpoints());
    all.extend(commands::endpoints());
    all.extend(devices::endpoints());
    all.extend(reports::endpoints());
    all.extend(billing::endpoints());
    all.extend(forecasts::endpoints());
    all.extend(agent::endpoints());
    all.extend(pages::endpoints());
    all.extend(channel::endpoints());
    all
}

/// The router of [`endpoints`].
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for e in endpoints() {
        router = router.route(e.path, e.route);
    }
    router
        .layer(axum::middleware::from_fn(session::form_csrf))
        .layer(DefaultBodyLimit::max(MAX_API_BODY))
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

/// Headers on every answer: no MIME sniffing, nothing cached (login
/// answers carry tokens), never framed (clickjacking), and HSTS when the
/// client came over HTTPS (directly or through a trusted proxy).
async fn security_headers(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::HeaderValue;
    use axum::http::header;
    let (parts, body) = request.into_parts();
    let https = Client::of(&parts, &state.proxies).https;
    let mut response = next
        .run(axum::extract::Request::from_parts(parts, body))
        .await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Links to other sites (the API reference's, say) tell them nothing.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // A page sets its own (looser only by what it loads); JSON answers
    // load nothing.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// axum's own refusals (a body or query that does not parse, a wrong
/// content type, a body too large) are plain text: answer them as our
/// errors are, `{"error": …}`, so that clients and the OpenAPI document
/// see one shape of error.
async fn json_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !response.status().is_client_error() || !plain {
        return response;
    }
    let status = response.status();
    // Refusal texts are short; a body that cannot be read gets a generic one.
    let text = match axum::body::to_bytes(response.into_body(), 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => "invalid request".to_string(),
    };
    (status, axum::Json(json!({ "error": text }))).into_response()
}

/// The HTTP status of an error, for the API and the portal alike.
pub(crate) fn status_of(error: &ServerError) -> StatusCode {
    use printwatch_protocol::ProtocolError as P;
    match error {
        ServerError::NotFound => StatusCode::NOT_FOUND,
        ServerError::Invalid(_) | ServerError::DatabaseUrl(_) => StatusCode::BAD_REQUEST,
        ServerError::Conflict(_) | ServerError::StaleSequence { .. } => StatusCode::CONFLICT,
        ServerError::Unauthenticated
        | ServerError::TotpRequired
        | ServerError::WrongCredentials
        | ServerError::WrongSecondFactor => StatusCode::UNAUTHORIZED,
        ServerError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ServerError::Forbidden
        | ServerError::CrossSite
        | ServerError::AgentRevoked
        | ServerError::AgentExpired
        | ServerError::SecondFactorRequired
        | ServerError::SessionRequired => StatusCode::FORBIDDEN,
        ServerError::RateLimited | ServerError::EnvelopeInFlight => StatusCode::TOO_MANY_REQUESTS,
        ServerError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        ServerError::Protocol(p) => match p {
            P::NotAuthentic | P::WrongPin | P::NotConfirmed => StatusCode::UNAUTHORIZED,
            P::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        },
        ServerError::Database(sqlx::Error::Database(e))
            if e.kind() == sqlx::error::ErrorKind::UniqueViolation =>
        {
            StatusCode::CONFLICT
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = status_of(&self);
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "request failed");
            "internal error: the server log has the details".to_string()
        } else if status == StatusCode::CONFLICT && matches!(self, ServerError::Database(_)) {
            "conflict: it exists already".to_string()
        } else {
            self.to_string()
        };
        // An agent refused for good is told why, so that it can tell its user.
        let body = match self {
            ServerError::AgentRevoked => json!({ "error": message, "reason": "revoked" }),
            ServerError::AgentExpired => json!({ "error": message, "reason": "expired" }),
            _ => json!({ "error": message }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
        }
        response
    }
}
