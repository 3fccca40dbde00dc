//! The table of endpoints, and the OpenAPI document made from it.

use axum::Json;
use axum::http::Method;
use axum::routing::MethodRouter;
use serde_json::{Value, json};

use super::AppState;
use crate::model::Permission;

/// Who may call an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the OpenAPI document, logging in).
    Public,
    /// An agent, authenticated by its PIN or its sealed envelopes.
    Agent,
    /// A user or API token whose role has this permission.
    User(Permission),
}

/// One route: method, path (axum syntax, `{name}` parameters), summary,
/// access, handler.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    pub route: MethodRouter<AppState>,
}

impl Endpoint {
    pub fn new(
        method: Method,
        path: &'static str,
        summary: &'static str,
        access: Access,
        route: MethodRouter<AppState>,
    ) -> Endpoint {
        Endpoint {
            method,
            path,
            summary,
            access,
            route,
        }
    }

    /// Names of the path parameters, in order.
    pub fn path_params(&self) -> Vec<&'static str> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect()
    }
}

pub(super) fn openapi_endpoint() -> Endpoint {
    Endpoint::new(
        Method::GET,
        "/api/v1/openapi.json",
        "This OpenAPI document",
        Access::Public,
        axum::routing::get(|| async { Json(openapi()) }),
    )
}

/// The OpenAPI 3.1 document of every endpoint.
pub fn openapi() -> Value {
    let mut paths = serde_json::Map::new();
    for e in super::endpoints() {
        let params: Vec<Value> = e
            .path_params()
            .iter()
            .map(|p| {
                json!({"name": p, "in": "path", "required": true,
                       "schema": {"type": "integer", "format": "int64"}})
            })
            .collect();
        let security = match e.access {
            Access::User(_) => json!([{"bearer": []}, {"session": []}]),
            Access::Public | Access::Agent => json!([]),
        };
        let mut op = json!({
            "summary": e.summary,
            "operationId": format!("{} {}", e.method, e.path),
            "parameters": params,
            "security": security,
            "responses": {
                "200": {"description": "OK"},
                "400": {"description": "Invalid request"},
                "401": {"description": "Not authenticated"},
                "403": {"description": "The role does not allow this, or a session-cookie change without its CSRF token or from another origin"},
                "404": {"description": "Not found (or not yours)"}
            }
        });
        if let Access::User(p) = e.access {
            op["x-permission"] = json!(p);
        }
        let entry = paths.entry(e.path.to_string()).or_insert_with(|| json!({}));
        entry[e.method.as_str().to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "printwatch server API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Managed print services: tenants, agents, devices, meters, supplies, reports. \
                            Authenticate with `Authorization: Bearer TOKEN` (POST /api/v1/login gives one), \
                            or with the session cookie that POST /api/v1/login sets when asked with \
                            `\"session\": true`; with the cookie, POST, PUT, PATCH and DELETE also need \
                            the session's CSRF token in `X-CSRF-Token` (or the form field `csrf_token`)."
        },
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": super::SECURE_COOKIE,
                        "description": "printwatch_session over plain HTTP"}
        }},
        "paths": paths
    })
}
