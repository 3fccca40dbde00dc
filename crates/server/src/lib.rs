//! The printwatch server.
//!
//! Layers, from the bottom:
//! - [`ids`] and [`model`]: what is stored, with newtype ids.
//! - [`store`]: the [`store::Store`] interface and its SQL implementation
//!   for SQLite and PostgreSQL, with embedded migrations.
//! - [`ingest`] and [`secrets`]: pure rules (meter resets, alerts, usage)
//!   and the secrets (passwords, API tokens, the master key); [`forecast`]:
//!   supply forecasts (days until empty), pure, with their backtest;
//!   [`billing`]: billing meter reads of a period, pure.
//! - [`http`]: the agent endpoints and the REST API, built from one table
//!   of endpoints that also gives the OpenAPI document.
//! - [`serve`]: first start (provider tenant and administrator) and the
//!   listener; [`tls`]: HTTPS with rustls; [`console`]: what an operator
//!   does on the server's machine (a lost administrator password).

pub mod billing;
pub mod command;
pub mod console;
pub mod error;
pub mod forecast;
pub mod hashing;
pub mod http;
pub mod ids;
pub mod ingest;
pub mod model;
pub mod reports;
pub mod secrets;
pub mod serve;
pub mod store;
pub mod tls;
pub mod totp;

pub use error::{Result, ServerError};

/// Now, in UNIX seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
