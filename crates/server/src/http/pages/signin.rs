//! Signing in and out of the portal: e-mail and password, then the
//! authenticator's code when one is enrolled. The work is the sign-in
//! service's (`http/signin.rs`), shared with the API's login.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{PageQuery, PageResult, PageUser, page};
use crate::ServerError;
use crate::http::client::Client;
use crate::http::{Access, AppState, Credential, Endpoint, session, signin};
use crate::model::Permission;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::GET,
            "/login",
            "The portal's sign-in page",
            Access::Public,
            get(show),
        )
        .document("text/html"),
        Endpoint::new(
            Method::POST,
            "/login",
            "Sign in to the portal (a form: email, password, totp): a session cookie and a redirect",
            Access::Public,
            post(submit),
        )
        .document("text/html"),
        Endpoint::new(
            Method::POST,
            "/logout",
            "Sign out of the portal (a form with the session's csrf_token)",
            Access::User(Permission::ReadDevices),
            post(logout),
        )
        .document("text/html"),
    ]
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    email: String,
    /// The code field is shown (the account has a second factor) instead
    /// of the password, which `proof` stands for.
    ask_code: bool,
    proof: String,
    error: String,
    next: String,
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// Only a path of this server: never another site (an open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".into(),
    }
}

async fn show(PageQuery(q): PageQuery<Next>) -> Response {
    page(
        StatusCode::OK,
        &LoginPage {
            email: String::new(),
            ask_code: false,
            proof: String::new(),
            error: String::new(),
            next: safe_next(q.next.as_deref()),
        },
    )
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    #[serde(default)]
    password: String,
    /// The second step's stand-in for the password.
    #[serde(default)]
    proof: Option<String>,
    #[serde(default)]
    totp: Option<String>,
    #[serde(default)]
    next: Option<String>,
}

async fn submit(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let totp = form
        .totp
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let attempt = signin::Attempt {
        email: &form.email,
        password: &form.password,
        proof: form.proof.as_deref().filter(|p| !p.is_empty()),
        totp,
        session: true,
        client: &client,
        headers: &headers,
    };
    let now = crate::now();
    let refused = |status: StatusCode, proof: Option<String>, error: &str| {
        page(
            status,
            &LoginPage {
                email: form.email.chars().take(254).collect(),
                ask_code: proof.is_some(),
                proof: proof.unwrap_or_default(),
                error: error.into(),
                next: next.clone(),
            },
        )
    };
    // The password was right (or its proof held): the next form asks for
    // the code alone, carrying a fresh proof instead of the password.
    let proof = || signin::password_proof(&state, &form.email.trim().to_lowercase(), now).ok();
    let user = match signin::authenticate(&state, &attempt).await {
        Ok(user) => user,
        Err(ServerError::TotpRequired) => {
            return refused(
                StatusCode::UNAUTHORIZED,
                proof(),
                "Enter the 6-digit code from your authenticator app.",
            );
        }
        Err(ServerError::WrongSecondFactor) => {
            return refused(
                StatusCode::UNAUTHORIZED,
                proof(),
                "That code is wrong or was used already: wait for the next one.",
            );
        }
        Err(ServerError::WrongCredentials) => {
            return refused(StatusCode::UNAUTHORIZED, None, "Wrong e-mail or password.");
        }
        Err(ServerError::RateLimited) => {
            return refused(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                "Too many attempts: wait a few minutes and try again.",
            );
        }
        Err(ServerError::Invalid(why)) => {
            return refused(StatusCode::BAD_REQUEST, None, &why);
        }
        Err(other) => return super::error_page(other),
    };
    match signin::open_session(&state, &user, &client, &headers, &user.email, now).await {
        Ok(opened) => (
            [(
                SET_COOKIE,
                session::set_cookie(&opened.secret, client.https),
            )],
            Redirect::to(&next),
        )
            .into_response(),
        Err(e) => super::error_page(e),
    }
}

async fn logout(State(state): State<AppState>, user: PageUser, client: Client) -> PageResult {
    user.principal.require(Permission::ReadDevices)?;
    if let Credential::Session { id, .. } = user.principal.via {
        state.store.delete_session(id).await?;
        user.principal
            .audit(
                &state,
                user.principal.scope(),
                "logout",
                format!("session {id}"),
                String::new(),
            )
            .await?;
    }
    Ok((
        [(SET_COOKIE, session::clear_cookie(client.https))],
        Redirect::to("/login"),
    )
        .into_response())
}
