//! The on-site agent: discovery (`scan`), the daemon (`daemon`) that runs
//! the `schedule`, collects into the durable `spool` and delivers through
//! the `uplink` state machine over the `transport`, its `state` directory,
//! `settings` and `activate`.

pub mod activate;
pub mod channel;
pub mod daemon;
pub mod scan;
pub mod schedule;
pub mod settings;
pub mod spool;
pub mod state;
pub mod transport;
pub mod uplink;
pub mod websocket;
