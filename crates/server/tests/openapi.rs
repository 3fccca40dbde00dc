//! The OpenAPI document is structurally valid OpenAPI 3.1: every `$ref`
//! resolves, every path parameter is declared (and nothing else is in the
//! path), operation ids are unique, and what the table says each endpoint
//! reads and answers is in it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashSet};

mod common;

use printwatch_server::http::{Access, endpoints, openapi};
use serde_json::Value;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every `$ref` in `v`, with where it is.
fn refs<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "$ref" {
                    if let Some(r) = child.as_str() {
                        out.push((at.clone(), r));
                    }
                } else {
                    refs(child, format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let doc = openapi();
    // OPENAPI_DUMP=FILE writes the document, to read or to give other tools.
    if let Ok(file) = std::env::var("OPENAPI_DUMP") {
        std::fs::write(file, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["version"].is_string());

    // Every reference is local and resolves.
    let mut all = vec![];
    refs(&doc, String::new(), &mut all);
    assert!(all.len() > 20, "schemas are referenced: {}", all.len());
    for (at, r) in &all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: non-local $ref {r}"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{at}: $ref {r} does not resolve"
        );
    }

    let mut ids = HashSet::new();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        assert!(path.starts_with('/'), "{path}");
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().expect("path item") {
            assert!(METHODS.contains(&method.as_str()), "{path}: {method}");
            let name = format!("{method} {path}");
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "{name}: operationId {id} twice");

            let params = op["parameters"].as_array().expect("parameters");
            let mut seen = HashSet::new();
            let mut in_path = BTreeSet::new();
            for p in params {
                let (pname, place) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
                assert!(
                    ["path", "query", "header", "cookie"].contains(&place),
                    "{name}: {pname} in {place}"
                );
                assert!(seen.insert((pname, place)), "{name}: {pname} twice");
                assert!(p["schema"].is_object(), "{name}: {pname} has no schema");
                if place == "path" {
                    assert_eq!(p["required"], true, "{name}: path {pname} not required");
                    in_path.insert(pname);
                }
            }
            assert_eq!(in_path, templated, "{name}: path parameters");

            let responses = op["responses"].as_object().expect("responses");
            assert!(
                // A WebSocket's success is 101.
                responses.keys().any(|s| s.starts_with('2') || s == "101"),
                "{name}: no success answer"
            );
            for (status, r) in responses {
                assert!(
                    status.len() == 3 && status.parse::<u16>().is_ok(),
                    "{name}: {status}"
                );
                assert!(r["description"].is_string(), "{name} {status}: description");
                if let Some(content) = r.get("content") {
                    for (media, m) in content.as_object().unwrap() {
                        assert!(m.get("schema").is_some(), "{name} {status} {media}: schema");
                    }
                }
            }
            if let Some(body) = op.get("requestBody") {
                let content = body["content"].as_object().expect("body content");
                assert!(!content.is_empty(), "{name}: empty body content");
            }
            for s in op["security"].as_array().expect("security") {
                for scheme in s.as_object().unwrap().keys() {
                    assert!(
                        doc["components"]["securitySchemes"][scheme].is_object(),
                        "{name}: security scheme {scheme}"
                    );
                }
            }
        }
    }

    // The table and the document agree.
    let table: Vec<_> = endpoints()
        .into_iter()
        .filter(|e| e.in_api_document())
        .collect();
    assert_eq!(ids.len(), table.len(), "one operation per endpoint");
    for e in &table {
        let op = &doc["paths"][e.path][e.method.as_str().to_lowercase()];
        assert!(op.is_object(), "{} {} missing", e.method, e.path);
        assert_eq!(
            op.get("requestBody").is_some(),
            e.body.is_some(),
            "{} {}",
            e.method,
            e.path
        );
        let success = &op["responses"][e.status.as_u16().to_string()];
        assert!(success.is_object(), "{} {}: {}", e.method, e.path, e.status);
        if e.answer.is_some() {
            let schema = &success["content"]["application/json"]["schema"];
            assert!(
                schema.get("$ref").is_some() || schema.get("type").is_some(),
                "{} {}: answer schema {schema}",
                e.method,
                e.path
            );
        }
        if let Access::User(_) = e.access {
            assert!(op["x-permission"].is_string());
        }
    }
}

