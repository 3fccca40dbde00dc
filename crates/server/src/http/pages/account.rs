//! The account page: the signed-in user's second factor. Enrolling shows
//! the authenticator's QR code, rendered on the server as SVG (no script,
//! no image from elsewhere), and the secret to type in; a code of the new
//! secret confirms it. The rules are the API's (`http/second_factor.rs`).

use askama::Template;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Frame, PageForm, PageResult, PageUser, page};
use crate::ServerError;
use crate::http::client::Client;
use crate::http::{Access, AppState, Endpoint, second_factor};
use crate::model::Permission;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::GET,
            "/account",
            "The portal's account page: the second factor",
            Access::User(Permission::ReadDevices),
            get(show),
        )
        .document("text/html"),
        Endpoint::new(
            Method::POST,
            "/account/totp",
            "Start enrolling an authenticator (a form: password, and the current code when one is enrolled)",
            Access::User(Permission::ReadDevices),
            post(enrol),
        )
        .document("text/html"),
        Endpoint::new(
            Method::POST,
            "/account/totp/confirm",
            "Confirm the new authenticator with one of its codes (a form: code)",
            Access::User(Permission::ReadDevices),
            post(confirm),
        )
        .document("text/html"),
    ]
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    frame: Frame,
    enrolled: bool,
    /// Set while an enrolment waits for its first code.
    qr_svg: String,
    secret: String,
    message: String,
    error: String,
}

async fn render(
    state: &AppState,
    user: PageUser,
    status: StatusCode,
    qr: Option<(String, String)>,
    message: &str,
    error: &str,
) -> PageResult {
    let enrolled = state
        .store
        .totp_state(user.principal.user.id)
        .await?
        .is_some_and(|t| t.sealed.is_some());
    let mut frame = user.frame;
    frame.current = "account";
    let (qr_svg, secret) = qr.unwrap_or_default();
    Ok(page(
        status,
        &AccountPage {
            frame,
            enrolled,
            qr_svg,
            secret,
            message: message.into(),
            error: error.into(),
        },
    ))
}

async fn show(State(state): State<AppState>, user: PageUser) -> PageResult {
    user.principal.require(Permission::ReadDevices)?;
    render(&state, user, StatusCode::OK, None, "", "").await
}

#[derive(Deserialize)]
struct EnrolForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: Option<String>,
}

/// The QR code of an `otpauth://` URL, as an SVG element.
fn qr_svg(url: &str) -> Result<String, ServerError> {
    let code = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| ServerError::Invalid(format!("the QR code could not be made: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    // The element alone: no XML declaration inside HTML.
    Ok(match svg.find("<svg") {
        Some(at) => svg[at..].to_string(),
        None => svg,
    })
}

async fn enrol(
    State(state): State<AppState>,
    user: PageUser,
    client: Client,
    PageForm(form): PageForm<EnrolForm>,
) -> Result<Response, super::PageError> {
    let code = form
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    match second_factor::begin(&state, &user.principal, &client, &form.password, code).await {
        Ok(enrolment) => {
            let svg = qr_svg(&enrolment.otpauth_url)?;
            render(
                &state,
                user,
                StatusCode::OK,
                Some((svg, enrolment.secret)),
                "Scan the code with your authenticator app (or type the secret in), then enter the 6-digit code it shows.",
                "",
            )
            .await
        }
        Err(ServerError::Invalid(why)) => {
            render(&state, user, StatusCode::BAD_REQUEST, None, "", &why).await
        }
        Err(ServerError::RateLimited) => {
            let why = "Too many attempts: wait a few minutes and try again.";
            render(&state, user, StatusCode::TOO_MANY_REQUESTS, None, "", why).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    code: String,
}

async fn confirm(
    State(state): State<AppState>,
    user: PageUser,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, super::PageError> {
    match second_factor::confirm(&state, &user.principal, form.code.trim()).await {
        Ok(()) => {
            let done = "Your authenticator is enrolled: signing in now asks for its code.";
            render(&state, user, StatusCode::OK, None, done, "").await
        }
        Err(ServerError::Invalid(why)) => {
            render(&state, user, StatusCode::BAD_REQUEST, None, "", &why).await
        }
        Err(other) => Err(other.into()),
    }
}
