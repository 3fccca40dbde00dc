//! What the standard MIBs say: MIB-2 system and interfaces, Host Resources
//! (RFC 2790), the Printer MIB (RFC 3805) and ENTITY-MIB.

use printwatch_snmp::{Oid, Value};

use crate::enums_iana as iana;
use crate::mib::{MibView, col, int, oid, std_oids as o, text};
use crate::snapshot::{Alert, Meter, Snapshot, Source, Supply, Tray};

/// Supplies at or below this percentage are `low`.
pub const LOW_PERCENT: f64 = 10.0;

/// The name of `number` in an IANA table, or `other_<n>`.
pub fn enum_name(table: &[(i64, &str)], number: i64) -> String {
    table
        .iter()
        .find(|(n, _)| *n == number)
        .map(|(_, name)| (*name).to_owned())
        .unwrap_or_else(|| format!("other_{number}"))
}

/// Bits of hrPrinterDetectedErrorState (RFC 2790, extended by RFC 3805 §2.2.13.4),
/// numbered from the most significant bit of the first octet.
const ERROR_STATE_BITS: &[&str] = &[
    "low_paper",
    "no_paper",
    "low_toner",
    "no_toner",
    "door_open",
    "jammed",
    "offline",
    "service_requested",
    "input_tray_missing",
    "output_tray_missing",
    "marker_supply_missing",
    "output_near_full",
    "output_full",
    "input_tray_empty",
    "overdue_prevent_maint",
];

pub fn decode_error_state(bytes: &[u8]) -> Vec<String> {
    let mut errors = Vec::new();
    for (bit, name) in ERROR_STATE_BITS.iter().enumerate() {
        if let Some(byte) = bytes.get(bit / 8)
            && byte & (0x80 >> (bit % 8)) != 0
        {
            errors.push((*name).to_owned());
        }
    }
    errors
}

/// The hrDeviceIndex of the printer: the first row of hrPrinterTable, which
/// has a row for each hrDevice of type hrDevicePrinter (RFC 2790) and is
/// one row where hrDeviceTable can list a dozen devices; else device 1 when
/// hrDeviceTable types it a printer (agents without hrPrinterTable).
pub fn printer_device_index(view: &MibView) -> Option<u32> {
    view.column(&oid(o::HR_PRINTER_STATUS))
        .find_map(|(index, _)| index.first().copied())
        .or_else(|| {
            let printer = Value::ObjectId(oid(o::HR_DEVICE_PRINTER));
            (view.get(&oid(o::HR_DEVICE_TYPE).child(1)) == Some(&printer)).then_some(1)
        })
}

/// The first non-empty text in a column.
fn first_text(view: &MibView, column: &[u32]) -> Option<String> {
    view.column(&oid(column)).find_map(|(_, v)| text(v))
}

/// Lower-case, colon-separated MAC of the first real network interface.
pub fn mac_address(view: &MibView) -> Option<String> {
    let types = oid(o::IF_TYPE);
    let addresses = oid(o::IF_PHYS_ADDRESS);
    let mut candidates: Vec<(bool, &[u8])> = Vec::new();
    for (index, value) in view.column(&addresses) {
        let Some(bytes) = value.as_bytes() else {
            continue;
        };
        if bytes.len() != 6 || bytes.iter().all(|b| *b == 0) || bytes.iter().all(|b| *b == 0xff) {
            continue;
        }
        let mut type_oid = types.clone();
        for arc in index {
            type_oid = type_oid.child(*arc);
        }
        // ethernetCsmacd (6) and ieee80211 (71) first.
        let preferred = matches!(view.int(&type_oid), Some(6) | Some(71));
        candidates.push((preferred, bytes));
    }
    candidates.sort_by_key(|(preferred, _)| !preferred);
    candidates.first().map(|(_, bytes)| {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    })
}

fn status_name(table: &[&str], value: Option<i64>) -> Option<String> {
    let n = value?;
    let i = usize::try_from(n - 1).ok()?;
    Some(
        table
            .get(i)
            .map(|s| (*s).to_owned())
            .unwrap_or_else(|| format!("other_{n}")),
    )
}

