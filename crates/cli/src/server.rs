//! `printwatch server`: the server half (storage, agents' endpoints, REST
//! API). Thin: the work is in `printwatch-server`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use ipnet::IpNet;
use printwatch_server::http::TrustedProxies;
use printwatch_server::serve::{self, ADMIN_EMAIL_ENV, ADMIN_PASSWORD_ENV, ServeConfig};

/// Environment variable read when `--database-url` is not given.
const DATABASE_URL_ENV: &str = "PRINTWATCH_DATABASE_URL";
/// Environment variable read when no `--trusted-proxy` is given (comma-separated).
const TRUSTED_PROXIES_ENV: &str = "PRINTWATCH_TRUSTED_PROXIES";

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServerArgs {
    #[command(subcommand)]
    action: Option<ServerAction>,
    #[command(flatten)]
    storage: Storage,
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
    /// The first administrator's e-mail (login name): needed at the first
    /// start, ignored later (default: $PRINTWATCH_ADMIN_EMAIL). There is no
    /// built-in name: a known administrator login invites guessing.
    #[arg(long, value_name = "EMAIL")]
    admin_email: Option<String>,
    /// Days a new API token lives when its creator asks for none (1–3650;
    /// "never" only when asked for per token).
    #[arg(long, value_name = "DAYS", default_value_t = printwatch_server::http::DEFAULT_TOKEN_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    token_days: u32,
    /// Also listen on this address for plain HTTP, only to send browsers to
    /// the HTTPS listener (308, same host and path); needs --tls-cert.
    #[arg(long, value_name = "ADDR:PORT", requires = "tls_cert")]
    redirect_http: Option<SocketAddr>,
}

/// Where the server's data is.
#[derive(clap::Args, Debug)]
struct Storage {
    /// Data directory: the SQLite database and the master key (created if missing).
    #[arg(long, value_name = "DIR", default_value = "printwatch-data")]
    data: PathBuf,
    /// PostgreSQL instead of SQLite: postgres://USER:PASSWORD@HOST/DB
    /// (default: $PRINTWATCH_DATABASE_URL). Several servers may share one;
    /// give them the same PRINTWATCH_MASTER_KEY.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
}

impl Storage {
    fn config(self) -> ServeConfig {
        ServeConfig {
            data_dir: self.data,
            database_url: self.database_url.or_else(|| {
                std::env::var(DATABASE_URL_ENV)
                    .ok()
                    .filter(|u| !u.is_empty())
            }),
        }
    }
}

#[derive(clap::Subcommand, Debug)]
enum ServerAction {
    /// Give a user (a lost administrator's, typically) a new password, from
    /// the machine the server runs on: its sessions and API tokens end, its
    /// failed logins are forgotten, and the audit log records it. The new
    /// password is $PRINTWATCH_NEW_PASSWORD, or generated and shown once.
    ResetPassword {
        #[command(flatten)]
        storage: Storage,
        /// Remove the user's second factor too (a lost authenticator); they
        /// enrol a new one after logging in.
        #[arg(long)]
        remove_second_factor: bool,
        /// The user's e-mail (login name).
        #[arg(value_name = "EMAIL")]
        email: String,
    },
}

/// Environment variable with the new password of `reset-password`.
const NEW_PASSWORD_ENV: &str = "PRINTWATCH_NEW_PASSWORD";

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    if let Some(ServerAction::ResetPassword {
        storage,
        remove_second_factor,
        email,
    }) = args.action
    {
        return reset_password(storage.config(), &email, remove_second_factor).await;
    }
    let config = args.storage.config();
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
    let admin_email = args.admin_email.or_else(|| {
        std::env::var(ADMIN_EMAIL_ENV)
            .ok()
            .filter(|e| !e.is_empty())
    });
    let (state, first) = serve::open_as(&config, admin_email.as_deref(), password)
        .await
        .context("cannot open the server's storage")?;
    let state = state
        .with_trusted_proxies(TrustedProxies::new(proxies))
        .with_token_days(args.token_days);
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
    // One descriptor per connection: the default soft limit (1,024) would
    // run out long before the server's connection cap.
    serve::raise_open_file_limit(&serve::Limits::default());
    let listener = serve::listen(args.listen)
        .with_context(|| format!("cannot listen on {} (in use? try --listen)", args.listen))?;
    let addr = listener.local_addr().context("listening address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "printwatch server: listening on {scheme}://{addr} (API reference: {scheme}://{addr}/api/docs)"
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
    });
    let stopping = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    if let Some(plain) = args.redirect_http {
        let redirect = serve::listen(plain)
            .with_context(|| format!("cannot listen on {plain} (--redirect-http)"))?;
        eprintln!("printwatch server: plain HTTP on http://{plain} sends browsers to HTTPS");
        let https_port = addr.port();
        let done = stopping(stopped.clone());
        tokio::spawn(async move {
            let limits = serve::Limits::default();
            if let Err(e) = serve::run_redirect(redirect, https_port, limits, done).await {
                eprintln!("printwatch server: the HTTP redirect stopped: {e}");
            }
        });
    }
    let shutdown = stopping(stopped);
    match tls {
        Some(config) => printwatch_server::tls::run(state, listener, config, shutdown).await,
        None => serve::run(state, listener, shutdown).await,
    }
    .context("the server stopped")?;
    Ok(())
}

