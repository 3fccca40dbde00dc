//! The uplink: what goes to the server, in which order, and what its
//! answers mean ([`machine`], sans-IO), driven by the daemon.

pub mod machine;

pub use machine::{
    Acked, AckedDevice, Answer, HeartbeatOutcome, Inflight, PendingRecord, Refusal,
    SubmissionOutcome, Uplink, UplinkState,
};
