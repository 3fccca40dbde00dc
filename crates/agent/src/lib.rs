//! The on-site agent. For now: discovery (`scan`) and the durable on-disk
//! `spool`; schedules and the uplink to the server come next.

pub mod activate;
pub mod daemon;
pub mod scan;
pub mod schedule;
pub mod settings;
pub mod spool;
pub mod state;
pub mod uplink;
