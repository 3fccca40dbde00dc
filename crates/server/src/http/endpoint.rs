//! The table of endpoints, and the OpenAPI document made from it.
//!
//! Request bodies, query parameters and answers are described by the Rust
//! types the handlers deserialize and serialize (`schemars::JsonSchema`),
//! named in the table next to the handler: the document cannot say
//! something the types do not. The API fuzz test
//! (`tests/openapi_fuzz.rs`) checks the live server against it.

use super::extract::Json;
use axum::http::{Method, StatusCode};
use axum::routing::MethodRouter;
use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

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

/// Adds the schema of one type to a generator and answers a reference to it.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// What the body of a request is.
#[derive(Clone, Copy)]
pub enum Body {
    /// `application/json`, of this type.
    Json(SchemaFn),
    /// Raw bytes (`application/octet-stream`), e.g. a sealed envelope.
    Bytes,
}

/// One route: method, path (axum syntax, `{name}` parameters), summary,
/// access, handler, and the types of what it reads and answers.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    pub route: MethodRouter<AppState>,
    /// The request body, when the handler reads one.
    pub body: Option<Body>,
    /// The type the handler's `Query` extractor deserializes.
    pub query: Option<SchemaFn>,
    /// The success status.
    pub status: StatusCode,
    /// The type of the success answer (JSON), when the handler answers a typed value.
    pub answer: Option<SchemaFn>,
    /// `?format=csv` answers `text/csv` instead of JSON.
    pub csv: bool,
    /// Answers (success and 409) are sealed receipts, `application/octet-stream`.
    pub sealed: bool,
    /// The action may need the caller's fresh second factor, sent in the
    /// `X-Second-Factor` header.
    pub second_factor: bool,
    /// The success answer is a document of this media type (a page), not JSON.
    pub media: Option<&'static str>,
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
            body: None,
            query: None,
            status: StatusCode::OK,
            answer: None,
            csv: false,
            sealed: false,
            second_factor: false,
            media: None,
        }
    }

    /// The handler reads a JSON body of type `T`.
    pub fn body<T: JsonSchema>(mut self) -> Endpoint {
        self.body = Some(Body::Json(schema_of::<T>));
        self
    }

    /// The handler reads raw bytes.
    pub fn bytes(mut self) -> Endpoint {
        self.body = Some(Body::Bytes);
        self
    }

    /// The handler reads query parameters into `T` (a struct of optional fields).
    pub fn query<T: JsonSchema>(mut self) -> Endpoint {
        self.query = Some(schema_of::<T>);
        self
    }

    /// The handler answers 200 with a JSON `T`.
    pub fn returns<T: JsonSchema>(mut self) -> Endpoint {
        self.answer = Some(schema_of::<T>);
        self
    }

    /// The handler answers 201 with a JSON `T`.
    pub fn creates<T: JsonSchema>(mut self) -> Endpoint {
        self.status = StatusCode::CREATED;
        self.answer = Some(schema_of::<T>);
        self
    }

    /// The handler answers 204 without a body.
    pub fn no_content(mut self) -> Endpoint {
        self.status = StatusCode::NO_CONTENT;
        self
    }

    /// The handler answers sealed bytes (`application/octet-stream`), with
    /// 200 and with 409.
    pub fn sealed(mut self) -> Endpoint {
        self.sealed = true;
        self
    }

    /// The action may need a fresh second factor (`X-Second-Factor`).
    pub fn second_factor(mut self) -> Endpoint {
        self.second_factor = true;
        self
    }

    /// The handler answers a document of `media` type (an HTML page, a
    /// stylesheet).
    pub fn document(mut self, media: &'static str) -> Endpoint {
        self.media = Some(media);
        self
    }

    /// The handler upgrades the connection (101, a WebSocket).
    pub fn upgrade(mut self) -> Endpoint {
        self.status = StatusCode::SWITCHING_PROTOCOLS;
        self
    }

    /// `?format=csv` answers CSV.
    pub fn csv(mut self) -> Endpoint {
        self.csv = true;
        self
    }

    /// Part of the REST API's OpenAPI document: not the portal's pages and
    /// files, which answer HTML (errors included) to browsers.
    pub fn in_api_document(&self) -> bool {
        self.media.is_none()
    }

    /// Names of the path parameters, in order.
    pub fn path_params(&self) -> Vec<&'static str> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect()
    }
}

