//! Conformance on real recordings (issue 3, "Must show"): every snmprec
//! recording of `../shared/recordings` is served by `printwatch sim` and by
//! the independent simulator snmpsim, collected with `printwatch collect
//! --json` (v2c) from each, and scored against what other projects read
//! from the same devices.
//!
//! - **LibreNMS** (`librenms/snmprec/<name>.snmprec`, expectations in
//!   `librenms/expected/<name>.json`, LibreNMS's own reading): one check per
//!   value LibreNMS has. Serial (`os.discovery.devices[0].serial`, compared
//!   normalised: letters and digits, upper case); model (`hardware`: ours must
//!   contain it, case and spacing aside, so a brand in front or " series"
//!   behind is fine, a cut name is not); MAC (the `ifPhysAddress` of their
//!   `ports` data: ours must be one of the device's non-zero addresses); each
//!   `count` sensor, the lifetime counter (prtMarkerLifeCount) included: a
//!   meter whose `oid` is the sensor's OID (or a sum that lists it) with the
//!   same value; each marker supply (`printer-supplies` whose `supply_oid` is
//!   under prtMarkerSuppliesLevel 1.3.6.1.2.1.43.11.1.1.9): our supply of that
//!   OID with a percent within one point of `supply_current`, except where
//!   the recorded level is -3 ("some remaining", which LibreNMS shows as 50):
//!   there we must say state `some_remaining`. LibreNMS's `input` entries are
//!   paper trays, not supplies: not checked. A null LibreNMS value is no
//!   check; a value we do not report is a miss.
//! - **Brother fixtures** (`bieniu-brother/fixtures/*.json`, partial walks as
//!   JSON: OID → text, or a list of hex strings to concatenate into one
//!   OCTET STRING; null → absent): converted to snmprec, served and
//!   collected; checked against `bieniu-brother/expected/test_init.ambr`
//!   (the values the `brother` Python library decodes), with the mapping of
//!   [`brother_expectations`]. The fixtures hold no system group, and a real
//!   Brother answers sysObjectID 1.3.6.1.4.1.2435.2.3.9.1 (as the LibreNMS
//!   and PrintMaster Brother walks do): the conversion adds that one object
//!   so that the Brother profile applies. `invalid.json` and
//!   `incomplete.json` are hostile input: collected, not scored, and the
//!   collector must end with 0 or 5 (not a printer), never crash.
//! - **Detect-only stubs** (`librenms/detect-only`, sysDescr and sysObjectID
//!   only): the vendor family of the file name's prefix ([`stub_family`])
//!   against our `vendor` or `family`. Having no Printer-MIB, a stub makes
//!   `collect` exit 5 (not a printer), so its snapshot is read in process
//!   ([`printwatch_printer::read_snapshot`] on the parsed recording).
//! - **PrintMaster** walks have no expectations: collected (both servers
//!   must agree), not scored.
//!
//! Both servers must give identical snapshots (`collected_at` and `target`
//! aside), and for every recording that collects, the collected snapshot
//! must equal the one read in process from the whole file.
//!
//! Score: checks passed / all checks, per recording and overall. The test
//! fails below [`FLOOR_PERCENT`] (today's measure less a small margin, so a
//! regression fails; the 95% target of issue 3 is below it), or below
//! [`STRICT_FLOOR_PERCENT`] (today's score, no margin) with
//! `PRINTWATCH_CONFORMANCE_STRICT=1`. A part of the recordings that is
//! absent (a subfolder, an `expected/*.json`, `test_init.ambr` or a model
//! in it) is a recorded skip, a failure under `PRINTWATCH_REQUIRE_ALL=1`.
//!
//! Addresses: `printwatch sim` on 127.86.4.0/25 (one address per
//! recording), snmpsim on 127.86.4.200. Without the recordings the test
//! skips (or fails under `PRINTWATCH_REQUIRE_ALL=1`); without snmpsim it
//! runs with `printwatch sim` only, after reporting the skip (a failure under
//! `PRINTWATCH_REQUIRE_ALL=1`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use common::{Snmpsim, TempDir, need, report};
use printwatch_printer::{MibView, ProfileSet, Snapshot, Source, read_snapshot};
use printwatch_snmp::{Oid, Value, VarBind, snmprec};

