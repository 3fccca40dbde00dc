//! The device snapshot: everything one collection learned about one device.
//!
//! This is a contract (PRODUCT.md, "The device snapshot"): scripts, the
//! server and other tools read it. It is versioned by [`SCHEMA_VERSION`] and
//! described by `schema/snapshot.schema.json`, generated from these types
//! (a test keeps the file current). Add fields freely; rename or remove one
//! only with a new schema version and a changelog note.

pub mod csv;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the snapshot format.
pub const SCHEMA_VERSION: u32 = 1;

/// One collection of one device.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    pub schema_version: u32,
    /// The target as given (`HOST`, `HOST:PORT`, `[IPv6]:PORT`).
    pub target: String,
    /// When the collection finished (RFC 3339, UTC).
    pub collected_at: String,
    /// Every address the device answered on: the one collected from, or,
    /// in a scan, each one it answered on (a scan finds some devices on two).
    #[serde(default)]
    pub addresses: Vec<String>,

    /// The brand on the device (e.g. Savin).
    pub vendor: Option<String>,
    /// The manufacturer group (e.g. Ricoh): with the serial, the identity.
    pub family: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// Lower case, colon-separated.
    pub mac: Option<String>,
    pub firmware: Option<String>,
    pub hostname: Option<String>,
    pub location: Option<String>,
    pub contact: Option<String>,
    pub asset_number: Option<String>,
    pub sys_object_id: Option<String>,
    pub sys_descr: Option<String>,
    /// hrDeviceDescr of the printer device.
    pub device_descr: Option<String>,
    /// True for a colour device.
    pub color: Option<bool>,
    /// The profile that read this device (e.g. `hp`), for support.
    pub profile: Option<String>,
    /// Which of several credential sets answered (`printwatch collect` and
    /// `scan`), named without its secret: `v2c community #2`, `v3 user
    /// "monitor" authPriv SHA/AES`, `credentials file set 3 (…)`. Absent
    /// where there was no choice to report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,

    pub status: Status,
    /// Lines of the operator panel.
    pub console: Vec<String>,
    pub meters: Vec<Meter>,
    pub supplies: Vec<Supply>,
    pub trays: Vec<Tray>,
    pub alerts: Vec<Alert>,
    /// Disagreements found (a vendor total that differs from
    /// prtMarkerLifeCount, a value out of range, …).
    pub warnings: Vec<String>,
}

/// Device and printer status (Host Resources MIB).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Status {
    /// hrDeviceStatus: `unknown`, `running`, `warning`, `testing`, `down`.
    pub device: Option<String>,
    /// hrPrinterStatus: `other`, `unknown`, `idle`, `printing`, `warmup`.
    pub printer: Option<String>,
    /// hrPrinterDetectedErrorState decoded: `low_paper`, `no_paper`,
    /// `low_toner`, `no_toner`, `door_open`, `jammed`, `offline`,
    /// `service_requested`, `input_tray_missing`, `output_tray_missing`,
    /// `marker_supply_missing`, `output_near_full`, `output_full`,
    /// `input_tray_empty`, `overdue_prevent_maint`.
    pub errors: Vec<String>,
}

/// The OID(s) a value came from: one, or several for a sum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Source {
    One(String),
    Sum(Vec<String>),
}

/// A page counter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Meter {
    /// Standard name: `total`, `marker_life`, `total_mono`, `total_color`,
    /// `print_mono`, `print_color`, `copy_mono`, `copy_color`, `fax`,
    /// `scan`, `duplex`, `large`, …; vendor extras keep a clear name.
    pub name: String,
    pub value: u64,
    /// `impressions`, `sheets`, `pages`, … (RFC 3805 units where known).
    pub unit: String,
    pub oid: Source,
}

