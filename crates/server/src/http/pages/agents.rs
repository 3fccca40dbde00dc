//! The agents page: the visible agents with their last contact, version,
//! OS, spool and state; creating one (its activation code shown once, with
//! the command line that activates it), a new code for a pending one,
//! revoking. The work is the API's (`http/agents.rs`): the same store
//! calls, the same audit entries.

use askama::Template;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::response::Redirect;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Frame, PageForm, PagePath, PageQuery, PageResult, PageUser, page, when};
use crate::ServerError;
use crate::http::agents::{AgentPin, CreateAgent, create_agent, new_agent_pin, revoke_agent};
use crate::http::client::Client;
use crate::http::{Access, AppState, Endpoint};
use crate::ids::AgentId;
use crate::model::{AgentStatus, AgentView, Permission};

pub(super) fn endpoints() -> Vec<Endpoint> {
    use Permission::ManageAgents;
    vec![
        Endpoint::new(
            Method::GET,
            "/agents",
            "The portal's agents (?status=online|offline|pending|revoked|expired) and the form \
             that creates one",
            Access::User(ManageAgents),
            get(list),
        )
        .document("text/html"),
        Endpoint::new(
            Method::POST,
            "/agents",
            "Create an agent (a form: tenant_id, name, site_id, csrf_token): its activation \
             code, shown once",
            Access::User(ManageAgents),
            post(create),
        )
        .document("text/html"),
        Endpoint::new(
            Method::POST,
            "/agents/{agent_id}/code",
            "A new activation code for a pending agent (a form with the csrf_token), shown once",
            Access::User(ManageAgents),
            post(new_code),
        )
        .document("text/html"),
        Endpoint::new(
            Method::POST,
            "/agents/{agent_id}/revoke",
            "Revoke an agent (a form with the csrf_token): back to the list",
            Access::User(ManageAgents),
            post(revoke),
        )
        .document("text/html"),
    ]
}

#[derive(Deserialize)]
struct StatusQuery {
    #[serde(default)]
    status: Option<String>,
}

struct Row {
    id: i64,
    name: String,
    customer: String,
    site: String,
    status: &'static str,
    last_contact: String,
    version: String,
    os: String,
    hostname: String,
    spool_records: String,
    devices: String,
    pending: bool,
    revoked: bool,
}

struct Choice {
    id: i64,
    label: String,
}

#[derive(Template)]
#[template(path = "agents.html")]
struct AgentsPage {
    frame: Frame,
    status: String,
    rows: Vec<Row>,
    customers: Vec<Choice>,
    sites: Vec<Choice>,
    error: String,
}

#[derive(Template)]
#[template(path = "agent_code.html")]
struct CodePage {
    frame: Frame,
    name: String,
    customer: String,
    code: String,
    expires: String,
    command: String,
}

fn status_word(status: AgentStatus) -> &'static str {
    match status {
        AgentStatus::Online => "online",
        AgentStatus::Offline => "offline",
        AgentStatus::Pending => "pending",
        AgentStatus::Revoked => "revoked",
        AgentStatus::Expired => "expired",
    }
}

fn or_dash(value: Option<String>) -> String {
    value
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "—".into())
}

/// The list, filtered by `status` (anything else: all), with the form.
async fn render_list(
    state: &AppState,
    mut user: PageUser,
    status: &str,
    error: String,
    code: StatusCode,
) -> PageResult {
    let principal = &user.principal;
    principal.require(Permission::ManageAgents)?;
    let scope = principal.scope();
    let tenants = state.store.tenants(scope).await?;
    let sites = state.store.sites(scope).await?;
    let tenant_name = |id| {
        tenants
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    };
    let now = crate::now();
    let status = match status {
        "online" | "offline" | "pending" | "revoked" | "expired" => status,
        _ => "",
    };
    let rows = state
        .store
        .agents(scope)
        .await?
        .into_iter()
        .map(|a| AgentView::at(a, now))
        .filter(|v| status.is_empty() || status_word(v.status) == status)
        .map(|v| {
            let a = v.agent;
            Row {
                id: a.id.0,
                customer: tenant_name(a.tenant_id),
                site: a
                    .site_id
                    .and_then(|s| sites.iter().find(|x| x.id == s))
                    .map(|s| s.name.clone())
                    .unwrap_or_default(),
                status: status_word(v.status),
                last_contact: a.last_seen_at.map(when).unwrap_or_else(|| "never".into()),
                version: or_dash(a.agent_version),
                os: or_dash(a.os),
                hostname: or_dash(a.hostname),
                spool_records: or_dash(a.health.spool_records.map(|n| n.to_string())),
                devices: or_dash(a.health.devices.map(|n| n.to_string())),
                pending: v.status == AgentStatus::Pending,
                revoked: v.status == AgentStatus::Revoked,
                name: a.name,
            }
        })
        .collect();
    let customers = tenants
        .iter()
        .map(|t| Choice {
            id: t.id.0,
            label: t.name.clone(),
        })
        .collect();
    let sites = sites
        .iter()
        .map(|s| Choice {
            id: s.id.0,
            label: format!("{} — {}", tenant_name(s.tenant_id), s.name),
        })
        .collect();
    user.frame.current = "agents";
    Ok(page(
        code,
        &AgentsPage {
            frame: user.frame,
            status: status.to_string(),
            rows,
            customers,
            sites,
            error,
        },
    ))
}

