//! Commands to agents through the REST API (PRODUCT.md, "Agent commands
//! through the REST API"): issue one, list them with their state and
//! result. What is stored when: [`crate::command`].

use super::extract::Json;
use super::extract::Path;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;

use super::{Access, AppState, Endpoint, Principal};
use crate::command::{CommandArgs, CommandRecord, CommandToStore, DEFAULT_EXPIRY_SECS, NewCommand};
use crate::ids::AgentId;
use crate::model::{
    NewAudit, Permission, check_pushed_config, config_context, pushed_config_from_json,
};
use crate::store::{AuditWith, SealWith};
use crate::{Result, ServerError};

/// Commands listed (newest first).
const LIST_LIMIT: i64 = 500;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::POST,
            "/api/v1/agents/{agent_id}/commands",
            "Issue a command to an agent (scan_now, collect_now, configure, deactivate): \
             stored, delivered when the agent is connected or at its next connection, \
             answered with a result; expires after 7 days",
            Access::User(Permission::ManageAgents),
            axum::routing::post(issue),
        )
        .body::<NewCommand>()
        .creates::<CommandRecord>(),
        Endpoint::new(
            Method::GET,
            "/api/v1/agents/{agent_id}/commands",
            "An agent's commands, newest first, with their state (queued, delivered, done, \
             failed, expired) and result",
            Access::User(Permission::ManageAgents),
            get(list),
        )
        .returns::<Vec<CommandRecord>>(),
    ]
}

async fn issue(
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
    let command = NewCommand::from_json(body)?;
    let now = crate::now();
    let revoked = || ServerError::Conflict("the agent is revoked: it takes no commands".into());
    let mut args = CommandArgs::default();
    match &command {
        NewCommand::ScanNow | NewCommand::Deactivate => {}
        NewCommand::CollectNow { target } => {
            let target = target.trim();
            if target.is_empty()
                || target.len() > printwatch_protocol::channel::MAX_TARGET
                || target.chars().any(char::is_control)
            {
                return Err(ServerError::Invalid(
                    "collect_now: target must be HOST, HOST:PORT or [IPv6]:PORT".into(),
                ));
            }
            args.target = Some(target.to_owned());
        }
        NewCommand::Configure { config } => {
            // Checked and stored as `PUT …/config` does; the command names
            // the version (the text holds secrets and stays sealed).
            let config = pushed_config_from_json(config.clone())?;
            check_pushed_config(&config)?;
            let json = serde_json::to_vec(&config)
                .map_err(|e| ServerError::Invalid(format!("configuration: {e}")))?;
            let master = state.master.clone();
            let seal: SealWith =
                Box::new(move |version| master.seal(&config_context(agent.id, version), &json));
            let entry = principal.audit_entry(
                agent.tenant_id,
                "agent.configure",
                format!("agent {}", agent.id),
                String::new(),
            );
            let audit: AuditWith<i64> = Box::new(move |version| NewAudit {
                detail: format!("version {version}, by command"),
                ..entry
            });
            let version = state
                .store
                .set_agent_config_audited(principal.scope(), agent.id, seal, audit, now)
                .await?
                .ok_or_else(revoked)?;
            args.config_version = Some(version);
        }
    }
    let kind = command.kind();
    let entry = principal.audit_entry(
        agent.tenant_id,
        "agent.command",
        format!("agent {}", agent.id),
        String::new(),
    );
    let audit: AuditWith<CommandRecord> = Box::new(move |c| NewAudit {
        detail: format!("{} (command {})", c.kind, c.id),
        ..entry
    });
    let created = state
        .store
        .create_command_audited(
            CommandToStore {
                agent_id: agent.id,
                tenant_id: agent.tenant_id,
                kind,
                args,
                issued_by: principal.user.email.clone(),
                expires_at: now.saturating_add(DEFAULT_EXPIRY_SECS),
            },
            audit,
            now,
        )
        .await?
        .ok_or_else(revoked)?;
    state.hub.wake(agent.id);
    tracing::info!(agent = %agent.id, command = %created.id, kind, "command issued");
    Ok((StatusCode::CREATED, Json(created)))
}

async fn list(
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
    let commands = state
        .store
        .commands(principal.scope(), agent.id, LIST_LIMIT, crate::now())
        .await?;
    Ok(Json(commands))
}