/// A consumable or replaceable part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Supply {
    /// The device's own text.
    pub description: String,
    /// `toner`, `ink`, `drum`, `developer`, `fuser`, `transfer_belt`,
    /// `waste_toner`, `maintenance_kit`, `staples`, `other`, …
    pub kind: String,
    /// `black`, `cyan`, `magenta`, `yellow`, … when known.
    pub color: Option<String>,
    /// The level as the device gives it; null for the special values.
    pub level: Option<i64>,
    /// The capacity; null when the device gives none.
    pub max: Option<i64>,
    /// 0–100; null where the device gives no number.
    pub percent: Option<f64>,
    /// `ok`, `low`, `empty`, `some_remaining`, `unknown`, `other`.
    pub state: String,
    /// RFC 3805 unit (`percent`, `tenths_of_grams`, `impressions`, …).
    pub unit: Option<String>,
    pub part_number: Option<String>,
    pub serial: Option<String>,
    pub oid: Option<String>,
}

/// A paper input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Tray {
    pub name: String,
    /// RFC 3805 prtInputType (`sheet_feed_auto_removable_tray`, …).
    pub kind: Option<String>,
    pub level: Option<i64>,
    pub max: Option<i64>,
    /// `ok`, `low`, `empty`, `some_remaining`, `unknown`, `other`.
    pub state: String,
    pub media: Option<String>,
}

/// A row of prtAlertTable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Alert {
    /// `other`, `critical`, `warning`, `warning_binary_change_event`.
    pub severity: String,
    /// prtAlertGroup, e.g. `marker_supplies`, `input`, `cover`.
    pub group: String,
    /// prtAlertCode, e.g. `marker_toner_almost_empty`, `jam`.
    pub code: String,
    pub description: Option<String>,
    /// prtAlertLocation (group-specific; -2 unknown).
    pub location: Option<i64>,
}

impl Snapshot {
    /// An empty snapshot of `target`, stamped now.
    pub fn new(target: impl Into<String>) -> Self {
        Snapshot {
            schema_version: SCHEMA_VERSION,
            target: target.into(),
            collected_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string(),
            ..Snapshot::default()
        }
    }

    /// The JSON Schema of the snapshot.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Snapshot)).unwrap_or_default()
    }

    /// The meter of that standard name, if collected.
    pub fn meter(&self, name: &str) -> Option<u64> {
        self.meters.iter().find(|m| m.name == name).map(|m| m.value)
    }

    /// The device's identity: family and normalised serial, MAC as fallback.
    pub fn identity(&self) -> Option<String> {
        let family = self
            .family
            .as_deref()
            .unwrap_or("unknown")
            .to_ascii_lowercase();
        if let Some(serial) = self.serial.as_deref() {
            let normal: String = serial
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .map(|c| c.to_ascii_uppercase())
                .collect();
            if !normal.is_empty() {
                return Some(format!("{family}:{normal}"));
            }
        }
        self.mac.as_ref().map(|mac| format!("mac:{mac}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_file_is_current() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/snapshot.schema.json");
        let generated =
            serde_json::to_string_pretty(&Snapshot::json_schema()).expect("json") + "\n";
        if std::env::var_os("PRINTWATCH_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).expect("write schema");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "schema/snapshot.schema.json is stale: run the test with PRINTWATCH_UPDATE_SCHEMA=1"
        );
    }

    #[test]
    fn identity_is_family_and_normalised_serial_then_mac() {
        let mut s = Snapshot::new("x");
        s.family = Some("Ricoh".into());
        s.serial = Some(" e123-4567 ".into());
        s.mac = Some("00:11:22:33:44:55".into());
        assert_eq!(s.identity().as_deref(), Some("ricoh:E1234567"));
        s.serial = Some("  ".into());
        assert_eq!(s.identity().as_deref(), Some("mac:00:11:22:33:44:55"));
        s.mac = None;
        assert_eq!(s.identity(), None);
    }

    #[test]
    fn round_trips_through_json() {
        let mut s = Snapshot::new("127.0.0.2:161");
        s.meters.push(Meter {
            name: "total".into(),
            value: 12,
            unit: "impressions".into(),
            oid: Source::Sum(vec!["1.3.6.1.4.1.1.1".into(), "1.3.6.1.4.1.1.2".into()]),
        });
        let text = serde_json::to_string(&s).expect("serialises");
        let back: Snapshot = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, s);
        assert!(text.contains("\"schema_version\":1"));
    }
}