/// Fills identity, status, console, meters, supplies, trays and alerts from
/// the standard MIBs. Profiles refine the result afterwards.
pub fn read(view: &MibView, snap: &mut Snapshot) {
    snap.sys_descr = view.text(&oid(o::SYS_DESCR));
    snap.sys_object_id = match view.get(&oid(o::SYS_OBJECT_ID)) {
        Some(Value::ObjectId(id)) => Some(id.to_string()),
        _ => None,
    };
    snap.hostname = view.text(&oid(o::SYS_NAME));
    snap.location = view.text(&oid(o::SYS_LOCATION));
    snap.contact = view.text(&oid(o::SYS_CONTACT));
    snap.mac = mac_address(view);
    // ENTITY-MIB: the chassis is entity 1 (RFC 6933 §2.12.1 recommends it).
    snap.serial = first_text(view, o::PRT_GENERAL_SERIAL_NUMBER)
        .or_else(|| view.text(&oid(o::ENT_SERIAL).child(1)));
    snap.asset_number = view.text(&oid(o::ENT_ASSET_ID).child(1));

    if let Some(index) = printer_device_index(view) {
        snap.device_descr = view.text(&oid(o::HR_DEVICE_DESCR).child(index));
        snap.status.device = status_name(
            &["unknown", "running", "warning", "testing", "down"],
            view.int(&oid(o::HR_DEVICE_STATUS).child(index)),
        );
        snap.status.printer = status_name(
            &["other", "unknown", "idle", "printing", "warmup"],
            view.int(&oid(o::HR_PRINTER_STATUS).child(index)),
        );
        if let Some(bytes) = view
            .get(&oid(o::HR_PRINTER_ERROR_STATE).child(index))
            .and_then(Value::as_bytes)
        {
            snap.status.errors = decode_error_state(bytes);
        }
    }
    snap.model = snap.device_descr.clone();

    snap.console = view
        .column(&oid(o::PRT_CONSOLE_TEXT))
        .filter_map(|(_, v)| text(v))
        .collect();

    read_markers(view, snap);
    snap.supplies = read_supplies(view);
    snap.trays = read_trays(view);
    snap.alerts = read_alerts(view);
    snap.color = colour(view, snap);
}

fn read_markers(view: &MibView, snap: &mut Snapshot) {
    read_marker_counter(view, snap, 4, "marker_life");
    read_marker_counter(view, snap, 5, "marker_power_on");
}

/// prtMarkerLifeCount (column 4) or prtMarkerPowerOnCount (5) of each marker.
fn read_marker_counter(view: &MibView, snap: &mut Snapshot, column: u32, base: &str) {
    let life = col(o::PRT_MARKER, column);
    let unit = col(o::PRT_MARKER, 3);
    let mut n = 0;
    for (index, value) in view.column(&life) {
        let Some(count) = int(value).and_then(|c| u64::try_from(c).ok()) else {
            continue;
        };
        n += 1;
        let unit_oid = Oid::new([unit.arcs(), index].concat());
        let unit = view
            .int(&unit_oid)
            .map(|u| enum_name(iana::COUNTER_UNITS, u))
            .unwrap_or_else(|| "impressions".into());
        let name = if n == 1 {
            base.to_owned()
        } else {
            format!("{base}_{n}")
        };
        snap.meters.push(Meter {
            name,
            value: count,
            unit,
            oid: Source::One(Oid::new([life.arcs(), index].concat()).to_string()),
        });
    }
}

/// The supply kinds printwatch names, from prtMarkerSuppliesType.
fn supply_kind(kind: i64) -> String {
    match kind {
        3 | 21 => "toner".into(),
        4 => "waste_toner".into(),
        5 | 6 => "ink".into(),
        8 => "waste_ink".into(),
        9 => "drum".into(),
        15 => "fuser".into(),
        18 => "cleaner".into(),
        20 => "transfer_belt".into(),
        32 => "staples".into(),
        other => enum_name(iana::SUPPLY_TYPES, other),
    }
}