async fn reset_password(
    config: ServeConfig,
    email: &str,
    remove_second_factor: bool,
) -> anyhow::Result<()> {
    let password = std::env::var(NEW_PASSWORD_ENV).ok();
    let reset =
        printwatch_server::console::reset_password(&config, email, password, remove_second_factor)
            .await
            .context("cannot reset the password")?;
    println!(
        "{}: new password set; sessions ended and API tokens revoked (audited).",
        reset.email
    );
    match reset.generated_password {
        Some(p) => println!("New password (shown once, store it now): {p}"),
        None => println!("New password: from {NEW_PASSWORD_ENV}."),
    }
    if reset.second_factor_removed {
        println!("Second factor removed: enrol a new one after logging in.");
    }
    if reset.disabled {
        println!("Note: this user is disabled; another administrator can enable it.");
    }
    Ok(())
}

/// A server in this process for `printwatch demo`, and the few API calls
/// the demo makes through its own router (the same API as over HTTP).
pub struct DemoServer {
    pub addr: SocketAddr,
    router: axum::Router,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

pub async fn start_for_demo(
    data_dir: PathBuf,
    listen: SocketAddr,
    password: &str,
) -> anyhow::Result<DemoServer> {
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let config = ServeConfig {
        data_dir,
        database_url: None,
    };
    let (state, _) = serve::open(&config, Some(password.to_owned()))
        .await
        .context("cannot open the demo server's storage")?;
    let listener = match serve::listen(listen) {
        Ok(l) => l,
        // Taken (another demo?): any free port.
        Err(_) => {
            serve::listen(SocketAddr::new(listen.ip(), 0)).context("cannot listen on loopback")?
        }
    };
    let addr = listener.local_addr()?;
    let router = printwatch_server::http::router(state.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(e) = serve::run(state, listener, shutdown).await {
            eprintln!("printwatch demo: the server stopped: {e}");
        }
    });
    Ok(DemoServer {
        addr,
        router,
        stop,
        task,
    })
}

impl DemoServer {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(axum::body::Body::from(body.to_string()))?;
        let response = self.router.clone().oneshot(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            anyhow::bail!(
                "{method} {path}: {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let answer = self
            .call(
                "POST",
                "/api/v1/login",
                None,
                serde_json::json!({"email": email, "password": password}),
            )
            .await?;
        text(&answer, "token")
    }

    /// The new agent's activation code.
    pub async fn create_agent(&self, token: &str, name: &str) -> anyhow::Result<String> {
        let tenants = self
            .call(
                "GET",
                "/api/v1/tenants",
                Some(token),
                serde_json::Value::Null,
            )
            .await?;
        let tenant = tenants
            .as_array()
            .and_then(|t| t.first())
            .and_then(|t| t.get("id"))
            .and_then(serde_json::Value::as_i64)
            .context("the demo server has no tenant")?;
        let answer = self
            .call(
                "POST",
                "/api/v1/agents",
                Some(token),
                serde_json::json!({"tenant_id": tenant, "name": name}),
            )
            .await?;
        text(&answer, "activation_code")
    }

    pub async fn create_token(
        &self,
        token: &str,
        name: &str,
        role: &str,
    ) -> anyhow::Result<String> {
        let answer = self
            .call(
                "POST",
                "/api/v1/tokens",
                Some(token),
                serde_json::json!({"name": name, "role": role}),
            )
            .await?;
        text(&answer, "token")
    }

    /// The ids of the devices the caller sees.
    pub async fn device_ids(&self, token: &str) -> anyhow::Result<Vec<i64>> {
        let answer = self
            .call(
                "GET",
                "/api/v1/devices?limit=1000",
                Some(token),
                serde_json::Value::Null,
            )
            .await?;
        Ok(answer["devices"]
            .as_array()
            .map(|list| list.iter().filter_map(|d| d["id"].as_i64()).collect())
            .unwrap_or_default())
    }

    /// A group of these devices, granted to the caller: what its viewer
    /// tokens see.
    pub async fn grant_fleet(&self, token: &str, devices: &[i64]) -> anyhow::Result<()> {
        let me = self
            .call("GET", "/api/v1/me", Some(token), serde_json::Value::Null)
            .await?;
        let (user, tenant) = (me["user"]["id"].as_i64(), me["user"]["tenant_id"].as_i64());
        let (Some(user), Some(tenant)) = (user, tenant) else {
            anyhow::bail!("GET /api/v1/me: no user id or tenant_id in {me}");
        };
        let group = self
            .call(
                "POST",
                "/api/v1/groups",
                Some(token),
                serde_json::json!({"tenant_id": tenant, "name": "demo fleet"}),
            )
            .await?;
        let group = group["id"].as_i64().context("no id for the new group")?;
        for device in devices {
            self.call(
                "POST",
                &format!("/api/v1/groups/{group}/devices"),
                Some(token),
                serde_json::json!({"device_id": device}),
            )
            .await?;
        }
        self.call(
            "POST",
            &format!("/api/v1/groups/{group}/grants"),
            Some(token),
            serde_json::json!({"user_id": user}),
        )
        .await?;
        Ok(())
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}

fn text(answer: &serde_json::Value, key: &str) -> anyhow::Result<String> {
    answer
        .get(key)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no {key:?} in the server's answer"))
}
