//! The extractors handlers use for bodies, paths and queries: axum's own,
//! with their refusals answered in the API's words and shape
//! (`{"error": "invalid request: …"}`, 400; 413 for a body too large)
//! instead of the framework's plain-text 422s and 400s.

// The one place that wraps axum's own extractors.
#![allow(clippy::disallowed_types)]

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ServerError;

/// A JSON body (request) or answer (response).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ServerError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_refusal(&rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_refusal(rejection: &JsonRejection) -> ServerError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            ServerError::Invalid(format!("the JSON body does not fit: {}", inner(e)))
        }
        JsonRejection::JsonSyntaxError(e) => {
            ServerError::Invalid(format!("the body is not valid JSON: {}", inner(e)))
        }
        JsonRejection::MissingJsonContentType(_) => ServerError::Invalid(
            "send the body as JSON, with the header `Content-Type: application/json`".into(),
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ServerError::BodyTooLarge,
        other => ServerError::Invalid(format!("the body could not be read: {}", inner(other))),
    }
}

/// Values taken from the URL path.
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(path_refusal(&rejection)),
        }
    }
}

fn path_refusal(rejection: &PathRejection) -> ServerError {
    match rejection {
        // An id that is no number names nothing that exists.
        PathRejection::FailedToDeserializePathParams(_) => ServerError::NotFound,
        other => ServerError::Invalid(format!("the path could not be read: {}", inner(other))),
    }
}

/// Values taken from the URL's query string.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_refusal(&rejection)),
        }
    }
}

fn query_refusal(rejection: &QueryRejection) -> ServerError {
    ServerError::Invalid(format!(
        "the query string does not fit: {}",
        inner(rejection)
    ))
}

/// The innermost cause of a rejection, which is the part that names the
/// field and the position (axum's own text wraps it in its own words).
fn inner(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
