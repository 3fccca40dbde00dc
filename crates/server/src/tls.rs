//! HTTPS: rustls with the ring provider, from PEM files (`--tls-cert`,
//! `--tls-key`). One TLS stack only: OpenSSL and native-tls are not in the
//! dependency tree (`.ci/run` checks it).

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

use crate::http::AppState;
use crate::{Result, ServerError};

fn bad(path: &Path, what: &str) -> ServerError {
    ServerError::Invalid(format!(
        "{}: {what}; give a PEM certificate chain (--tls-cert) and its PEM private key (--tls-key)",
        path.display()
    ))
}

/// The rustls configuration of a certificate chain and key (PEM files).
pub fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, &e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(cert, &e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(cert, "no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Invalid(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Invalid(format!("TLS certificate and key do not match: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serve HTTPS until `shutdown` completes (see [`crate::serve::run_with`]:
/// handshake and header-read timeouts, requests in flight finish).
pub async fn run(
    state: AppState,
    listener: tokio::net::TcpListener,
    config: Arc<ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    crate::serve::run_with(
        state,
        listener,
        Some(config),
        crate::serve::Limits::default(),
        shutdown,
    )
    .await
}