async fn list(
    State(state): State<AppState>,
    user: PageUser,
    PageQuery(q): PageQuery<StatusQuery>,
) -> PageResult {
    let status = q.status.unwrap_or_default();
    render_list(&state, user, status.trim(), String::new(), StatusCode::OK).await
}

/// The form's fields, as text: a form sends empty fields, not none.
#[derive(Deserialize)]
struct NewAgentForm {
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    site_id: String,
}

fn number(field: &str, text: &str) -> Result<Option<i64>, ServerError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ServerError::Invalid(format!("{field} must be a number")))
}

/// The server's own origin, as the agent will reach it.
fn server_url(client: &Client) -> String {
    client
        .origin()
        // HTTP/1.1 always names the host: this is for the odd client.
        .unwrap_or_else(|| "URL".into())
}

fn code_page(user: PageUser, pin: AgentPin, customer: String, client: &Client) -> PageResult {
    let command = format!(
        "printwatch agent activate --server {} --code {}",
        server_url(client),
        pin.activation_code
    );
    let mut frame = user.frame;
    frame.current = "agents";
    Ok(page(
        StatusCode::OK,
        &CodePage {
            frame,
            name: pin.agent.agent.name.clone(),
            customer,
            code: pin.activation_code,
            expires: pin.agent.agent.pin_expires_at.map(when).unwrap_or_default(),
            command,
        },
    ))
}

async fn customer_of(
    state: &AppState,
    user: &PageUser,
    pin: &AgentPin,
) -> Result<String, ServerError> {
    Ok(state
        .store
        .tenant(user.principal.scope(), pin.agent.agent.tenant_id)
        .await?
        .map(|t| t.name)
        .unwrap_or_default())
}

async fn create(
    State(state): State<AppState>,
    user: PageUser,
    client: Client,
    PageForm(form): PageForm<NewAgentForm>,
) -> PageResult {
    user.principal.require(Permission::ManageAgents)?;
    let parsed = number("tenant_id", &form.tenant_id).and_then(|tenant| {
        let tenant = tenant.ok_or_else(|| ServerError::Invalid("choose the customer".into()))?;
        Ok((tenant, number("site_id", &form.site_id)?))
    });
    let (tenant_id, site_id) = match parsed {
        Ok(ids) => ids,
        Err(ServerError::Invalid(why)) => {
            return render_list(&state, user, "", why, StatusCode::BAD_REQUEST).await;
        }
        Err(other) => return Err(other.into()),
    };
    // A site of another customer than the chosen one: the form again (the
    // same words for a site that is not visible or does not exist).
    if let Some(site) = site_id {
        let fits = state
            .store
            .sites(user.principal.scope())
            .await?
            .iter()
            .any(|s| s.id.0 == site && s.tenant_id.0 == tenant_id);
        if !fits {
            let why = "That site is not the chosen customer's: choose one of its sites, or none.";
            return render_list(&state, user, "", why.into(), StatusCode::BAD_REQUEST).await;
        }
    }
    let body = CreateAgent {
        tenant_id,
        name: form.name,
        site_id,
        expires_at: None,
    };
    let pin = match create_agent(&state, &user.principal, body).await {
        Ok(pin) => pin,
        // A name that will not do: the form again, with why.
        Err(ServerError::Invalid(why)) => {
            return render_list(&state, user, "", why, StatusCode::BAD_REQUEST).await;
        }
        Err(other) => return Err(other.into()),
    };
    let customer = customer_of(&state, &user, &pin).await?;
    code_page(user, pin, customer, &client)
}

async fn new_code(
    State(state): State<AppState>,
    user: PageUser,
    client: Client,
    PagePath(id): PagePath<i64>,
) -> PageResult {
    let pin = new_agent_pin(&state, &user.principal, AgentId(id)).await?;
    let customer = customer_of(&state, &user, &pin).await?;
    code_page(user, pin, customer, &client)
}

async fn revoke(
    State(state): State<AppState>,
    user: PageUser,
    PagePath(id): PagePath<i64>,
) -> PageResult {
    revoke_agent(&state, &user.principal, AgentId(id)).await?;
    Ok(Redirect::to("/agents").into_response())
}
