//! What an operator does on the machine the server runs on, without the
//! API: the way back in when the only administrator lost their password
//! (or the phone with their second factor). Access to the data directory
//! (or the database URL) is the authority here, as root is for a local
//! account; every change is audited like its API counterpart.

use crate::http::{ACCOUNT_LOGIN_LIMIT, MIN_PASSWORD_LEN};
use crate::model::NewAudit;
use crate::secrets::{hash_password, random_secret};
use crate::serve::ServeConfig;
use crate::store::{DynStore, SqlStore};
use crate::{Result, ServerError};

/// Who the audit log names for changes made here.
pub const CONSOLE_ACTOR: &str = "console (printwatch server reset-password)";

/// What [`reset_password`] did.
#[derive(Debug)]
pub struct PasswordReset {
    pub email: String,
    /// Set when the password was generated: print it once, never log it.
    pub generated_password: Option<String>,
    pub second_factor_removed: bool,
    /// The account stays disabled if it was: enabling is an administrator's
    /// decision, made in the API once logged in.
    pub disabled: bool,
}

/// Give `email` a new password (`new_password`, or a generated one), end
/// its sessions and API tokens, forget its failed logins, and with
/// `remove_second_factor` remove its TOTP enrolment.
pub async fn reset_password(
    config: &ServeConfig,
    email: &str,
    new_password: Option<String>,
    remove_second_factor: bool,
) -> Result<PasswordReset> {
    let store = open_existing(config).await?;
    let email = email.trim().to_lowercase();
    let Some((user, _)) = store.user_by_email(&email).await? else {
        return Err(ServerError::Invalid(format!(
            "there is no user {email:?} in this server's data"
        )));
    };
    let (password, generated) = match new_password.filter(|p| !p.is_empty()) {
        Some(p) if p.chars().count() < MIN_PASSWORD_LEN => {
            return Err(ServerError::Invalid(format!(
                "the new password needs at least {MIN_PASSWORD_LEN} characters"
            )));
        }
        Some(p) => (p, false),
        None => (random_secret(18), true),
    };
    let hash =
        tokio::task::spawn_blocking(move || hash_password(&password).map(|hash| (hash, password)))
            .await
            .map_err(|e| ServerError::Invalid(format!("password hashing stopped: {e}")))??;
    let (hash, password) = hash;
    let now = crate::now();
    let entry = |action: &str, detail: &str| NewAudit {
        tenant_id: user.tenant_id,
        actor: CONSOLE_ACTOR.into(),
        action: action.into(),
        target: format!("user {}", user.id),
        detail: detail.into(),
        at: now,
    };
    store
        .set_password_audited(
            user.id,
            &hash,
            false,
            entry(
                "user.password_reset",
                "from the server's machine; sessions ended, API tokens revoked",
            ),
        )
        .await?;
    store
        .clear_login_failures(&email, now, ACCOUNT_LOGIN_LIMIT)
        .await?;
    let second_factor_removed = remove_second_factor
        && store
            .reset_totp_audited(
                user.tenant_id,
                user.id,
                entry("user.totp_reset", "from the server's machine"),
            )
            .await?;
    Ok(PasswordReset {
        email,
        generated_password: generated.then_some(password),
        second_factor_removed,
        disabled: user.disabled,
    })
}

/// The store of an installation that exists: unlike a server start, this
/// never creates a data directory or a database.
async fn open_existing(config: &ServeConfig) -> Result<DynStore> {
    let store = match &config.database_url {
        Some(url) => SqlStore::connect(url).await?,
        None => {
            if !config.data_dir.join(crate::store::SQLITE_FILE).exists() {
                return Err(ServerError::Invalid(format!(
                    "{} holds no printwatch server data: give the server's --data DIR \
                     (or --database-url)",
                    config.data_dir.display()
                )));
            }
            SqlStore::open_data_dir(&config.data_dir).await?
        }
    };
    let store: DynStore = std::sync::Arc::new(store);
    if store.provider().await?.is_none() {
        return Err(ServerError::Invalid(
            "this database was never started as a server: nothing to reset".into(),
        ));
    }
    Ok(store)
}
