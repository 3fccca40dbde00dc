//! The API reference for people, at `/api/docs`: the OpenAPI document
//! rendered on the server into one HTML page (operations grouped by
//! resource, their parameters, bodies and answers, then every schema).
//!
//! Rendered here rather than by a vendored JavaScript viewer (Redoc,
//! RapiDoc, Scalar): those inject inline styles and need a looser CSP,
//! weigh a megabyte, and show nothing without scripts. This page needs no
//! script at all, so its CSP allows only our own stylesheet.

use askama::Template;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::endpoint::openapi;

/// The stylesheet of the page (and, later, of the portal's pages).
pub const STYLESHEET: &str = include_str!("../../assets/docs.css");

/// What the page may load: its stylesheet, nothing else; never framed.
const CSP: &str = "default-src 'none'; style-src 'self'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

#[derive(Template)]
#[template(path = "api_docs.html")]
struct DocsPage {
    title: String,
    version: String,
    intro: String,
    groups: Vec<Group>,
    schemas: Vec<Schema>,
}

struct Group {
    anchor: String,
    name: String,
    operations: Vec<Operation>,
}

struct Operation {
    anchor: String,
    method: String,
    path: String,
    summary: String,
    access: String,
    parameters: Vec<Field>,
    body: Option<String>,
    answers: Vec<(String, String)>,
}

struct Schema {
    name: String,
    description: String,
    fields: Vec<Field>,
    /// For a schema that is not an object: its type in words.
    kind: String,
}

struct Field {
    name: String,
    location: String,
    required: bool,
    kind: String,
    description: String,
}

/// `GET /api/docs`.
pub async fn page() -> Response {
    let doc = openapi();
    let page = DocsPage {
        title: text(&doc["info"]["title"]),
        version: text(&doc["info"]["version"]),
        intro: markup(&text(&doc["info"]["description"])),
        groups: groups(&doc),
        schemas: schemas(&doc),
    };
    match page.render() {
        Ok(html) => {
            let mut response =
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "the API reference did not render");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "the API reference did not render: the server log has the details",
            )
                .into_response()
        }
    }
}

/// `GET /api/docs.css`.
pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

fn groups(doc: &Value) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let Some(paths) = doc["paths"].as_object() else {
        return groups;
    };
    for (path, item) in paths {
        let Some(methods) = item.as_object() else {
            continue;
        };
        for (method, op) in methods {
            let name = group_name(path);
            let operation = operation(path, method, op);
            match groups.iter_mut().find(|g| g.name == name) {
                Some(group) => group.operations.push(operation),
                None => groups.push(Group {
                    anchor: format!("group-{}", name.replace(' ', "-")),
                    name,
                    operations: vec![operation],
                }),
            }
        }
    }
    // The REST API first, by resource; then what only agents call.
    groups.sort_by_key(|g| (g.name == AGENT_GROUP, g.name.clone()));
    groups
}

/// The resource a path belongs to: `/api/v1/agents/{id}/config` → `agents`.
fn group_name(path: &str) -> String {
    if path.starts_with("/agent/") {
        return AGENT_GROUP.into();
    }
    match path.strip_prefix("/api/v1/") {
        Some(rest) => rest.split('/').next().unwrap_or(rest).to_string(),
        None => "reference".into(),
    }
}

/// The endpoints agents call, shown after the REST API's.
const AGENT_GROUP: &str = "agent endpoints";

