//! `printwatch server`: the server half (storage, agents' endpoints, REST
//! API). Thin: the work is in `printwatch-server`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use ipnet::IpNet;
use printwatch_server::http::TrustedProxies;
use printwatch_server::serve::{self, ADMIN_PASSWORD_ENV, ServeConfig};

/// Environment variable read when `--database-url` is not given.
const DATABASE_URL_ENV: &str = "PRINTWATCH_DATABASE_URL";
/// Environment variable read when no `--trusted-proxy` is given (comma-separated).
const TRUSTED_PROXIES_ENV: &str = "PRINTWATCH_TRUSTED_PROXIES";

#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// Data directory: the SQLite database and the master key (created if missing).
    #[arg(long, value_name = "DIR", default_value = "printwatch-data")]
    data: PathBuf,
    /// PostgreSQL instead of SQLite: postgres://USER:PASSWORD@HOST/DB
    /// (default: $PRINTWATCH_DATABASE_URL). Several servers may share one;
    /// give them the same PRINTWATCH_MASTER_KEY.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A reverse proxy in front of the server (CIDR or address; repeatable;
    /// default: $PRINTWATCH_TRUSTED_PROXIES, comma-separated). Only these
    /// peers' X-Forwarded-For / Forwarded and X-Forwarded-Proto are believed.
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = TrustedProxies::parse_net)]
    trusted_proxies: Vec<IpNet>,
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let config = ServeConfig {
        data_dir: args.data,
        database_url: args.database_url.or_else(|| {
            std::env::var(DATABASE_URL_ENV)
                .ok()
                .filter(|u| !u.is_empty())
        }),
    };
    let mut proxies = args.trusted_proxies;
    if proxies.is_empty()
        && let Ok(list) = std::env::var(TRUSTED_PROXIES_ENV)
    {
        for net in list.split(',').filter(|n| !n.trim().is_empty()) {
            proxies.push(
                TrustedProxies::parse_net(net)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("${TRUSTED_PROXIES_ENV}"))?,
            );
        }
    }
    let password = std::env::var(ADMIN_PASSWORD_ENV).ok();
    let (state, first) = serve::open(&config, password)
        .await
        .context("cannot open the server's storage")?;
    let state = state.with_trusted_proxies(TrustedProxies::new(proxies));
    if let Some(first) = first {
        println!(
            "First start: created the provider tenant and the administrator {}.",
            first.admin_email
        );
        match first.generated_password {
            Some(p) => println!(
                "Administrator password (shown once, store it now): {p}\n\
                 Set {ADMIN_PASSWORD_ENV} on the first start to choose it instead."
            ),
            None => println!("Administrator password: from {ADMIN_PASSWORD_ENV}."),
        }
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            printwatch_server::tls::load(cert, key).context("cannot load the TLS certificate")?,
        ),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (in use? try --listen)", args.listen))?;
    let addr = listener.local_addr().context("listening address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "printwatch server: listening on {scheme}://{addr} (API: {scheme}://{addr}/api/v1/openapi.json)"
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match tls {
        Some(config) => printwatch_server::tls::run(state, listener, config, shutdown).await,
        None => serve::run(state, listener, shutdown).await,
    }
    .context("the server stopped")?;
    Ok(())
}