/// Descriptions are written for the API's users: no Rust paths, no
/// rustdoc links, no internal names; the second-factor header is declared
/// where an action needs it.
#[test]
fn descriptions_are_written_for_users() {
    fn texts<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("description" | "summary", Value::String(text)) => {
                            out.push((at.clone(), text))
                        }
                        _ => texts(v, format!("{at}/{k}"), out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| texts(v, at.clone(), out)),
            _ => {}
        }
    }
    let doc = openapi();
    let mut all = Vec::new();
    texts(&doc, String::new(), &mut all);
    assert!(all.len() > 100, "{}", all.len());
    for (at, text) in all {
        for internal in [
            "::", "[`", "Option<", "Vec<", "serde", "struct ", "impl ", "crate",
        ] {
            assert!(
                !text.contains(internal),
                "{at}: {text:?} mentions {internal:?}"
            );
        }
    }
    for (method, path) in [
        ("delete", "/api/v1/tenants/{tenant_id}"),
        ("post", "/api/v1/users"),
        ("post", "/api/v1/users/{user_id}/totp/reset"),
    ] {
        let params = doc["paths"][path][method]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            params
                .iter()
                .any(|p| p["in"] == "header" && p["name"] == "X-Second-Factor"),
            "{method} {path}: {params:?}"
        );
    }
}

/// The main resources have typed bodies and answers (not just `{}`).
#[test]
fn main_resources_are_described() {
    let doc = openapi();
    let answer = |method: &str, path: &str, status: &str| {
        doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
            .clone()
    };
    for (method, path, status) in [
        ("get", "/api/v1/devices", "200"),
        ("get", "/api/v1/devices/{device_id}", "200"),
        ("get", "/api/v1/tenants", "200"),
        ("post", "/api/v1/tenants", "201"),
        ("get", "/api/v1/users", "200"),
        ("post", "/api/v1/users", "201"),
        ("get", "/api/v1/agents", "200"),
        ("post", "/api/v1/agents", "201"),
        ("get", "/api/v1/agents/{agent_id}/config", "200"),
        ("get", "/api/v1/tokens", "200"),
        ("post", "/api/v1/tokens", "201"),
        ("get", "/api/v1/meters", "200"),
        ("get", "/api/v1/supplies", "200"),
    ] {
        let schema = answer(method, path, status);
        assert!(
            schema != Value::Null && schema != serde_json::json!({}),
            "{method} {path}: {schema}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Device",
        "Tenant",
        "User",
        "AgentView",
        "AgentConfigView",
        "ApiToken",
        "Snapshot",
        "FleetMeterReading",
    ] {
        assert!(schemas[name].is_object(), "{name} missing");
    }
    // Request bodies come from the handlers' types, unknown fields refused.
    let login = &doc["paths"]["/api/v1/login"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let login = doc
        .pointer(
            login["$ref"]
                .as_str()
                .expect("a reference")
                .trim_start_matches('#'),
        )
        .expect("resolves");
    assert_eq!(login["additionalProperties"], false);
    assert_eq!(login["required"], serde_json::json!(["email", "password"]));
    // Query parameters come from the handlers' query types.
    let params = doc["paths"]["/api/v1/meters"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let names: BTreeSet<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["after", "format", "from", "latest", "limit", "to"])
    );
    assert!(
        params
            .iter()
            .all(|p| p["in"] == "query" && p["required"] == false)
    );
}

/// The reference for people at `/api/docs`: every operation of the document
/// on one page, no script and no inline style, under a CSP that allows only
/// the page's own stylesheet.
#[tokio::test]
async fn the_reference_page_shows_every_operation_under_a_strict_csp() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let app = common::app::TestApp::new().await;
    let get = |path: &'static str| {
        let router = app.router.clone();
        async move {
            let response = router
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let headers = response.headers().clone();
            let body = axum::body::to_bytes(response.into_body(), 4 << 20)
                .await
                .unwrap();
            (headers, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let (headers, html) = get("/api/docs").await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe") && !csp.contains("script-src"),
        "{csp}"
    );
    assert!(
        !html.contains("<script") && !html.contains("style="),
        "inline script or style"
    );
    let doc = openapi();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let shown = format!(
                "{}</span> <code>{}</code>",
                method.to_uppercase(),
                path.replace('&', "&amp;")
            );
            assert!(html.contains(&shown), "{method} {path} not on the page");
        }
    }
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        assert!(html.contains(&format!("id=\"schema-{name}\"")), "{name}");
    }
    // Every link within the page lands on an anchor of the page.
    for link in html.split("href=\"#").skip(1) {
        let anchor = &link[..link.find('"').unwrap()];
        assert!(
            html.contains(&format!("id=\"{anchor}\"")),
            "#{anchor} goes nowhere"
        );
    }
    let (headers, css) = get("/assets/style.css").await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(css.contains("body"));
}