/// The document itself (its schema is the OpenAPI specification's).
pub(super) fn openapi_endpoints() -> Vec<Endpoint> {
    vec![
        openapi_endpoint(),
        Endpoint::new(
            Method::GET,
            "/api/docs",
            "This API's reference for people: this document as a web page",
            Access::Public,
            axum::routing::get(super::docs::page),
        )
        .document("text/html"),
    ]
}

fn openapi_endpoint() -> Endpoint {
    Endpoint::new(
        Method::GET,
        "/api/v1/openapi.json",
        "This OpenAPI document",
        Access::Public,
        axum::routing::get(|| async { Json(openapi()) }),
    )
}

/// Where component schemas live in the document.
const COMPONENTS: &str = "/components/schemas";

/// A generator for one direction: what clients send is read with
/// `Deserialize` (defaults make fields optional), answers with `Serialize`.
fn generator(deserialize: bool) -> SchemaGenerator {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = COMPONENTS.into();
        // The document's own `openapi` field says what dialect this is.
        s.meta_schema = None;
    });
    if deserialize {
        settings.for_deserialize().into_generator()
    } else {
        settings.for_serialize().into_generator()
    }
}

/// Query parameters from the schema of a query struct: one parameter per
/// field. `null` is dropped from the types: an absent parameter is how a
/// query says "none".
fn query_parameters(gen_in: &mut SchemaGenerator, query: SchemaFn) -> Vec<Value> {
    let schema = query(gen_in).to_value();
    // `subschema_for` answers a reference for structs: look it up.
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix(&format!("#{COMPONENTS}/"))
            .and_then(|name| gen_in.definitions().get(name).cloned())
            .unwrap_or(schema),
        None => schema,
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return vec![];
    };
    properties
        .iter()
        .map(|(name, prop)| {
            let mut prop = prop.clone();
            if let Some(types) = prop.get_mut("type").and_then(Value::as_array_mut) {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    prop["type"] = types[0].clone();
                }
            }
            let description = prop
                .as_object_mut()
                .and_then(|p| p.remove("description"))
                .unwrap_or(Value::Null);
            let mut param = json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "schema": prop,
            });
            if !description.is_null() {
                param["description"] = description;
            }
            param
        })
        .collect()
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#{COMPONENTS}/Error")}}}
    })
}

