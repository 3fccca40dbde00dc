//! An in-process server and a minimal agent, for the HTTP tests.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use printwatch_protocol::activation::{ActivationCode, AgentActivation, AgentInfo};
use printwatch_protocol::envelope::{Direction, open_receipt, seal};
use printwatch_protocol::message::{AgentMessage, Receipt};
use printwatch_protocol::{AgentId, AgentKey};
use printwatch_server::http::{AppState, router};
use printwatch_server::secrets::MasterKey;
use printwatch_server::store::{DynStore, LoginPolicy};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::TestDb;

pub struct TestApp {
    pub db: TestDb,
    pub state: AppState,
    pub router: Router,
    pub admin_token: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The server's answer to one envelope: its receipt when it is one that
/// opens (authentic, for this envelope), else the plain answer.
pub struct Delivered {
    pub status: StatusCode,
    pub receipt: Option<Receipt>,
    pub reply: Reply,
}

impl Delivered {
    /// The receipt; fails the test when the answer is not one.
    pub fn receipt(&self) -> &Receipt {
        self.receipt.as_ref().unwrap_or_else(|| {
            panic!(
                "not a sealed receipt: {} {}",
                self.status,
                self.reply.text()
            )
        })
    }
}

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// A fresh server on SQLite, initialised, with the admin logged in.
    pub async fn new() -> TestApp {
        TestApp::on(TestDb::sqlite().await).await
    }

    /// A fresh server on `db`, initialised, with the admin logged in.
    pub async fn on(db: TestDb) -> TestApp {
        let store: DynStore = Arc::new(db.store.clone());
        let first = printwatch_server::serve::first_start(&store, Some(ADMIN_PASSWORD.into()))
            .await
            .expect("first start");
        assert!(first.is_some());
        let state = AppState::new(store, MasterKey::generate());
        let router = router(state.clone());
        let mut app = TestApp {
            db,
            state,
            router,
            admin_token: String::new(),
        };
        app.admin_token = app.login("admin@localhost", ADMIN_PASSWORD).await;
        app
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/api/v1/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["token"].as_str().expect("token").to_string()
    }

