//! Tenants (a provider and its customers), sites, device groups and grants.

use super::extract::Json;
use super::extract::Path;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{Access, AppState, Endpoint, Principal};
use crate::ids::{DeviceId, GroupId, TenantId, UserId};
use crate::model::{Group, Permission, Site, Tenant, TenantKind};
use crate::{Result, ServerError};

pub(super) fn endpoints() -> Vec<Endpoint> {
    use Permission::*;
    vec![
        Endpoint::new(
            Method::GET,
            "/api/v1/tenants",
            "The caller's tenant and its customers",
            Access::User(ReadDevices),
            get(list),
        )
        .returns::<Vec<Tenant>>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/tenants",
            "Create a customer of the caller's provider tenant",
            Access::User(ManageTenants),
            post(create),
        )
        .body::<Named>()
        .creates::<Tenant>(),
        Endpoint::new(
            Method::GET,
            "/api/v1/tenants/{tenant_id}",
            "One tenant",
            Access::User(ReadDevices),
            get(show),
        )
        .returns::<Tenant>(),
        Endpoint::new(
            Method::DELETE,
            "/api/v1/tenants/{tenant_id}",
            "Delete a customer and all its data; needs the caller's fresh second factor (X-Second-Factor)",
            Access::User(ManageTenants),
            delete(remove),
        )
        .second_factor()
        .no_content(),
        Endpoint::new(
            Method::GET,
            "/api/v1/sites",
            "Sites of the visible tenants",
            Access::User(ReadDevices),
            get(sites),
        )
        .returns::<Vec<Site>>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/sites",
            "Create a site",
            Access::User(ManageTenants),
            post(create_site),
        )
        .body::<InTenant>()
        .creates::<Site>(),
        Endpoint::new(
            Method::GET,
            "/api/v1/groups",
            "Device groups of the visible tenants",
            Access::User(ManageUsers),
            get(groups),
        )
        .returns::<Vec<Group>>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/groups",
            "Create a device group",
            Access::User(ManageUsers),
            post(create_group),
        )
        .body::<InTenant>()
        .creates::<Group>(),
        Endpoint::new(
            Method::POST,
            "/api/v1/groups/{group_id}/devices",
            "Add a device to a group",
            Access::User(ManageUsers),
            post(add_device),
        )
        .body::<DeviceRef>()
        .no_content(),
        Endpoint::new(
            Method::POST,
            "/api/v1/groups/{group_id}/grants",
            "Grant a group to a user",
            Access::User(ManageUsers),
            post(grant),
        )
        .body::<UserRef>()
        .no_content(),
    ]
}

async fn list(State(state): State<AppState>, principal: Principal) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadDevices)?;
    Ok(Json(state.store.tenants(principal.scope()).await?))
}

async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadDevices)?;
    let tenant = state
        .store
        .tenant(principal.scope(), TenantId(id))
        .await?
        .ok_or(ServerError::NotFound)?;
    Ok(Json(tenant))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Named {
    #[schemars(length(min = 1, max = MAX_NAME), regex(pattern = r"\S"))]
    name: String,
}

/// Longest name of a tenant, site, group or agent (characters, trimmed).
pub(super) const MAX_NAME: usize = 200;

pub(super) fn check_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ServerError::Invalid(format!(
            "a name of 1 to {MAX_NAME} characters is needed"
        )));
    }
    Ok(name)
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<Named>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageTenants)?;
    let own = state
        .store
        .tenant(principal.scope(), principal.scope())
        .await?
        .ok_or(ServerError::NotFound)?;
    if own.kind != TenantKind::Provider {
        return Err(ServerError::Forbidden);
    }
    let tenant = state
        .store
        .create_tenant(
            Some(own.id),
            TenantKind::Customer,
            check_name(&body.name)?,
            crate::now(),
        )
        .await?;
    principal
        .audit(
            &state,
            own.id,
            "tenant.create",
            format!("tenant {}", tenant.id),
            tenant.name.clone(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    headers: axum::http::HeaderMap,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageTenants)?;
    let tenant = state
        .store
        .tenant(principal.scope(), TenantId(id))
        .await?
        .ok_or(ServerError::NotFound)?;
    if tenant.id == principal.scope() {
        return Err(ServerError::Invalid("a tenant cannot delete itself".into()));
    }
    principal.fresh_second_factor(&state, &headers).await?;
    state.store.delete_tenant(tenant.id).await?;
    principal
        .audit(
            &state,
            principal.scope(),
            "tenant.delete",
            format!("tenant {}", tenant.id),
            tenant.name,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct InTenant {
    tenant_id: i64,
    #[schemars(length(min = 1, max = MAX_NAME), regex(pattern = r"\S"))]
    name: String,
}

async fn sites(State(state): State<AppState>, principal: Principal) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadDevices)?;
    Ok(Json(state.store.sites(principal.scope()).await?))
}

async fn create_site(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<InTenant>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageTenants)?;
    let tenant = state
        .store
        .tenant(principal.scope(), TenantId(body.tenant_id))
        .await?
        .ok_or(ServerError::NotFound)?;
    let site = state
        .store
        .create_site(tenant.id, check_name(&body.name)?)
        .await?;
    principal
        .audit(
            &state,
            tenant.id,
            "site.create",
            format!("site {}", site.id),
            site.name.clone(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(site)))
}

async fn groups(State(state): State<AppState>, principal: Principal) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageUsers)?;
    Ok(Json(state.store.groups(principal.scope()).await?))
}

async fn create_group(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<InTenant>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageUsers)?;
    let tenant = state
        .store
        .tenant(principal.scope(), TenantId(body.tenant_id))
        .await?
        .ok_or(ServerError::NotFound)?;
    let group = state
        .store
        .create_group(tenant.id, check_name(&body.name)?)
        .await?;
    principal
        .audit(
            &state,
            tenant.id,
            "group.create",
            format!("group {}", group.id),
            group.name.clone(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(group)))
}

async fn visible_group(state: &AppState, principal: &Principal, id: i64) -> Result<Group> {
    state
        .store
        .groups(principal.scope())
        .await?
        .into_iter()
        .find(|g| g.id == GroupId(id))
        .ok_or(ServerError::NotFound)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeviceRef {
    device_id: i64,
}

async fn add_device(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Json(body): Json<DeviceRef>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageUsers)?;
    let group = visible_group(&state, &principal, id).await?;
    let device = state
        .store
        .device(principal.scope(), DeviceId(body.device_id))
        .await?
        .filter(|d| d.tenant_id == group.tenant_id)
        .ok_or(ServerError::NotFound)?;
    state.store.add_to_group(group.id, device.id).await?;
    principal
        .audit(
            &state,
            group.tenant_id,
            "group.add_device",
            format!("group {}", group.id),
            format!("device {}", device.id),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct UserRef {
    user_id: i64,
}

async fn grant(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Json(body): Json<UserRef>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageUsers)?;
    let group = visible_group(&state, &principal, id).await?;
    // Only a user of the group's own tenant: one customer's devices are
    // never granted to another customer's user.
    let user = state
        .store
        .user(principal.scope(), UserId(body.user_id))
        .await?
        .filter(|u| u.tenant_id == group.tenant_id)
        .ok_or(ServerError::NotFound)?;
    state.store.grant_group(user.id, group.id).await?;
    principal
        .audit(
            &state,
            group.tenant_id,
            "group.grant",
            format!("group {}", group.id),
            format!("user {}", user.id),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
