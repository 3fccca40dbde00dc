//! The web portal: server-rendered pages (askama templates in
//! `crates/server/templates/`, one stylesheet in `crates/server/assets/`),
//! no script and no inline style, so that the CSP allows only this
//! server's own files. Pages are endpoints of the same table as the API:
//! the router applies the same authentication, and the tenancy test walks
//! them too. One file per page area; the domain work (signing in, device
//! queries) lives outside the handlers.
//!
//! A page that needs a user and finds none answers a redirect to the
//! sign-in page (which brings the user back afterwards), not the API's 401.

mod account;
mod agents;
mod dashboard;
mod devices;
mod reports;
mod signin;

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{AppState, Credential, Endpoint, Principal};
use crate::ServerError;

/// What a page may load: this server's files only; forms post here only;
/// never framed.
const PAGE_CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; \
                        frame-ancestors 'none'; object-src 'none'";

/// The portal's stylesheet, also the API reference's.
pub const STYLESHEET: &str = include_str!("../../../assets/style.css");

pub(super) fn endpoints() -> Vec<Endpoint> {
    let mut all = vec![
        Endpoint::new(
            axum::http::Method::GET,
            "/assets/style.css",
            "The portal's stylesheet",
            super::Access::Public,
            axum::routing::get(stylesheet),
        )
        .document("text/css"),
    ];
    for (path, summary, media) in [
        (
            "/assets/uplot.iife.min.js",
            "uPlot 1.6.32 (vendored, MIT): the portal's charts",
            "text/javascript",
        ),
        ("/assets/uplot.min.css", "uPlot's stylesheet", "text/css"),
        (
            "/assets/device-chart.js",
            "The device page's meter chart",
            "text/javascript",
        ),
    ] {
        all.push(
            Endpoint::new(
                axum::http::Method::GET,
                path,
                summary,
                super::Access::Public,
                axum::routing::get(move || asset(path)),
            )
            .document(media),
        );
    }
    all.extend(signin::endpoints());
    all.extend(account::endpoints());
    all.extend(dashboard::endpoints());
    all.extend(devices::endpoints());
    all.extend(reports::endpoints());
    all.extend(agents::endpoints());
    all
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            // The one answer that may be cached: it holds nothing private.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// A static file of the portal, compiled in.
async fn asset(path: &'static str) -> Response {
    let (media, body) = match path {
        "/assets/uplot.iife.min.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../../../assets/vendor/uplot/uPlot.iife.min.js"),
        ),
        "/assets/uplot.min.css" => (
            "text/css; charset=utf-8",
            include_str!("../../../assets/vendor/uplot/uPlot.min.css"),
        ),
        "/assets/device-chart.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../../../assets/device-chart.js"),
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, media),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The signed-in user of a page, with what every page's frame shows (who
/// is signed in, the CSRF token of the sign-out form).
pub(super) struct PageUser {
    pub principal: Principal,
    pub frame: Frame,
}

/// What the frame of every signed-in page shows.
pub(super) struct Frame {
    pub email: String,
    pub role: String,
    pub csrf_token: String,
    /// Which entry of the navigation is this page.
    pub current: &'static str,
    /// The navigation shows the agents (the user may manage them).
    pub agents: bool,
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Principal::from_request_parts(parts, state).await {
            Ok(principal) => {
                let csrf_token = match &principal.via {
                    Credential::Session { csrf, .. } => csrf.clone(),
                    // A token reads pages (scripts, tests) but has no forms.
                    Credential::Token(_) => String::new(),
                };
                let frame = Frame {
                    email: principal.user.email.clone(),
                    role: principal.role.as_str().to_string(),
                    csrf_token,
                    current: "",
                    agents: principal
                        .require(crate::model::Permission::ManageAgents)
                        .is_ok(),
                };
                Ok(PageUser { principal, frame })
            }
            Err(ServerError::Unauthenticated) => {
                let back = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into());
                let to = format!("/login?next={}", encode(&back));
                Err(Redirect::to(&to).into_response())
            }
            Err(other) => Err(error_page(other)),
        }
    }
}

/// Percent-encode for a query value.
pub(super) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A rendered page with the portal's headers.
pub(super) fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response();
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_CSP),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page did not render: the server log has the details",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    message: String,
}

/// An error as a page: the same words as the API's, in HTML.
pub(super) fn error_page(error: ServerError) -> Response {
    let status = super::status_of(&error);
    let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = %error, "page failed");
        "Something went wrong on the server; its log has the details.".to_string()
    } else if status == StatusCode::NOT_FOUND {
        "Not found: it does not exist, or it is not yours to see.".to_string()
    } else {
        error.to_string()
    };
    page(
        status,
        &ErrorPage {
            status: status.as_u16(),
            message,
        },
    )
}

/// A page handler's result: the page, or its error as a page.
pub(super) type PageResult = Result<Response, PageError>;

/// A [`ServerError`] answered as a page.
pub(super) struct PageError(ServerError);

impl From<ServerError> for PageError {
    fn from(e: ServerError) -> PageError {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0)
    }
}

/// The server's path extractor, refusals answered as a page.
pub(super) struct PagePath<T>(pub T);

impl<T, S> FromRequestParts<S> for PagePath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        let super::extract::Path(value) =
            super::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(PagePath(value))
    }
}

/// The server's query extractor, refusals answered as a page.
pub(super) struct PageQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for PageQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        let super::extract::Query(value) =
            super::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(PageQuery(value))
    }
}

/// A form's fields (`application/x-www-form-urlencoded`), refusals
/// answered as a page. A JSON object is read alike, its numbers and
/// booleans as their text, so that scripts and the tenancy test may post
/// the same fields as JSON; `T`'s fields are therefore text.
pub(super) struct PageForm<T>(pub T);

impl<T, S> FromRequest<S> for PageForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, PageError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
        if !is_json {
            let axum::Form(value) = axum::Form::<T>::from_request(request, state)
                .await
                .map_err(|e| ServerError::Invalid(format!("the form: {}", e.body_text())))?;
            return Ok(PageForm(value));
        }
        let bytes = axum::body::to_bytes(request.into_body(), super::MAX_API_BODY)
            .await
            .map_err(|_| ServerError::Invalid("the form is too large".into()))?;
        let value: serde_json::Value = if bytes.is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| ServerError::Invalid(format!("the form: {e}")))?
        };
        let serde_json::Value::Object(fields) = value else {
            return Err(ServerError::Invalid("the form: expected an object".into()).into());
        };
        let text: serde_json::Map<String, serde_json::Value> = fields
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(_) => Some((k, v)),
                serde_json::Value::Number(n) => Some((k, n.to_string().into())),
                serde_json::Value::Bool(b) => Some((k, b.to_string().into())),
                _ => None,
            })
            .collect();
        serde_json::from_value(serde_json::Value::Object(text))
            .map(PageForm)
            .map_err(|e| ServerError::Invalid(format!("the form: {e}")).into())
    }
}

/// Times on pages: UTC, to the minute.
pub(super) fn when(unix: i64) -> String {
    let text = crate::ingest::format_time(unix);
    text.get(..16).map(|t| t.replace('T', " ")).unwrap_or(text) + " UTC"
}