/// A supply kind named in a description, for devices that leave
/// prtMarkerSuppliesType out (or say `other`).
pub fn kind_in_text(description: &str) -> Option<&'static str> {
    let d = description.to_lowercase();
    const WORDS: &[(&str, &[&str])] = &[
        (
            "waste_toner",
            &[
                "waste toner",
                "toner collection",
                "waste container",
                "resttoner",
                "collecteur",
            ],
        ),
        (
            "waste_ink",
            &["waste ink", "maintenance box", "ink collector"],
        ),
        (
            "drum",
            &[
                "drum",
                "opc",
                "photoconductor",
                "imaging unit",
                "trommel",
                "tambour",
            ],
        ),
        ("developer", &["developer", "entwickler"]),
        ("fuser", &["fuser", "fusing", "fixing"]),
        (
            "transfer_belt",
            &[
                "transfer belt",
                "transfer unit",
                "belt unit",
                "transfer roller",
                "itb",
            ],
        ),
        ("maintenance_kit", &["maintenance kit", "maintenance unit"]),
        ("staples", &["staple"]),
        ("ink", &["ink"]),
        ("toner", &["toner", "cartridge", "print cartridge"]),
    ];
    WORDS
        .iter()
        .find(|(_, words)| words.iter().any(|w| d.contains(w)))
        .map(|(kind, _)| *kind)
}

/// A colour named in a supply's description, in the languages printers use.
pub fn colour_in_text(description: &str) -> Option<&'static str> {
    let d = description.to_lowercase();
    const WORDS: &[(&str, &[&str])] = &[
        (
            "black",
            &[
                "black",
                "schwarz",
                "noir",
                "nero",
                "negro",
                "zwart",
                "svart",
                "czarn",
                "matte black",
                "photo black",
            ],
        ),
        ("cyan", &["cyan", "ciano", "cian"]),
        ("magenta", &["magenta"]),
        (
            "yellow",
            &[
                "yellow", "gelb", "jaune", "giallo", "amarillo", "geel", "gul", "żółt",
            ],
        ),
    ];
    for (colour, words) in WORDS {
        if words.iter().any(|w| d.contains(w)) {
            return Some(colour);
        }
    }
    // One-letter codes in parentheses or at the end: "Toner (K)", "Toner C".
    for (code, colour) in [
        ("k", "black"),
        ("c", "cyan"),
        ("m", "magenta"),
        ("y", "yellow"),
    ] {
        if d.ends_with(&format!(" {code}")) || d.contains(&format!("({code})")) {
            return Some(colour);
        }
    }
    None
}

/// Level and capacity as a state and a percentage (RFC 3805: -1 other,
/// -2 unknown, -3 "some remaining"; capacity -1/-2: no number).
pub fn level_state(
    level: Option<i64>,
    max: Option<i64>,
    unit_is_percent: bool,
) -> (Option<f64>, String) {
    let Some(level) = level else {
        return (None, "unknown".into());
    };
    match level {
        -1 => return (None, "other".into()),
        -2 => return (None, "unknown".into()),
        -3 => return (None, "some_remaining".into()),
        l if l < 0 => return (None, "unknown".into()),
        _ => {}
    }
    let percent = match max {
        Some(m) if m > 0 => Some((level as f64 * 100.0 / m as f64).min(100.0)),
        _ if unit_is_percent => Some((level as f64).min(100.0)),
        _ => None,
    };
    let state = match percent {
        _ if level == 0 => "empty",
        Some(p) if p <= LOW_PERCENT => "low",
        _ => "ok",
    };
    (percent.map(|p| (p * 10.0).round() / 10.0), state.into())
}

