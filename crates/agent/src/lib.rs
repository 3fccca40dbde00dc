//! The on-site agent. For now: discovery (`scan`); schedules, the durable
//! spool and the uplink to the server come next.

pub mod scan;
pub mod spool;