/// The target of issue 3.
const TARGET_PERCENT: f64 = 95.0;
/// The score measured last (256/257 = 99.6%), less a margin of about seven
/// checks: below it, something that worked broke. Raise it as profiles
/// improve.
const FLOOR_PERCENT: f64 = 97.0;
/// `PRINTWATCH_CONFORMANCE_STRICT=1`: today's score without the margin
/// (256/257): one miss more than today's fails.
const STRICT_FLOOR_PERCENT: f64 = 99.5;
const STRICT: &str = "PRINTWATCH_CONFORMANCE_STRICT";

/// sysObjectID given to the Brother fixtures (see the module documentation).
const BROTHER_SYS_OBJECT_ID: &str = "1.3.6.1.4.1.2435.2.3.9.1";
const PRT_MARKER_LIFE_COUNT: &str = "1.3.6.1.2.1.43.10.2.1.4";
const PRT_SUPPLIES_LEVEL: &str = "1.3.6.1.2.1.43.11.1.1.9";

// ---------------------------------------------------------------------------
// Checks and scores

struct Check {
    what: String,
    expected: String,
    got: String,
    passed: bool,
}

fn check(what: impl Into<String>, expected: String, got: String, passed: bool) -> Check {
    Check {
        what: what.into(),
        expected,
        got,
        passed,
    }
}

/// What a recording is, and where its expectations are.
#[derive(Clone)]
enum Kind {
    LibreNms(PathBuf),
    DetectOnly,
    PrintMaster,
    /// A Brother fixture and the model it is expected under in the `.ambr`.
    Brother(String),
    /// `invalid.json`, `incomplete.json`: must not crash the collector.
    Hostile,
}

impl Kind {
    fn group(&self) -> &'static str {
        match self {
            Kind::LibreNms(_) => "librenms",
            Kind::DetectOnly => "detect-only",
            Kind::PrintMaster => "printmaster",
            Kind::Brother(_) | Kind::Hostile => "bieniu-brother",
        }
    }
}

/// One served recording.
#[derive(Clone)]
struct Device {
    /// Base name of the served file: the snmpsim community.
    name: String,
    kind: Kind,
    /// The served file (cleaned: the lines our reader refuses are left out).
    served: PathBuf,
}

/// What one `printwatch collect` gave.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Snapshot(Box<Snapshot>),
    Exit(Option<i32>, String),
}

impl Outcome {
    fn snapshot(&self) -> Option<&Snapshot> {
        match self {
            Outcome::Snapshot(s) => Some(s),
            Outcome::Exit(..) => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Outcome::Snapshot(_) => "a snapshot".into(),
            Outcome::Exit(code, stderr) => format!(
                "exit {} ({})",
                code.map_or("by signal".into(), |c| c.to_string()),
                stderr.trim()
            ),
        }
    }
}

/// A snapshot without what differs between two collections of one device.
fn comparable(snap: &Snapshot) -> Snapshot {
    let mut s = snap.clone();
    s.collected_at = String::new();
    s.target = String::new();
    // The address collected from, which differs between the simulators.
    s.addresses = Vec::new();
    s
}

fn collect(tmp: &TempDir, target: SocketAddr, community: &str) -> Outcome {
    let out = common::printwatch_collect(
        tmp,
        target,
        community,
        &["--timeout", "5", "--retries", "1"],
    );
    if out.code() == Some(0) {
        match serde_json::from_slice::<Snapshot>(&out.stdout) {
            Ok(snap) => Outcome::Snapshot(Box::new(snap)),
            Err(e) => Outcome::Exit(Some(0), format!("output is not a snapshot: {e}")),
        }
    } else {
        Outcome::Exit(out.code(), out.stderr)
    }
}

/// The snapshot read in process from a recording file.
fn in_process(path: &Path, profiles: &ProfileSet) -> Snapshot {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let view = MibView::from_varbinds(snmprec::parse(&bytes).records);
    read_snapshot("in-process", &view, profiles)
}

// ---------------------------------------------------------------------------
// LibreNMS

/// `module.poller.<list>` when LibreNMS polled it separately, else
/// `module.discovery.<list>` ("matches discovery").
fn librenms_list<'a>(
    json: &'a serde_json::Value,
    module: &str,
    list: &str,
) -> Vec<&'a serde_json::Value> {
    let m = &json[module];
    for phase in ["poller", "discovery"] {
        if let Some(items) = m[phase][list].as_array() {
            return items.iter().collect();
        }
    }
    Vec::new()
}

fn normalise_serial(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn normalise_text(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn show<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "nothing".to_owned(), |v| v.to_string())
}

