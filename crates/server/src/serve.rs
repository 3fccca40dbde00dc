//! Starting the server: open the store, first-start initialisation, listen.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::http::{AppState, router};
use crate::secrets::{MasterKey, hash_password, random_secret};
use crate::store::{DynStore, SqlStore, redact_url};
use crate::{Result, ServerError};

/// Environment variable with the first administrator's password.
pub const ADMIN_PASSWORD_ENV: &str = "PRINTWATCH_ADMIN_PASSWORD";
/// The first administrator's e-mail (login name).
pub const ADMIN_EMAIL: &str = "admin@localhost";

#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Holds the SQLite database (unless `database_url` is set) and
    /// `master.key` (unless `PRINTWATCH_MASTER_KEY` is set).
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of SQLite.
    pub database_url: Option<String>,
}

/// What the first start created.
#[derive(Debug)]
pub struct FirstStart {
    pub admin_email: String,
    /// Set when the password was generated: print it once, never log it.
    pub generated_password: Option<String>,
}

/// Open the store and the master key; initialise on first start.
pub async fn open(
    config: &ServeConfig,
    admin_password: Option<String>,
) -> Result<(AppState, Option<FirstStart>)> {
    let io = |source| ServerError::Io {
        path: config.data_dir.display().to_string(),
        source,
    };
    if !config.data_dir.exists() {
        std::fs::create_dir_all(&config.data_dir).map_err(io)?;
        // The database holds password hashes and sealed keys: owner only.
        #[cfg(unix)]
        std::fs::set_permissions(
            &config.data_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .map_err(io)?;
    }
    let store = match &config.database_url {
        Some(url) => {
            tracing::info!(database = %redact_url(url), "opening PostgreSQL");
            SqlStore::connect(url).await?
        }
        None => SqlStore::open_data_dir(&config.data_dir).await?,
    };
    let master = MasterKey::load_or_create(&config.data_dir)?;
    let store: DynStore = Arc::new(store);
    check_master_key(&store, &master).await?;
    let first = first_start(&store, admin_password).await?;
    Ok((AppState::new(store, master), first))
}

/// The database remembers the first server's master key (as a check
/// value): a server with another key would seal agent keys that the others
/// cannot open, and could open none of theirs, so it must not start.
pub async fn check_master_key(store: &DynStore, master: &MasterKey) -> Result<()> {
    let mine = master.check_value();
    let stored = store.settle_setting(MASTER_KEY_CHECK, &mine).await?;
    if stored != mine {
        return Err(ServerError::MasterKey(format!(
            "this server's master key is not the one this database was first started with: \
             give every server the same key ({} or master.key in the data directory)",
            crate::secrets::MASTER_KEY_ENV
        )));
    }
    Ok(())
}

/// Setting name of the master key's check value.
const MASTER_KEY_CHECK: &str = "master_key_check";

/// Create the provider tenant and its administrator if there is none.
pub async fn first_start(
    store: &DynStore,
    admin_password: Option<String>,
) -> Result<Option<FirstStart>> {
    // Fast path for every later start: no password hash to compute.
    if store.provider().await?.is_some() {
        return Ok(None);
    }
    let (password, generated) = match admin_password.filter(|p| !p.is_empty()) {
        Some(p) => (p, false),
        None => (random_secret(18), true),
    };
    // Several servers may get here at once: one transaction decides.
    if store
        .initialise(ADMIN_EMAIL, &hash_password(&password)?, crate::now())
        .await?
        .is_none()
    {
        return Ok(None);
    }
    Ok(Some(FirstStart {
        admin_email: ADMIN_EMAIL.into(),
        generated_password: generated.then_some(password),
    }))
}

/// Serve until `shutdown` completes.
pub async fn run(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServerError::Io { path: addr, source })
}

/// The data directory's default, for the CLI.
pub fn default_data_dir() -> &'static Path {
    Path::new("printwatch-data")
}
