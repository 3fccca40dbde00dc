//! Printer knowledge: what the standard MIBs and the vendors' private ones
//! say about a printer, turned into a [`Snapshot`].
//!
//! - [`mib`]: the objects of a device, and the standard OIDs.
//! - [`standard`]: MIB-2, Host Resources, Printer MIB and ENTITY-MIB readers.
//! - [`profile`]: vendor profiles (data files in `profiles/`), matched by
//!   sysObjectID and sysDescr.
//! - [`decoders`]: vendor blobs (Brother's maintenance records).
//! - [`collect`]: the collection plan, and snapshots from answers or walks.
//! - [`snapshot`]: the snapshot model (a versioned contract), re-exported
//!   from `printwatch-snapshot`, its own crate so that the protocol and the
//!   server need not link the SNMP engine.

pub mod collect;
pub mod decoders;
#[allow(dead_code)] // generated: every table of the MIB, used or not yet
mod enums_iana;
pub mod mib;
pub mod profile;
pub mod pwg;
pub mod standard;

pub use collect::{CollectError, Plan, collect, read_snapshot};
pub use mib::MibView;
pub use printwatch_snapshot as snapshot;
pub use profile::{ProfileError, ProfileSet};
pub use snapshot::{Alert, Meter, SCHEMA_VERSION, Snapshot, Source, Status, Supply, Tray};