fn meter_oids(source: &Source) -> Vec<&str> {
    match source {
        Source::One(o) => vec![o.as_str()],
        Source::Sum(list) => list.iter().map(String::as_str).collect(),
    }
}

fn librenms_checks(
    expected: &serde_json::Value,
    snap: Option<&Snapshot>,
    view: &MibView,
) -> Vec<Check> {
    let none = Snapshot::default();
    let s = snap.unwrap_or(&none);
    let mut checks = Vec::new();
    let device = &expected["os"]["discovery"]["devices"][0];

    if let Some(serial) = device["serial"].as_str() {
        let passed = s
            .serial
            .as_deref()
            .is_some_and(|ours| normalise_serial(ours) == normalise_serial(serial));
        checks.push(check(
            "serial",
            serial.into(),
            show(s.serial.as_deref()),
            passed,
        ));
    }
    if let Some(hardware) = device["hardware"].as_str() {
        let passed = s
            .model
            .as_deref()
            .is_some_and(|ours| normalise_text(ours).contains(&normalise_text(hardware)));
        checks.push(check(
            "model",
            hardware.into(),
            show(s.model.as_deref()),
            passed,
        ));
    }

    let macs: BTreeSet<String> = librenms_list(expected, "ports", "ports")
        .iter()
        .filter_map(|p| p["ifPhysAddress"].as_str())
        .filter(|m| m.len() == 12 && m.chars().any(|c| c != '0'))
        .map(|m| {
            m.as_bytes()
                .chunks(2)
                .map(|c| String::from_utf8_lossy(c).to_lowercase())
                .collect::<Vec<_>>()
                .join(":")
        })
        .collect();
    if !macs.is_empty() {
        let passed = s.mac.as_ref().is_some_and(|m| macs.contains(m));
        let wanted = macs.iter().cloned().collect::<Vec<_>>().join(" or ");
        checks.push(check("mac", wanted, show(s.mac.as_deref()), passed));
    }

    for sensor in librenms_list(expected, "sensors", "sensors") {
        if sensor["sensor_class"].as_str() != Some("count") {
            continue;
        }
        let oid = sensor["sensor_oid"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches('.');
        let Some(current) = sensor["sensor_current"].as_f64() else {
            continue;
        };
        let divisor = sensor["sensor_divisor"]
            .as_f64()
            .filter(|d| *d != 0.0)
            .unwrap_or(1.0);
        let multiplier = sensor["sensor_multiplier"]
            .as_f64()
            .filter(|m| *m != 0.0)
            .unwrap_or(1.0);
        let raw = (current * divisor / multiplier).round();
        let descr = sensor["sensor_descr"].as_str().unwrap_or("");
        let what = if oid.starts_with(&format!("{PRT_MARKER_LIFE_COUNT}.")) {
            format!("lifetime counter {oid}")
        } else {
            format!("counter {descr:?} {oid}")
        };
        let ours: Vec<_> = s
            .meters
            .iter()
            .filter(|m| meter_oids(&m.oid).contains(&oid))
            .collect();
        let passed = ours.iter().any(|m| m.value as f64 == raw);
        let got = if ours.is_empty() {
            "no meter of that OID".into()
        } else {
            ours.iter()
                .map(|m| format!("{} = {}", m.name, m.value))
                .collect::<Vec<_>>()
                .join(", ")
        };
        checks.push(check(what, format!("{raw}"), got, passed));
    }

    for supply in librenms_list(expected, "printer-supplies", "printer_supplies") {
        let oid = supply["supply_oid"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches('.');
        if !oid.starts_with(&format!("{PRT_SUPPLIES_LEVEL}.")) {
            continue; // paper trays ("input") and the like
        }
        let descr = supply["supply_descr"].as_str().unwrap_or("");
        let Some(current) = supply["supply_current"].as_f64() else {
            continue;
        };
        let recorded = oid.parse::<Oid>().ok().and_then(|o| view.int(&o));
        let ours = s.supplies.iter().find(|x| x.oid.as_deref() == Some(oid));
        let what = format!("supply {descr:?} {oid}");
        let got = ours.map_or_else(
            || "no supply of that OID".to_owned(),
            |x| match x.percent {
                Some(p) => format!("{p}% ({})", x.state),
                None => format!("state {}", x.state),
            },
        );
        if recorded == Some(-3) {
            let passed = ours.is_some_and(|x| x.state == "some_remaining");
            checks.push(check(
                what,
                format!("state some_remaining (level -3; LibreNMS shows {current})"),
                got,
                passed,
            ));
        } else {
            let passed = ours
                .and_then(|x| x.percent)
                .is_some_and(|p| (p - current).abs() <= 1.0);
            checks.push(check(what, format!("{current}%"), got, passed));
        }
    }
    checks
}

// ---------------------------------------------------------------------------
// Detect-only stubs

/// The vendor family of a stub, from its file name (the prefix before `_`),
/// as the names we accept for `vendor` or `family`.
fn stub_family(name: &str, sys_descr: &str) -> Option<Vec<&'static str>> {
    let prefix = name.split('_').next().unwrap_or(name);
    let fuji_xerox = sys_descr.to_lowercase().contains("fuji xerox");
    Some(match prefix {
        p if p.starts_with("canonprinter") => vec!["Canon"],
        p if p.starts_with("dell") => vec!["Dell"],
        // Develop is a Konica Minolta brand.
        "developprinter" => vec!["Develop", "Konica Minolta"],
        "gestetner" | "lanier" | "nrg" | "ricoh" | "savin" => vec!["Ricoh"],
        "jetdirect" => vec!["HP"],
        "kyocera" => vec!["Kyocera"],
        "lexmarkprinter" => vec!["Lexmark"],
        "okilan" => vec!["OKI"],
        "samsungprinter" => vec!["Samsung"],
        "sharp" => vec!["Sharp"],
        "toshiba-tec" => vec!["Toshiba"],
        "tsc" => vec!["TSC"],
        "xerox" if fuji_xerox => vec!["Xerox", "Fujifilm", "Fuji Xerox"],
        "xerox" => vec!["Xerox"],
        "zebra" => vec!["Zebra"],
        _ => return None,
    })
}

fn stub_checks(name: &str, snap: &Snapshot) -> Vec<Check> {
    let descr = snap.sys_descr.as_deref().unwrap_or("");
    let Some(accepted) = stub_family(name, descr) else {
        return vec![check(
            "vendor family",
            "a family known to this test".into(),
            format!("file name {name} not in the table"),
            false,
        )];
    };
    let ours = [snap.vendor.as_deref(), snap.family.as_deref()];
    let passed = ours
        .iter()
        .flatten()
        .any(|o| accepted.iter().any(|a| a.eq_ignore_ascii_case(o)));
    vec![check(
        "vendor family",
        accepted.join(" or "),
        format!(
            "vendor {} family {}",
            show(snap.vendor.as_deref()),
            show(snap.family.as_deref())
        ),
        passed,
    )]
}

// ---------------------------------------------------------------------------
// Brother fixtures

/// A fixture (OID → text, or a list of hex strings forming one blob) as
/// snmprec, with Brother's sysObjectID added. Errors for unreadable input.
fn brother_fixture_to_snmprec(text: &str) -> Result<String, String> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let object = json.as_object().ok_or("not a JSON object")?;
    let mut records: BTreeMap<Oid, Value> = BTreeMap::new();
    records.insert(
        "1.3.6.1.2.1.1.2.0".parse().map_err(|e| format!("{e:?}"))?,
        Value::ObjectId(
            BROTHER_SYS_OBJECT_ID
                .parse()
                .map_err(|e| format!("{e:?}"))?,
        ),
    );
    for (oid, value) in object {
        let oid: Oid = oid
            .trim_start_matches('.')
            .parse()
            .map_err(|e| format!("bad OID {oid:?}: {e:?}"))?;
        let value = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => Value::OctetString(s.as_bytes().to_vec()),
            serde_json::Value::Number(n) => Value::Integer(
                n.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or("bad number")?,
            ),
            serde_json::Value::Array(parts) => {
                let mut blob = Vec::new();
                for part in parts {
                    let hex = part.as_str().ok_or("a blob part is not a string")?;
                    for i in (0..hex.len()).step_by(2) {
                        let byte = hex
                            .get(i..i + 2)
                            .and_then(|b| u8::from_str_radix(b, 16).ok())
                            .ok_or_else(|| format!("bad hex {hex:?}"))?;
                        blob.push(byte);
                    }
                }
                Value::OctetString(blob)
            }
            other => return Err(format!("value {other} not understood")),
        };
        records.insert(oid, value);
    }
    let records: Vec<VarBind> = records
        .into_iter()
        .map(|(oid, value)| VarBind::new(oid, value))
        .collect();
    Ok(snmprec::to_string(&records))
}

