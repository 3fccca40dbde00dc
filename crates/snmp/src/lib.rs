//! printwatch's SNMP layer.
//!
//! - [`Oid`], [`Value`], [`VarBind`]: our own value model, independent of the
//!   SNMP engine, able to hold everything a recording may contain.
//! - [`Credentials`]: v1/v2c communities and v3 USM users.
//! - [`Poller`], [`SnmpEngine`], [`Session`]: GET, GETNEXT and bulk walks over
//!   one shared UDP socket, on top of async-snmp.
//! - [`snmprec`]: the snmprec recording format, read and written.
//! - [`target`]: parsing of `HOST`, `HOST:PORT` and `[IPv6]:PORT`.
//! - [`sweep`]: one small v1/v2c request to each of many addresses, with a
//!   few bytes of state per request in flight (discovery).

mod client;
pub mod credentials;
mod des_salt;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod oid;
pub mod snmprec;
pub mod sweep;
pub mod table;
pub mod target;
mod value;

pub use client::{Poller, Session, SnmpEngine, SnmpOptions};
pub use credentials::{AuthProtocol, Credentials, PrivProtocol, Secret};
pub use error::{SnmpError, V3Failure};
pub use oid::{Oid, OidParseError};
pub use value::{Value, ValueConversionError, VarBind};
