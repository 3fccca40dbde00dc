//! The on-site agent. For now: discovery (`scan`) and the durable on-disk
//! `spool`; schedules and the uplink to the server come next.

pub mod scan;
pub mod spool;