/// The `.ambr` snapshot: for each model (upper case, as written there), the
/// numeric fields of its `BrotherSensors(…)` (None left out).
fn parse_ambr(text: &str) -> BTreeMap<String, BTreeMap<String, i64>> {
    let mut models: BTreeMap<String, String> = BTreeMap::new(); // test → model
    let mut sensors: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new(); // test → fields
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("# name: ") {
            current = Some(name.trim().to_owned());
            continue;
        }
        let Some(name) = &current else { continue };
        let trimmed = line.trim();
        if let Some(model) = trimmed
            .strip_prefix("model='")
            .and_then(|m| m.strip_suffix("',"))
        {
            models.insert(name.clone(), model.to_owned());
        } else if let Some(body) = trimmed.strip_prefix("BrotherSensors(") {
            let base = name.trim_end_matches(".1").to_owned();
            sensors.insert(base, parse_fields(body));
        }
    }
    models
        .into_iter()
        .filter_map(|(test, model)| sensors.remove(&test).map(|s| (model, s)))
        .collect()
}

/// `key=value, key='text, with commas', key=Fake(1, 2), …)`: the integers.
fn parse_fields(body: &str) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    let mut rest = body;
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim_start_matches([',', ' ']).to_owned();
        let end = if let Some(quoted) = after.strip_prefix('\'') {
            quoted.find('\'').map_or(after.len(), |i| i + 2)
        } else if let Some(open) = after
            .find('(')
            .filter(|o| after.find(',').is_none_or(|c| c > *o))
        {
            after[open..]
                .find(')')
                .map_or(after.len(), |i| open + i + 1)
        } else {
            after.find([',', ')']).unwrap_or(after.len())
        };
        let value = &after[..end];
        if let Ok(n) = value.trim().parse::<i64>() {
            out.insert(key, n);
        }
        rest = &after[end..];
    }
    out
}

