//! The WebSocket of the command channel, opened as an HTTP/1.1 Upgrade on
//! one of the transport's own connections (same proxy tunnel, TLS and CA
//! as every other request) and wrapped with
//! `tokio_tungstenite::WebSocketStream::from_raw_socket`: tungstenite does
//! no I/O setup and brings no TLS stack of its own.

use base64::Engine as _;
use hyper::header::{
    CONNECTION, HOST, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE, USER_AGENT,
};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// A connection of any kind (TCP, TLS, an upgraded one).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open connection to the server.
pub type ChannelIo = Box<dyn Io>;

/// Why no WebSocket.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// The server (or something on the way) answered the Upgrade with
    /// something else than 101: use long-polling.
    #[error("the WebSocket was refused: {0}")]
    Refused(String),
    /// No answer (unreachable, timeout, broken exchange): try again later.
    #[error("{0}")]
    Failed(String),
}

/// Upgrades `stream` to a WebSocket at `uri`; the upgraded connection.
pub async fn upgrade(
    stream: ChannelIo,
    uri: &str,
    host: &str,
    user_agent: &HeaderValue,
    server: &str,
) -> Result<ChannelIo, WsError> {
    let failed = |e: hyper::Error| WsError::Failed(format!("server {server}: {e}"));
    let mut nonce = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let key = base64::engine::general_purpose::STANDARD.encode(nonce);
    let host = HeaderValue::from_str(host).map_err(|_| WsError::Failed(format!("host {host}")))?;
    let key_value =
        HeaderValue::from_str(&key).map_err(|_| WsError::Failed("a WebSocket key".into()))?;
    let request = hyper::Request::get(uri)
        .header(HOST, host)
        .header(USER_AGENT, user_agent.clone())
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "websocket")
        .header(SEC_WEBSOCKET_VERSION, "13")
        .header(SEC_WEBSOCKET_KEY, key_value)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|_| WsError::Failed(format!("the path {uri}")))?;
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(64 * 1024)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(failed)?;
    // Drives the connection until the upgrade hands it over.
    let driver = tokio::spawn(connection.with_upgrades());
    let answer = sender.send_request(request).await.map_err(failed)?;
    if answer.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        driver.abort();
        return Err(WsError::Refused(format!("HTTP {}", answer.status())));
    }
    let expected = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let accepted = answer
        .headers()
        .get(SEC_WEBSOCKET_ACCEPT)
        .and_then(|v| v.to_str().ok());
    if accepted != Some(expected.as_str()) {
        driver.abort();
        return Err(WsError::Refused(
            "the answer to the Upgrade is not a WebSocket's".into(),
        ));
    }
    let upgraded = hyper::upgrade::on(answer).await.map_err(failed)?;
    Ok(Box::new(TokioIo::new(upgraded)))
}