    /// Log in with a session cookie: (the `Cookie` header value, the CSRF token).
    pub async fn session_login(&self, email: &str, password: &str) -> (String, String) {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"email": email, "password": password, "session": true}).to_string(),
            ))
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_string();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body: Value = serde_json::from_slice(&body).expect("json");
        let csrf = body["csrf_token"].as_str().expect("csrf token").to_string();
        (cookie, csrf)
    }

    /// A request as the web portal makes it: session cookie and CSRF token.
    pub async fn session_call(
        &self,
        method: Method,
        path: &str,
        (cookie, csrf): (&str, &str),
        body: Option<Value>,
    ) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, cookie)
            .header("x-csrf-token", csrf)
            .body(Body::from(bytes))
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Reply {
            status,
            body,
            content_type,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.raw(method, path, token, "application/json", bytes)
            .await
    }

    /// Another server process on the same database and master key: its
    /// own in-memory limiters.
    pub fn another_server(&self, account_limit: LoginPolicy) -> Router {
        let store: DynStore = Arc::new(self.db.store.clone());
        router(AppState::new(store, (*self.state.master).clone()).with_account_limit(account_limit))
    }

    /// A login through `server`; the status.
    pub async fn login_on(&self, server: &Router, email: &str, password: &str) -> StatusCode {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"email": email, "password": password}).to_string(),
            ))
            .expect("request");
        server
            .clone()
            .oneshot(request)
            .await
            .expect("infallible")
            .status()
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        self.raw_from(None, method, path, token, content_type, body)
            .await
    }

    /// A bodiless request with a bearer token and one more header.
    pub async fn raw_with_header(
        &self,
        method: Method,
        path: &str,
        token: &str,
        (name, value): (&str, &str),
    ) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(name, value)
            .body(Body::empty())
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Reply {
            status,
            body,
            content_type,
        }
    }

    /// A JSON request from the client address `peer`.
    pub async fn call_from(
        &self,
        peer: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let peer = peer.parse().expect("a socket address");
        self.raw_from(Some(peer), method, path, token, "application/json", bytes)
            .await
    }

    pub async fn raw_from(
        &self,
        peer: Option<std::net::SocketAddr>,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, content_type);
        if let Some(peer) = peer {
            request = request.extension(axum::extract::ConnectInfo(peer));
        }
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Reply {
            status,
            body,
            content_type,
        }
    }

    /// Create a customer tenant as the admin; returns its id.
    pub async fn customer(&self, name: &str) -> i64 {
        let r = self
            .call(
                Method::POST,
                "/api/v1/tenants",
                Some(&self.admin_token),
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["id"].as_i64().expect("id")
    }

    /// Create an agent in `tenant`; returns its activation code.
    pub async fn new_agent(&self, token: &str, tenant: i64, name: &str) -> ActivationCode {
        let r = self
            .call(
                Method::POST,
                "/api/v1/agents",
                Some(token),
                Some(json!({"tenant_id": tenant, "name": name})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["activation_code"]
            .as_str()
            .expect("code")
            .parse()
            .expect("parses")
    }

    /// Run the agent side of activation through HTTP.
    pub async fn activate(&self, code: &ActivationCode) -> Result<AgentKey, Reply> {
        self.activate_from(None, code).await
    }

    /// Activation from the client address `peer`.
    pub async fn activate_from(
        &self,
        peer: Option<&str>,
        code: &ActivationCode,
    ) -> Result<AgentKey, Reply> {
        let info = AgentInfo {
            version: "0.1.0".into(),
            os: "linux".into(),
            hostname: Some("test".into()),
        };
        let (pending, request) =
            AgentActivation::start(code, info, &mut rand::rngs::OsRng).expect("start");
        let body = serde_json::to_value(&request).expect("json");
        let r = match peer {
            Some(peer) => {
                self.call_from(peer, Method::POST, "/agent/v1/activate", None, Some(body))
                    .await
            }
            None => {
                self.call(Method::POST, "/agent/v1/activate", None, Some(body))
                    .await
            }
        };
        if r.status != StatusCode::OK {
            return Err(r);
        }
        let response = serde_json::from_slice(&r.body).expect("activation response");
        Ok(pending
            .finish(&response)
            .expect("the server confirmed the key"))
    }

    /// Seal and submit a message as agent `id`.
    pub async fn submit(&self, key: &AgentKey, id: AgentId, seq: u64, msg: &AgentMessage) -> Reply {
        let bytes = seal(
            key,
            Direction::AgentToServer,
            id,
            seq,
            msg,
            &mut rand::rngs::OsRng,
        )
        .expect("seal");
        self.submit_bytes(bytes).await
    }

    /// Seal and submit a message as agent `id`; open the receipt.
    pub async fn deliver(
        &self,
        key: &AgentKey,
        id: AgentId,
        seq: u64,
        msg: &AgentMessage,
    ) -> Delivered {
        let bytes = seal(
            key,
            Direction::AgentToServer,
            id,
            seq,
            msg,
            &mut rand::rngs::OsRng,
        )
        .expect("seal");
        self.deliver_bytes(key, bytes).await
    }

    /// Submit a sealed envelope; open the receipt with `key`.
    pub async fn deliver_bytes(&self, key: &AgentKey, request: Vec<u8>) -> Delivered {
        let reply = self.submit_bytes(request.clone()).await;
        let receipt = open_receipt(key, &request, &reply.body).ok();
        if receipt.is_some() {
            assert_eq!(
                reply.content_type.as_deref(),
                Some("application/octet-stream")
            );
        }
        Delivered {
            status: reply.status,
            receipt,
            reply,
        }
    }

    pub async fn submit_bytes(&self, bytes: Vec<u8>) -> Reply {
        self.raw(
            Method::POST,
            "/agent/v1/submit",
            None,
            "application/octet-stream",
            bytes,
        )
        .await
    }
}