/// Where a Brother library value is in our snapshot.
enum Target {
    /// A meter, under one of these names.
    Meter(Vec<String>),
    /// A supply's percent: one of these kinds, of this colour (`None`: a
    /// colourless one, else a black one).
    Supply(Vec<&'static str>, Option<&'static str>),
}

/// The mapping of the `brother` library's field names to the snapshot.
/// Counters are meters (our standard names first, then the clear vendor
/// names of `profiles/brother.toml`); `*_remaining`/`*_remaining_life` are
/// supply percentages. Not checked: `*_remaining_pages` (pages, not a
/// percentage), `*_status`, `black_toner`/`*_ink` (a second, coarser level
/// the library reads from another record), `status`, `uptime`.
fn brother_expectations() -> Vec<(String, Target)> {
    let names = |list: &[&str]| Target::Meter(list.iter().map(|s| (*s).to_owned()).collect());
    let mut map = vec![
        ("page_counter".to_owned(), names(&["total"])),
        ("bw_counter".into(), names(&["total_mono"])),
        ("color_counter".into(), names(&["total_color"])),
        ("duplex_unit_pages_counter".into(), names(&["duplex"])),
        ("image_counter".into(), names(&["image_count", "images"])),
        ("drum_counter".into(), names(&["drum_count"])),
        (
            "drum_remaining_life".into(),
            Target::Supply(vec!["drum"], None),
        ),
        (
            "belt_unit_remaining_life".into(),
            Target::Supply(vec!["transfer_belt"], None),
        ),
        (
            "fuser_remaining_life".into(),
            Target::Supply(vec!["fuser"], None),
        ),
        (
            "laser_remaining_life".into(),
            Target::Supply(vec!["laser_unit", "laser"], None),
        ),
        (
            "pf_kit_1_remaining_life".into(),
            Target::Supply(vec!["paper_feed_kit", "paper_feed_kit_1"], None),
        ),
        (
            "pf_kit_mp_remaining_life".into(),
            Target::Supply(vec!["paper_feed_kit_mp"], None),
        ),
    ];
    for colour in ["black", "cyan", "magenta", "yellow"] {
        map.push((
            format!("{colour}_counter"),
            Target::Meter(vec![format!("{colour}_count"), format!("images_{colour}")]),
        ));
        map.push((
            format!("{colour}_drum_counter"),
            Target::Meter(vec![
                format!("drum_count_{colour}"),
                format!("{colour}_drum_count"),
            ]),
        ));
        map.push((
            format!("{colour}_toner_remaining"),
            Target::Supply(vec!["toner"], Some(colour)),
        ));
        map.push((
            format!("{colour}_ink_remaining"),
            Target::Supply(vec!["ink"], Some(colour)),
        ));
        map.push((
            format!("{colour}_drum_remaining_life"),
            Target::Supply(vec!["drum"], Some(colour)),
        ));
    }
    map
}

