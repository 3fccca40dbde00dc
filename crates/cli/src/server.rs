//! `printwatch server`: the server half (storage, agents' endpoints, REST
//! API). Thin: the work is in `printwatch-server`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use printwatch_server::serve::{self, ADMIN_PASSWORD_ENV, ServeConfig};

/// Environment variable read when `--database-url` is not given.
const DATABASE_URL_ENV: &str = "PRINTWATCH_DATABASE_URL";

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
    /// Address to listen on (HTTP; put TLS in front until --tls-cert lands).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
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
    let password = std::env::var(ADMIN_PASSWORD_ENV).ok();
    let (state, first) = serve::open(&config, password)
        .await
        .context("cannot open the server's storage")?;
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
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (in use? try --listen)", args.listen))?;
    let addr = listener.local_addr().context("listening address")?;
    eprintln!(
        "printwatch server: listening on http://{addr} (API: http://{addr}/api/v1/openapi.json)"
    );
    serve::run(state, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("the server stopped")?;
    Ok(())
}