fn read_supplies(view: &MibView) -> Vec<Supply> {
    let description = col(o::PRT_SUPPLIES, 6);
    let mut supplies = Vec::new();
    for (index, value) in view.column(&description) {
        let cell = |column: u32| {
            view.int(&Oid::new(
                [col(o::PRT_SUPPLIES, column).arcs(), index].concat(),
            ))
        };
        let description = text(value).unwrap_or_default();
        let unit = cell(7);
        let (level, max) = (cell(9), cell(8));
        // A level in percent (unit 19); and a level of 0–100 from a device
        // that gives neither unit nor capacity is one too (a waste toner box
        // answering 100 of an unknown capacity; LibreNMS reads it so).
        let percent_unit = unit == Some(19) || (unit.is_none() && matches!(level, Some(0..=100)));
        let (percent, state) = level_state(level, max, percent_unit);
        let colorant = cell(3).filter(|c| *c > 0).and_then(|c| {
            let device = index.first().copied()?;
            view.text(
                &oid(o::PRT_COLORANT_VALUE)
                    .child(device)
                    .child(u32::try_from(c).ok()?),
            )
        });
        let colour = colorant
            .map(|c| c.to_lowercase())
            .filter(|c| c != "unknown" && c != "other")
            .or_else(|| colour_in_text(&description).map(str::to_owned));
        supplies.push(Supply {
            kind: cell(5)
                .filter(|k| *k > 2)
                .map(supply_kind)
                .or_else(|| kind_in_text(&description).map(str::to_owned))
                .unwrap_or_else(|| "other".into()),
            color: colour,
            level: level.filter(|l| *l >= 0),
            max: max.filter(|m| *m >= 0),
            percent,
            state,
            unit: unit.map(|u| enum_name(iana::SUPPLY_UNITS, u)),
            part_number: None,
            serial: None,
            oid: Some(Oid::new([col(o::PRT_SUPPLIES, 9).arcs(), index].concat()).to_string()),
            description,
        });
    }
    supplies
}

fn read_trays(view: &MibView) -> Vec<Tray> {
    let kind = col(o::PRT_INPUT, 2);
    let mut trays = Vec::new();
    for (index, value) in view.column(&kind) {
        let cell = |column: u32| Oid::new([col(o::PRT_INPUT, column).arcs(), index].concat());
        let (level, max) = (view.int(&cell(10)), view.int(&cell(9)));
        let (_, state) = level_state(level, max, false);
        let name = view
            .text(&cell(13))
            .or_else(|| view.text(&cell(18)))
            .unwrap_or_else(|| format!("Input {}", index.last().copied().unwrap_or_default()));
        trays.push(Tray {
            name,
            kind: int(value).map(|k| enum_name(iana::INPUT_TYPES, k)),
            level: level.filter(|l| *l >= 0),
            max: max.filter(|m| *m >= 0),
            state,
            media: view.text(&cell(12)),
        });
    }
    trays
}

fn read_alerts(view: &MibView) -> Vec<Alert> {
    let severity = col(o::PRT_ALERT, 2);
    let mut alerts = Vec::new();
    for (index, value) in view.column(&severity) {
        let cell = |column: u32| Oid::new([col(o::PRT_ALERT, column).arcs(), index].concat());
        alerts.push(Alert {
            severity: int(value)
                .map(|s| enum_name(iana::ALERT_SEVERITIES, s))
                .unwrap_or_else(|| "other".into()),
            group: view
                .int(&cell(4))
                .map(|g| enum_name(iana::ALERT_GROUPS, g))
                .unwrap_or_else(|| "other".into()),
            code: view
                .int(&cell(7))
                .map(|c| enum_name(iana::ALERT_CODES, c))
                .unwrap_or_else(|| "other".into()),
            description: view.text(&cell(8)),
            location: view.int(&cell(6)),
        });
    }
    alerts
}

fn colour(view: &MibView, snap: &Snapshot) -> Option<bool> {
    let colorants = view
        .column(&col(o::PRT_MARKER, 6))
        .filter_map(|(_, v)| int(v))
        .max();
    if let Some(n) = colorants
        && n > 0
    {
        return Some(n > 1);
    }
    let toner_colours: Vec<&str> = snap
        .supplies
        .iter()
        .filter(|s| matches!(s.kind.as_str(), "toner" | "ink"))
        .filter_map(|s| s.color.as_deref())
        .collect();
    if toner_colours.is_empty() {
        return None;
    }
    Some(toner_colours.iter().any(|c| *c != "black"))
}