fn brother_checks(fields: &BTreeMap<String, i64>, snap: Option<&Snapshot>) -> Vec<Check> {
    let none = Snapshot::default();
    let s = snap.unwrap_or(&none);
    let mut checks = Vec::new();
    for (field, target) in brother_expectations() {
        let Some(&expected) = fields.get(&field) else {
            continue;
        };
        match target {
            Target::Meter(names) => {
                let ours = names.iter().find_map(|n| s.meter(n).map(|v| (n, v)));
                checks.push(check(
                    format!("{field} → meter {}", names.join("|")),
                    expected.to_string(),
                    ours.map_or("no such meter".into(), |(n, v)| format!("{n} = {v}")),
                    ours.is_some_and(|(_, v)| v as i64 == expected),
                ));
            }
            Target::Supply(kinds, colour) => {
                let of_kind = |c: Option<&str>| {
                    s.supplies
                        .iter()
                        .find(|x| kinds.contains(&x.kind.as_str()) && x.color.as_deref() == c)
                };
                let ours = match colour {
                    Some(c) => of_kind(Some(c)),
                    None => of_kind(None).or_else(|| of_kind(Some("black"))),
                };
                checks.push(check(
                    format!("{field} → {} {}", colour.unwrap_or(""), kinds.join("|")),
                    format!("{expected}%"),
                    ours.map_or_else(
                        || {
                            let have: Vec<String> = s
                                .supplies
                                .iter()
                                .map(|x| {
                                    format!(
                                        "{} {} {}",
                                        x.color.as_deref().unwrap_or("-"),
                                        x.kind,
                                        show(x.percent)
                                    )
                                })
                                .collect();
                            format!("no such supply (have: {})", have.join(", "))
                        },
                        |x| format!("{} {}", show(x.percent), x.state),
                    ),
                    ours.and_then(|x| x.percent)
                        .is_some_and(|p| (p - expected as f64).abs() <= 1.0),
                ));
            }
        }
    }
    checks
}

// ---------------------------------------------------------------------------
// The test

/// Copies the recordings and the converted fixtures to `data`, one file
/// per device, named uniquely.
fn prepare(root: &Path, data: &Path) -> Vec<Device> {
    let mut devices = Vec::new();
    let add = |name: String, kind: Kind, devices: &mut Vec<Device>| {
        assert!(
            !devices.iter().any(|d: &Device| d.name == name),
            "two recordings named {name}"
        );
        devices.push(Device {
            served: data.join(format!("{name}.snmprec")),
            name,
            kind,
        });
    };
    for (sub, group) in [
        ("librenms/snmprec", "librenms"),
        ("librenms/detect-only", "detect-only"),
        ("printmaster/snmprec", "printmaster"),
    ] {
        for path in printwatch_testkit::recordings::files(root, sub, ".snmprec") {
            let name = common::stem(&path);
            let expectation = common::expectation(&path);
            common::copy_servable(
                &path,
                &expectation.excluded_lines,
                &data.join(format!("{name}.snmprec")),
            );
            let kind = match group {
                "librenms" => Kind::LibreNms(root.join(format!("librenms/expected/{name}.json"))),
                "detect-only" => Kind::DetectOnly,
                _ => Kind::PrintMaster,
            };
            add(name, kind, &mut devices);
        }
    }
    for path in printwatch_testkit::recordings::files(root, "bieniu-brother/fixtures", ".json") {
        let stem = common::stem(&path);
        let name = format!("bieniu_{stem}");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let hostile = matches!(stem.as_str(), "invalid" | "incomplete");
        let snmprec = match brother_fixture_to_snmprec(&text) {
            Ok(s) => s,
            Err(e) if hostile => {
                report(&format!("{name}: not convertible ({e}): not served"));
                continue;
            }
            Err(e) => panic!("{}: {e}", path.display()),
        };
        let file = data.join(format!("{name}.snmprec"));
        std::fs::write(&file, snmprec).expect("write a converted fixture");
        common::set_mode(&file, 0o644);
        let kind = if hostile {
            Kind::Hostile
        } else {
            Kind::Brother(stem.to_uppercase())
        };
        add(name, kind, &mut devices);
    }
    devices
}

