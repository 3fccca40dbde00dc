//! Agents as administrators see them: create (with a one-time PIN), list,
//! show (with their health and `online`/`status`), new PIN, the
//! configuration pushed to them, revoke.

use super::extract::Json;
use super::extract::Path;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use printwatch_protocol::activation::{ActivationCode, Pin, PinVerifier};
use printwatch_protocol::config::AgentConfig;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::tenants::MAX_NAME;
use super::{Access, AppState, Endpoint, PIN_LIFETIME_SECS, Principal};
use crate::ids::{AgentId, SiteId, TenantId};
use crate::ingest::{format_time, parse_time};
use crate::model::{
    Agent, AgentConfigView, AgentView, NewAgent, NewAudit, Permission, check_pushed_config,
    config_context, masked_config, pushed_config_from_json,
};
use crate::store::{AuditWith, SealWith};
use crate::{Result, ServerError};

pub(super) fn endpoints() -> Vec<Endpoint> {
    use Permission::*;
    vec![
        Endpoint::new(
            Method::GET,
            "/api/v1/agents",
            "Agents of the visible tenants, with their last heartbeat and status \
             (offline: silent for three heartbeat intervals)",
            Access::User(ManageAgents),
            get(list),
        )
        .returns::<Vec<AgentView>>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/agents",
            "Create an agent; answers its one-time activation code",
            Access::User(ManageAgents),
            post(create),
        )
        .body::<CreateAgent>()
        .creates::<AgentPin>(),
        Endpoint::new(
            Method::GET,
            "/api/v1/agents/{agent_id}",
            "One agent, with its last heartbeat and status",
            Access::User(ManageAgents),
            get(show),
        )
        .returns::<AgentView>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/agents/{agent_id}/pin",
            "A new activation code for a pending agent",
            Access::User(ManageAgents),
            post(new_pin),
        )
        .returns::<AgentPin>(),
        Endpoint::new(
            Method::PUT,
            "/api/v1/agents/{agent_id}/config",
            "Push a configuration to an agent (the file's keys as JSON, [uplink] excepted); \
             it arrives with the agent's next heartbeat",
            Access::User(ManageAgents),
            put(set_config),
        )
        .body::<AgentConfig>()
        .returns::<AgentConfigView>(),
        Endpoint::new(
            Method::GET,
            "/api/v1/agents/{agent_id}/config",
            "The configuration pushed to an agent (communities and passwords masked)",
            Access::User(ManageAgents),
            get(show_config),
        )
        .returns::<AgentConfigView>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/agents/{agent_id}/revoke",
            "Revoke an agent: every later submission is rejected",
            Access::User(ManageAgents),
            post(revoke),
        )
        .no_content(),
    ]
}

async fn list(State(state): State<AppState>, principal: Principal) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageAgents)?;
    let now = crate::now();
    let agents = state.store.agents(principal.scope()).await?;
    let views: Vec<AgentView> = agents.into_iter().map(|a| AgentView::at(a, now)).collect();
    Ok(Json(views))
}

async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageAgents)?;
    let agent = state
        .store
        .agent(principal.scope(), AgentId(id))
        .await?
        .ok_or(ServerError::NotFound)?;
    Ok(Json(AgentView::at(agent, crate::now())))
}

async fn set_config(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Json(body): Json<serde_json::Value>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageAgents)?;
    let agent = state
        .store
        .agent(principal.scope(), AgentId(id))
        .await?
        .ok_or(ServerError::NotFound)?;
    // Read by hand (the body is documented as `AgentConfig`): see
    // `pushed_config_from_json`.
    let config = pushed_config_from_json(body)?;
    check_pushed_config(&config)?;
    let json = serde_json::to_vec(&config)
        .map_err(|e| ServerError::Invalid(format!("configuration: {e}")))?;
    let master = state.master.clone();
    let seal: SealWith =
        Box::new(move |version| master.seal(&config_context(agent.id, version), &json));
    let (tenant, target) = (agent.tenant_id, format!("agent {}", agent.id));
    let entry = principal.audit_entry(tenant, "agent.configure", target, String::new());
    let audit: AuditWith<i64> = Box::new(move |version| NewAudit {
        detail: format!("version {version}"),
        ..entry
    });
    let now = crate::now();
    let Some(version) = state
        .store
        .set_agent_config_audited(principal.scope(), agent.id, seal, audit, now)
        .await?
    else {
        return Err(ServerError::Conflict(
            "the agent is revoked: it takes no configuration".into(),
        ));
    };
    Ok(Json(AgentConfigView {
        agent_id: agent.id,
        version,
        updated_at: Some(now),
        config: Some(masked_config(&config)),
    }))
}