/// The document and the names of component schemas that the request and
/// answer sides define differently (they share one namespace; must be none).
pub(crate) fn build() -> (Value, Vec<String>) {
    let mut gen_in = generator(true);
    let mut gen_out = generator(false);
    let mut paths = Map::new();
    for e in super::endpoints()
        .into_iter()
        .filter(Endpoint::in_api_document)
    {
        let mut params: Vec<Value> = e
            .path_params()
            .iter()
            .map(|p| {
                json!({"name": p, "in": "path", "required": true,
                       "schema": {"type": "integer", "format": "int64"}})
            })
            .collect();
        if let Some(query) = e.query {
            params.extend(query_parameters(&mut gen_in, query));
        }
        if e.second_factor {
            params.push(json!({
                "name": "X-Second-Factor",
                "in": "header",
                "required": false,
                "description": "The current 6-digit code of the caller's authenticator app. \
                    This action needs a fresh second factor: without the header (or with a \
                    wrong code) it answers 403 and says so.",
                "schema": {"type": "string", "pattern": "^[0-9]{6}$"},
            }));
        }
        let security = match e.access {
            Access::User(_) => json!([{"bearer": []}, {"session": []}]),
            Access::Public | Access::Agent => json!([]),
        };
        let mut success = json!({"description": "Success"});
        if e.sealed {
            success["content"] = json!({"application/octet-stream": {"schema": {}}});
        } else if e.status == StatusCode::SWITCHING_PROTOCOLS {
            success["description"] = json!("Switching Protocols (a WebSocket)");
        } else if e.status != StatusCode::NO_CONTENT {
            let mut content = Map::new();
            let schema = e.answer.map(|a| a(&mut gen_out).to_value());
            content.insert(
                "application/json".into(),
                json!({"schema": schema.unwrap_or(json!({}))}),
            );
            if e.csv {
                content.insert("text/csv".into(), json!({"schema": {"type": "string"}}));
            }
            success["content"] = Value::Object(content);
        }
        let mut responses = Map::new();
        responses.insert(e.status.as_u16().to_string(), success);
        for (status, description) in [
            ("400", "Invalid request (parameters or body)"),
            ("401", "Not authenticated"),
            (
                "403",
                "The role does not allow this, or a session-cookie change without its CSRF token or from another origin",
            ),
            ("404", "Not found (or not yours)"),
            ("409", "Conflict with what is stored"),
            ("413", "Body too large"),
            ("429", "Too many attempts: try again later"),
        ] {
            responses.insert(status.into(), error_response(description));
        }
        if e.status == StatusCode::SWITCHING_PROTOCOLS {
            responses.insert(
                "426".into(),
                error_response("Not an upgradable connection (HTTP/1.1 Upgrade needed)"),
            );
            responses.insert(
                "503".into(),
                error_response("Too many connections waiting for their hello: try again later"),
            );
        }
        if e.sealed {
            responses.insert(
                "409".into(),
                json!({"description": "A sealed receipt: applied before, or older than the last applied",
                       "content": {"application/octet-stream": {"schema": {}}}}),
            );
        }
        let mut op = json!({
            "summary": e.summary,
            "operationId": format!("{} {}", e.method, e.path),
            "parameters": params,
            "security": security,
            "responses": responses,
        });
        match e.body {
            Some(Body::Json(schema)) => {
                op["requestBody"] = json!({"required": true, "content": {
                    "application/json": {"schema": schema(&mut gen_in).to_value()}}});
            }
            Some(Body::Bytes) => {
                op["requestBody"] = json!({"required": true, "content": {
                    "application/octet-stream": {"schema": {}}}});
            }
            None => {}
        }
        if let Access::User(p) = e.access {
            op["x-permission"] = json!(p);
        }
        let entry = paths.entry(e.path.to_string()).or_insert_with(|| json!({}));
        entry[e.method.as_str().to_lowercase()] = op;
    }
    let mut schemas = gen_out.take_definitions(true);
    let mut conflicts = vec![];
    for (name, schema) in gen_in.take_definitions(true) {
        match schemas.get(&name) {
            Some(other) if *other != schema => conflicts.push(name),
            Some(_) => {}
            None => {
                schemas.insert(name, schema);
            }
        }
    }
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "reason": {"type": "string", "enum": ["revoked", "expired"],
                       "description": "Why an agent is refused for good (403 to an agent)"}
        }}),
    );
    let doc = json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "printwatch server API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Managed print services: tenants, agents, devices, meters, supplies, reports. \
                            Authenticate with `Authorization: Bearer TOKEN` (POST /api/v1/login gives one), \
                            or with the session cookie that POST /api/v1/login sets when asked with \
                            `\"session\": true`; with the cookie, POST, PUT, PATCH and DELETE also need \
                            the session's CSRF token in `X-CSRF-Token` (or the form field `csrf_token`). \
                            Times are UNIX seconds unless a field says RFC 3339."
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": super::SECURE_COOKIE,
                            "description": "printwatch_session over plain HTTP"}
            }
        },
        "paths": paths
    });
    (doc, conflicts)
}

/// The OpenAPI 3.1 document of every endpoint (made once: the table is fixed).
pub fn openapi() -> Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| build().0).clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_and_answer_schemas_do_not_collide() {
        let (_, conflicts) = super::build();
        assert!(
            conflicts.is_empty(),
            "defined twice, differently: {conflicts:?}"
        );
    }

    /// Role fields read as strings are documented as `Role`: `Role::parse`
    /// must take exactly the names `Role` serializes to.
    #[test]
    fn roles_parse_from_their_serialized_names() {
        use crate::model::Role;
        for role in Role::ALL {
            let name = serde_json::to_value(role).unwrap_or_default();
            let parsed = name.as_str().map(Role::parse);
            assert!(matches!(parsed, Some(Ok(r)) if r == role), "{role:?}");
        }
    }
}