/// Per table, a column every row has (RFC 3805 mandatory objects, and the
/// ones partial agents still publish): it counts the table's rows. Never a
/// table's last column: reading past an anchor's end then costs a row of
/// the next column, not the next object of the device (often a long text).
pub fn anchor_columns() -> Vec<Oid> {
    vec![
        col(o::PRT_SUPPLIES, 8),
        col(o::PRT_INPUT, 10),
        col(o::PRT_ALERT, 2),
        col(o::PRT_MARKER, 4),
    ]
    .into_iter()
    .chain(crate::pwg::anchors())
    .collect()
}

/// Tables whose probe waits for the others' answers (see
/// `printwatch_snmp::table::probe_tables`): the console and alert groups
/// come last in the Printer MIB, and a device without them (or without the
/// colorant group before them) usually lacks the whole tail, which one
/// probe's answer then shows; a device that has them pays one round trip,
/// not their probes' landings on every collection. Likewise the PWG
/// counter tables behind their key table.
pub fn deferred_tables() -> Vec<Oid> {
    let mut tables = vec![oid(o::PRT_CONSOLE_TEXT).parent(), oid(o::PRT_ALERT)];
    tables.extend(crate::pwg::deferred());
    tables
}

/// Every scalar and column this module reads (the collection plan's base).
/// Each column comes with the number of rows a table of its kind usually
/// has: asking a GETBULK for about that many keeps it from spilling into the
/// next columns (bytes on the wire), more rows just take another round.
pub fn plan(printer_index: Option<u32>) -> (Vec<Oid>, Vec<(Oid, u32)>) {
    let mut scalars: Vec<Oid> = [
        o::SYS_DESCR,
        o::SYS_OBJECT_ID,
        o::SYS_CONTACT,
        o::SYS_NAME,
        o::SYS_LOCATION,
    ]
    .iter()
    .map(|a| oid(a))
    .collect();
    scalars.push(oid(o::HR_DEVICE_TYPE).child(1));
    scalars.push(oid(o::ENT_SERIAL).child(1));
    scalars.push(oid(o::ENT_ASSET_ID).child(1));
    if let Some(i) = printer_index {
        for c in [
            o::HR_DEVICE_DESCR,
            o::HR_DEVICE_STATUS,
            o::HR_PRINTER_STATUS,
            o::HR_PRINTER_ERROR_STATE,
        ] {
            scalars.push(oid(c).child(i));
        }
    }
    let mut columns = vec![
        (oid(o::IF_TYPE), 2),
        (oid(o::IF_PHYS_ADDRESS), 2),
        (oid(o::HR_PRINTER_STATUS), 1),
        (oid(o::PRT_GENERAL_SERIAL_NUMBER), 1),
        (col(o::PRT_MARKER, 3), 1),
        (col(o::PRT_MARKER, 4), 1),
        (col(o::PRT_MARKER, 5), 1),
        (col(o::PRT_MARKER, 6), 1),
        (oid(o::PRT_CONSOLE_TEXT), 2),
        (oid(o::PRT_COLORANT_VALUE), 4),
    ];
    for c in [3, 5, 6, 7, 8, 9] {
        columns.push((col(o::PRT_SUPPLIES, c), 8));
    }
    for c in [2, 9, 10, 12, 13, 18] {
        columns.push((col(o::PRT_INPUT, c), 3));
    }
    for c in [2, 4, 6, 7, 8] {
        columns.push((col(o::PRT_ALERT, c), 2));
    }
    columns.extend(crate::pwg::columns());
    (scalars, columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_state_bits_from_the_top() {
        assert_eq!(decode_error_state(&[0x00]), Vec::<String>::new());
        assert_eq!(decode_error_state(&[0x80]), vec!["low_paper"]);
        assert_eq!(
            decode_error_state(&[0x03]),
            vec!["offline", "service_requested"]
        );
        assert_eq!(decode_error_state(&[0x04]), vec!["jammed"]);
        assert_eq!(
            decode_error_state(&[0x00, 0x80]),
            vec!["input_tray_missing"]
        );
        assert_eq!(decode_error_state(&[0xff, 0xff, 0xff]).len(), 15);
    }

    #[test]
    fn special_levels_are_states() {
        assert_eq!(
            level_state(Some(-3), Some(100), false),
            (None, "some_remaining".into())
        );
        assert_eq!(
            level_state(Some(-2), Some(100), false),
            (None, "unknown".into())
        );
        assert_eq!(
            level_state(Some(-1), Some(100), false),
            (None, "other".into())
        );
        assert_eq!(
            level_state(Some(0), Some(100), false),
            (Some(0.0), "empty".into())
        );
        assert_eq!(
            level_state(Some(5), Some(100), false),
            (Some(5.0), "low".into())
        );
        assert_eq!(
            level_state(Some(500), Some(1000), false),
            (Some(50.0), "ok".into())
        );
        assert_eq!(
            level_state(Some(70), Some(-2), true),
            (Some(70.0), "ok".into())
        );
        assert_eq!(level_state(Some(70), Some(-2), false), (None, "ok".into()));
        // A level above the capacity (seen on real devices) is capped.
        assert_eq!(level_state(Some(120), Some(100), false).0, Some(100.0));
    }

    #[test]
    fn a_level_without_unit_or_capacity_is_a_percentage_when_it_can_be() {
        use printwatch_snmp::VarBind;
        let supply = |column: u32, row: u32, value: Value| {
            VarBind::new(col(o::PRT_SUPPLIES, column).child(1).child(row), value)
        };
        let view = MibView::from_varbinds([
            // No unit, capacity unknown, level 100: a percentage.
            supply(5, 1, Value::Integer(4)),
            supply(6, 1, Value::OctetString(b"Waste Toner".to_vec())),
            supply(8, 1, Value::Integer(-2)),
            supply(9, 1, Value::Integer(100)),
            // Tenths of grams (13) of an unknown capacity: no percentage.
            supply(6, 2, Value::OctetString(b"Toner".to_vec())),
            supply(7, 2, Value::Integer(13)),
            supply(8, 2, Value::Integer(-2)),
            supply(9, 2, Value::Integer(80)),
            // No unit, unknown capacity, a level that cannot be a percentage.
            supply(6, 3, Value::OctetString(b"Staples".to_vec())),
            supply(8, 3, Value::Integer(-1)),
            supply(9, 3, Value::Integer(5000)),
        ]);
        let supplies = read_supplies(&view);
        let percents: Vec<Option<f64>> = supplies.iter().map(|s| s.percent).collect();
        assert_eq!(percents, vec![Some(100.0), None, None]);
        assert_eq!(supplies[0].state, "ok");
    }

    #[test]
    fn colours_in_many_languages() {
        assert_eq!(colour_in_text("Black Cartridge HP CF410A"), Some("black"));
        assert_eq!(colour_in_text("Toner (Cyan)"), Some("cyan"));
        assert_eq!(colour_in_text("Tonerkartusche Gelb"), Some("yellow"));
        assert_eq!(colour_in_text("Toner K"), Some("black"));
        assert_eq!(colour_in_text("Fuser Kit"), None);
    }

    #[test]
    fn kinds_from_descriptions() {
        assert_eq!(kind_in_text("Black Cartridge HP CF410A"), Some("toner"));
        assert_eq!(kind_in_text("Waste Toner Box"), Some("waste_toner"));
        assert_eq!(kind_in_text("Drum Cartridge (Cyan)"), Some("drum"));
        assert_eq!(
            kind_in_text("Image Transfer Belt Unit"),
            Some("transfer_belt")
        );
        assert_eq!(kind_in_text("Black Ink Supply Unit T9441"), Some("ink"));
        assert_eq!(kind_in_text("Ozone Filter"), None);
    }
}