fn operation(path: &str, method: &str, op: &Value) -> Operation {
    let parameters = op["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| Field {
                    name: text(&p["name"]),
                    location: text(&p["in"]),
                    required: p["required"].as_bool().unwrap_or(false),
                    kind: type_words(&p["schema"]),
                    description: markup(&text(&p["description"])),
                })
                .collect()
        })
        .unwrap_or_default();
    let body = op["requestBody"]["content"].as_object().and_then(|c| {
        c.iter()
            .next()
            .map(|(media, m)| match type_words(&m["schema"]) {
                kind if kind.is_empty() => escape(media),
                kind => format!("{kind} ({})", escape(media)),
            })
    });
    let answers = op["responses"]
        .as_object()
        .map(|rs| {
            rs.iter()
                .filter(|(status, _)| status.starts_with('2') || !is_common_error(status))
                .map(|(status, r)| {
                    let schema = r["content"]
                        .as_object()
                        .and_then(|c| c.values().next())
                        .map(|m| type_words(&m["schema"]))
                        .unwrap_or_default();
                    let description = markup(&text(&r["description"]));
                    let words = if schema.is_empty() {
                        description
                    } else {
                        format!("{description}: {schema}")
                    };
                    (status.clone(), words)
                })
                .collect()
        })
        .unwrap_or_default();
    let access = match (op["x-permission"].as_str(), op["security"].as_array()) {
        (Some(permission), _) => format!(
            "a user whose role has <code>{}</code> (bearer token or session)",
            escape(permission)
        ),
        (None, Some(s)) if s.is_empty() && path.starts_with("/agent/") => {
            "an agent (sealed with its key)".into()
        }
        _ => "anyone".into(),
    };
    Operation {
        anchor: format!("{method}-{path}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect(),
        method: method.to_uppercase(),
        path: path.to_string(),
        summary: markup(&text(&op["summary"])),
        access,
        parameters,
        body,
        answers,
    }
}

/// The errors every operation may answer, explained once on the page.
fn is_common_error(status: &str) -> bool {
    matches!(
        status,
        "400" | "401" | "403" | "404" | "409" | "413" | "429"
    )
}

fn schemas(doc: &Value) -> Vec<Schema> {
    let Some(all) = doc["components"]["schemas"].as_object() else {
        return vec![];
    };
    all.iter()
        .map(|(name, s)| {
            let required: Vec<&str> = s["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let fields = s["properties"]
                .as_object()
                .map(|props| fields(props, &required))
                .unwrap_or_default();
            let kind = if fields.is_empty() {
                type_words(s)
            } else {
                String::new()
            };
            Schema {
                name: name.clone(),
                description: markup(&text(&s["description"])),
                fields,
                kind,
            }
        })
        .collect()
}

fn fields(props: &Map<String, Value>, required: &[&str]) -> Vec<Field> {
    props
        .iter()
        .map(|(name, p)| Field {
            name: name.clone(),
            location: String::new(),
            required: required.contains(&name.as_str()),
            kind: type_words(p),
            description: markup(&text(&p["description"])),
        })
        .collect()
}

/// A schema in a few words, as HTML: `integer`, `string or null`, a link
/// to a named schema, `array of …`, the values of an enumeration.
fn type_words(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("<a href=\"#schema-{}\">{}</a>", escape(name), escape(name));
    }
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values
            .iter()
            .map(|v| format!("<code>{}</code>", escape(&v.to_string())))
            .collect();
        return format!("one of {}", values.join(", "));
    }
    if let Some(value) = schema.get("const") {
        return format!("<code>{}</code>", escape(&value.to_string()));
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(options) = schema[combinator].as_array() {
            let words: Vec<String> = options
                .iter()
                .map(type_words)
                .filter(|w| !w.is_empty())
                .collect();
            return words.join(" or ");
        }
    }
    let types: Vec<String> = match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => vec![],
    };
    types
        .iter()
        .map(|t| match t.as_str() {
            "array" => format!("array of {}", type_words(&schema["items"])),
            other => escape(other),
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// Descriptions use Markdown's code spans and nothing else: escape, then
/// turn `…` into <code>…</code>.
fn markup(source: &str) -> String {
    let escaped = escape(source);
    let mut out = String::with_capacity(escaped.len());
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn escape(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for c in source.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_escapes_and_marks_code() {
        assert_eq!(
            markup("a `<b>` & <script>"),
            "a <code>&lt;b&gt;</code> &amp; &lt;script&gt;"
        );
        assert_eq!(markup("odd `one"), "odd <code>one</code>");
    }

    #[test]
    fn paths_group_by_resource() {
        assert_eq!(group_name("/api/v1/agents/{agent_id}/config"), "agents");
        assert_eq!(group_name("/agent/v1/submit"), "agent endpoints");
        assert_eq!(group_name("/api/docs.css"), "reference");
    }
}
