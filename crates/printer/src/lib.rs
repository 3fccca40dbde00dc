//! Printer knowledge: what the standard MIBs and the vendors' private ones
//! say about a printer, turned into a [`Snapshot`].

pub mod snapshot;

pub use snapshot::{Alert, Meter, SCHEMA_VERSION, Snapshot, Source, Status, Supply, Tray};