async fn show_config(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageAgents)?;
    let agent = AgentId(id);
    let stored = state
        .store
        .agent_config(principal.scope(), agent)
        .await?
        .ok_or(ServerError::NotFound)?;
    let config = match &stored.sealed {
        Some(sealed) => {
            let json = state
                .master
                .open(&config_context(agent, stored.version), sealed)?;
            let config: AgentConfig = serde_json::from_slice(&json).map_err(|e| {
                ServerError::Corrupt(format!("pushed configuration of agent {agent}: {e}"))
            })?;
            Some(masked_config(&config))
        }
        None => None,
    };
    Ok(Json(AgentConfigView {
        agent_id: agent,
        version: stored.version,
        updated_at: stored.updated_at,
        config,
    }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateAgent {
    pub tenant_id: i64,
    #[schemars(length(min = 1, max = MAX_NAME), regex(pattern = r"\S"))]
    pub name: String,
    #[serde(default)]
    pub site_id: Option<i64>,
    /// RFC 3339; after it the agent's submissions are rejected.
    #[serde(default)]
    #[schemars(extend("format" = "date-time"))]
    pub expires_at: Option<String>,
}

/// Make a PIN, store its verifier, answer the code (shown once).
/// A new PIN for `agent`; `audit` is written in the same transaction.
async fn issue_pin(
    state: &AppState,
    principal: &Principal,
    agent: &Agent,
    audit: NewAudit,
) -> Result<AgentPin> {
    let pin = Pin::generate(&mut rand::rngs::OsRng);
    let code = ActivationCode {
        agent_id: agent.id,
        pin,
    };
    let for_kdf = code.clone();
    let verifier =
        tokio::task::spawn_blocking(move || PinVerifier::derive(for_kdf.agent_id, &for_kdf.pin))
            .await
            .map_err(|e| ServerError::Invalid(format!("PIN derivation stopped: {e}")))??;
    let expires = crate::now() + PIN_LIFETIME_SECS;
    if !state
        .store
        .set_pin_audited(
            principal.scope(),
            agent.id,
            verifier.expose(),
            expires,
            audit,
        )
        .await?
    {
        return Err(ServerError::Conflict(
            "the agent is not pending: revoke it and create a new one".into(),
        ));
    }
    // The answer shows the agent as stored now, PIN expiry included.
    let agent = Agent {
        pin_expires_at: Some(expires),
        ..agent.clone()
    };
    Ok(AgentPin {
        agent: AgentView::at(agent, crate::now()),
        activation_code: code.reveal(),
        activation_code_expires_at: format_time(expires),
    })
}

/// An agent and its one-time activation code (shown once).
#[derive(Serialize, JsonSchema)]
pub(super) struct AgentPin {
    pub agent: AgentView,
    pub activation_code: String,
    /// RFC 3339.
    pub activation_code_expires_at: String,
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateAgent>,
) -> Result<impl IntoResponse> {
    let answer = create_agent(&state, &principal, body).await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Create an agent in a visible tenant (and site) and issue its first
/// activation code, audited as `agent.create`: the API's and the portal's.
pub(super) async fn create_agent(
    state: &AppState,
    principal: &Principal,
    body: CreateAgent,
) -> Result<AgentPin> {
    principal.require(Permission::ManageAgents)?;
    let tenant = state
        .store
        .tenant(principal.scope(), TenantId(body.tenant_id))
        .await?
        .ok_or(ServerError::NotFound)?;
    let site = match body.site_id {
        Some(id) => Some(
            state
                .store
                .site(principal.scope(), SiteId(id))
                .await?
                .filter(|s| s.tenant_id == tenant.id)
                .ok_or(ServerError::NotFound)?
                .id,
        ),
        None => None,
    };
    let expires_at = match &body.expires_at {
        Some(t) => Some(parse_time(t).ok_or_else(|| {
            ServerError::Invalid("expires_at must be RFC 3339, e.g. 2026-12-31T00:00:00Z".into())
        })?),
        None => None,
    };
    let name = super::tenants::check_name(&body.name)?;
    let agent = state
        .store
        .create_agent(
            NewAgent {
                tenant_id: tenant.id,
                site_id: site,
                name: name.to_owned(),
                pin_verifier: None,
                pin_expires_at: 0,
                expires_at,
            },
            crate::now(),
        )
        .await?;
    // The entry commits with the agent's PIN (the agent row itself is
    // written just before, without a PIN it cannot be used).
    let entry = principal.audit_entry(
        tenant.id,
        "agent.create",
        format!("agent {}", agent.id),
        agent.name.clone(),
    );
    issue_pin(state, principal, &agent, entry).await
}

async fn new_pin(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse> {
    Ok(Json(new_agent_pin(&state, &principal, AgentId(id)).await?))
}

/// A new activation code for a visible pending agent, audited as
/// `agent.new_pin`: the API's and the portal's.
pub(super) async fn new_agent_pin(
    state: &AppState,
    principal: &Principal,
    id: AgentId,
) -> Result<AgentPin> {
    principal.require(Permission::ManageAgents)?;
    let agent = state
        .store
        .agent(principal.scope(), id)
        .await?
        .ok_or(ServerError::NotFound)?;
    let entry = principal.audit_entry(
        agent.tenant_id,
        "agent.new_pin",
        format!("agent {}", agent.id),
        String::new(),
    );
    issue_pin(state, principal, &agent, entry).await
}

async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse> {
    revoke_agent(&state, &principal, AgentId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke a visible agent, audited as `agent.revoke`: the API's and the
/// portal's.
pub(super) async fn revoke_agent(
    state: &AppState,
    principal: &Principal,
    id: AgentId,
) -> Result<()> {
    principal.require(Permission::ManageAgents)?;
    let agent = state
        .store
        .agent(principal.scope(), id)
        .await?
        .ok_or(ServerError::NotFound)?;
    let entry = principal.audit_entry(
        agent.tenant_id,
        "agent.revoke",
        format!("agent {}", agent.id),
        agent.name.clone(),
    );
    if !state
        .store
        .revoke_agent_audited(principal.scope(), agent.id, entry)
        .await?
    {
        return Err(ServerError::NotFound);
    }
    Ok(())
}