#[test]
fn conformance_on_real_recordings() {
    let root = need!(common::recordings_dir());
    let profiles = ProfileSet::embedded().expect("the embedded profiles load");
    let tmp = TempDir::new("conformance");
    let data = tmp.subdir("data");
    let devices = prepare(&root, &data);
    let ambr =
        printwatch_testkit::recordings::file(&root, "bieniu-brother/expected/test_init.ambr").map(
            |path| {
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                parse_ambr(&text)
            },
        );

    let sim = common::SimFleet::start(&tmp, Ipv4Addr::new(127, 86, 4, 0), 25, &data);
    let snmpsim = match common::snmpsim() {
        Ok(program) => {
            let files: Vec<(PathBuf, BTreeSet<usize>)> = devices
                .iter()
                .map(|d| (d.served.clone(), BTreeSet::new()))
                .collect();
            Some(Snmpsim::start(
                &program,
                &tmp,
                common::test_ip(4, 200),
                &files,
                &devices[0].name,
            ))
        }
        Err(why) => {
            common::missing(&format!("the snmpsim half of the conformance test: {why}"));
            None
        }
    };

    // Collect every device from both servers, a few at a time.
    let outcomes: Vec<(Outcome, Option<Outcome>)> = {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results = std::sync::Mutex::new(BTreeMap::new());
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(device) = devices.get(i) else { break };
                        let ours = collect(&tmp, sim.agents[&device.name], "public");
                        let theirs = snmpsim
                            .as_ref()
                            .map(|s| collect(&tmp, s.target, &device.name));
                        results.lock().expect("lock").insert(i, (ours, theirs));
                    }
                });
            }
        });
        results.into_inner().expect("lock").into_values().collect()
    };

    let mut failures: Vec<String> = Vec::new();
    let compared = outcomes.iter().filter(|(_, t)| t.is_some()).count();
    let mut groups: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let (mut passed_all, mut total_all) = (0, 0);
    for (device, (ours, theirs)) in devices.iter().zip(&outcomes) {
        let name = &device.name;
        if let Some(theirs) = theirs {
            let same = match (ours, theirs) {
                (Outcome::Snapshot(a), Outcome::Snapshot(b)) => comparable(a) == comparable(b),
                (Outcome::Exit(a, _), Outcome::Exit(b, _)) => a == b,
                _ => false,
            };
            if !same {
                let detail = match (ours.snapshot(), theirs.snapshot()) {
                    (Some(a), Some(b)) => json_differences(&comparable(a), &comparable(b)),
                    _ => format!(
                        "printwatch sim: {}; snmpsim: {}",
                        ours.describe(),
                        theirs.describe()
                    ),
                };
                failures.push(format!(
                    "{name}: printwatch sim and snmpsim give different results:\n{detail}"
                ));
            }
        }
        // What was collected must equal what the whole file says.
        if let Some(snap) = ours.snapshot() {
            let file = in_process(&device.served, &profiles);
            if comparable(snap) != comparable(&file) {
                failures.push(format!(
                    "{name}: the collected snapshot differs from the one read from the whole recording:\n{}",
                    json_differences(&comparable(&file), &comparable(snap))
                ));
            }
        }
        let checks = match &device.kind {
            Kind::LibreNms(expected) => {
                let Ok(text) = std::fs::read_to_string(expected) else {
                    // A device left unscored is a smaller test: say so.
                    printwatch_testkit::recordings::incomplete(
                        &root,
                        &format!("librenms/expected/{name}.json"),
                        "missing, so this device is not scored",
                    );
                    continue;
                };
                let json: serde_json::Value =
                    serde_json::from_str(&text).expect("LibreNMS expectations are JSON");
                let bytes = std::fs::read(&device.served).expect("read the served file");
                let view = MibView::from_varbinds(snmprec::parse(&bytes).records);
                if ours.snapshot().is_none() {
                    failures.push(format!("{name}: collect failed: {}", ours.describe()));
                }
                librenms_checks(&json, ours.snapshot(), &view)
            }
            Kind::DetectOnly => {
                // No Printer-MIB: collect says "not a printer" (5), or
                // collects if the stub has one.
                let snap = match ours {
                    Outcome::Snapshot(s) => (**s).clone(),
                    Outcome::Exit(Some(5), _) => in_process(&device.served, &profiles),
                    other => {
                        failures.push(format!(
                            "{name}: collect should exit 0 or 5, got {}",
                            other.describe()
                        ));
                        in_process(&device.served, &profiles)
                    }
                };
                stub_checks(name, &snap)
            }
            Kind::PrintMaster => {
                if ours.snapshot().is_none() {
                    failures.push(format!("{name}: collect failed: {}", ours.describe()));
                }
                report(&format!(
                    "{name}: no expectations (collected: {})",
                    ours.describe()
                ));
                continue;
            }
            Kind::Hostile => {
                match ours {
                    Outcome::Snapshot(_) | Outcome::Exit(Some(5), _) => {}
                    other => failures.push(format!(
                        "{name}: hostile input: collect should exit 0 or 5, got {}",
                        other.describe()
                    )),
                }
                report(&format!(
                    "{name}: hostile input, not scored (collected: {})",
                    ours.describe()
                ));
                continue;
            }
            // No .ambr at all: recorded once above, not once per model.
            Kind::Brother(_) if ambr.is_none() => continue,
            Kind::Brother(model) => match ambr.as_ref().and_then(|a| a.get(model)) {
                Some(fields) => {
                    // Some fixtures hold no Printer-MIB object (the real
                    // device has one): collect says "not a printer", and the
                    // fixture is read in process.
                    let snap = match ours {
                        Outcome::Snapshot(s) => (**s).clone(),
                        Outcome::Exit(Some(5), _) => {
                            report(&format!(
                                "{name}: no Printer-MIB in the fixture (collect exits 5): read in process"
                            ));
                            in_process(&device.served, &profiles)
                        }
                        other => {
                            failures.push(format!("{name}: collect failed: {}", other.describe()));
                            Snapshot::default()
                        }
                    };
                    brother_checks(fields, Some(&snap))
                }
                None => {
                    printwatch_testkit::recordings::incomplete(
                        &root,
                        "bieniu-brother/expected/test_init.ambr",
                        &format!("no model {model} there, so {name} is not scored"),
                    );
                    continue;
                }
            },
        };
        let passed = checks.iter().filter(|c| c.passed).count();
        report(&format!("{name}: {passed}/{}", checks.len()));
        for c in checks.iter().filter(|c| !c.passed) {
            report(&format!(
                "  miss: {}: expected {}, got {}",
                c.what, c.expected, c.got
            ));
        }
        let group = groups.entry(device.kind.group()).or_default();
        group.0 += passed;
        group.1 += checks.len();
        passed_all += passed;
        total_all += checks.len();
    }
    report(&format!(
        "servers: {compared} of {} devices also collected from snmpsim ({} disagreements)",
        devices.len(),
        failures
            .iter()
            .filter(|f| f.contains("snmpsim give different"))
            .count()
    ));
    for (group, (passed, total)) in &groups {
        report(&format!(
            "conformance[{group}]: {passed}/{total} = {:.1}%",
            percent(*passed, *total)
        ));
    }
    let score = percent(passed_all, total_all);
    report(&format!(
        "conformance: {passed_all}/{total_all} = {score:.1}% (target {TARGET_PERCENT}%, floor {FLOOR_PERCENT}%)"
    ));

    assert!(total_all > 0, "no check was made");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let strict = std::env::var(STRICT).is_ok_and(|v| v == "1");
    let floor = floor_percent(strict);
    assert!(
        score >= floor,
        "conformance {score:.1}% is below {floor}%{}",
        if strict {
            " (the strict floor: today's score, no margin)"
        } else {
            " (the floor: a regression)"
        }
    );
}

/// The floor the score must reach: strict is never lower than the default.
fn floor_percent(strict: bool) -> f64 {
    if strict {
        STRICT_FLOOR_PERCENT.max(FLOOR_PERCENT)
    } else {
        FLOOR_PERCENT
    }
}

#[test]
fn strict_is_stricter() {
    assert!(floor_percent(true) > floor_percent(false));
    assert!(floor_percent(false) >= TARGET_PERCENT);
}

fn percent(passed: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        passed as f64 * 100.0 / total as f64
    }
}

/// The top-level fields where two snapshots differ.
fn json_differences(a: &Snapshot, b: &Snapshot) -> String {
    let (a, b) = (
        serde_json::to_value(a).unwrap_or_default(),
        serde_json::to_value(b).unwrap_or_default(),
    );
    let mut out = Vec::new();
    if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
        for (key, x) in a {
            let y = b.get(key).unwrap_or(&serde_json::Value::Null);
            if x != y {
                out.push(format!("  {key}: {x}\n  {key}: {y}"));
            }
        }
    }
    out.join("\n")
}
