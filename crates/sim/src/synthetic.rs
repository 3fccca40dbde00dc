//! Synthetic printers for the demo and for tests that need many vendors:
//! recordings the project makes itself (no third-party data), written from
//! the vendor profiles, so each device carries its vendor's counters at the
//! OIDs its profile reads.

use printwatch_printer::ProfileSet;
use printwatch_printer::profile::LoadedProfile;
use printwatch_snmp::{Oid, Value, VarBind};

/// A model of the demo fleet: (profile, brand, model, colour, ink, the
/// vendor's enterprise OID for sysObjectID).
pub const CATALOG: &[(&str, &str, &str, bool, bool, &str)] = &[
    (
        "hp",
        "HP",
        "Color LaserJet Pro M454dw",
        true,
        false,
        "1.3.6.1.4.1.11.2.3.9.1",
    ),
    (
        "hp",
        "HP",
        "LaserJet Enterprise M507",
        false,
        false,
        "1.3.6.1.4.1.11.2.3.9.1",
    ),
    (
        "ricoh",
        "RICOH",
        "MP C3004",
        true,
        false,
        "1.3.6.1.4.1.367.1.1",
    ),
    (
        "ricoh",
        "SAVIN",
        "MP 4055",
        false,
        false,
        "1.3.6.1.4.1.367.1.1",
    ),
    (
        "kyocera",
        "KYOCERA",
        "ECOSYS M3655idn",
        false,
        false,
        "1.3.6.1.4.1.1347.41",
    ),
    (
        "kyocera",
        "KYOCERA",
        "TASKalfa 2553ci",
        true,
        false,
        "1.3.6.1.4.1.1347.41",
    ),
    (
        "canon",
        "Canon",
        "iR-ADV C5535",
        true,
        false,
        "1.3.6.1.4.1.1602.4.7",
    ),
    (
        "brother",
        "Brother",
        "HL-L5100DN",
        false,
        false,
        "1.3.6.1.4.1.2435.2.3.9.1",
    ),
    (
        "xerox",
        "Xerox",
        "VersaLink C405",
        true,
        false,
        "1.3.6.1.4.1.253.8.62.1.20.1",
    ),
    (
        "lexmark",
        "Lexmark",
        "MS621",
        false,
        false,
        "1.3.6.1.4.1.641.1.1",
    ),
    (
        "konica",
        "KONICA MINOLTA",
        "bizhub C300i",
        true,
        false,
        "1.3.6.1.4.1.18334.1.1.1.2.1",
    ),
    (
        "sharp",
        "SHARP",
        "MX-3071",
        true,
        false,
        "1.3.6.1.4.1.2385.3.1.1",
    ),
    (
        "epson",
        "EPSON",
        "WF-C5790 Series",
        true,
        true,
        "1.3.6.1.4.1.1248.1.1.2.1",
    ),
    (
        "toshiba",
        "TOSHIBA",
        "e-STUDIO2518A",
        false,
        false,
        "1.3.6.1.4.1.1129.2.3.1",
    ),
    ("oki", "OKI", "C532", true, false, "1.3.6.1.4.1.2001.1.1.1"),
    (
        "fujifilm",
        "FUJIFILM",
        "Apeos C2570",
        true,
        false,
        "1.3.6.1.4.1.297.1.11.1",
    ),
];

/// sysDescr in the vendor's own wording, for the profiles that read the
/// firmware version only there (`{full}` brand and model, `{model}`,
/// `{firmware}`); the others get "<brand> <model>; firmware <version>" and
/// the version at the OIDs their profile reads.
const DESCR_WORDING: &[(&str, &str)] = &[
    // xerox.toml: "Xerox AltaLink C8045; SS 100.002.057.09608, NC …, UI
    // …" (LibreNMS test data): the system software version first.
    (
        "xerox",
        "{full}; SS {firmware}, NC {firmware}, UI {firmware}",
    ),
    // fujifilm.toml: "FUJI XEROX <model>; <component versions>", the
    // controller (ESS) among them.
    (
        "fujifilm",
        "{full}; Net 16.41, ESS {firmware}, IOT 03.00.05",
    ),
    // oki.toml: "OKI OkiLAN 8500e Rev.01.23 ... PrintServer: Attached to
    // MC342 Rev.02.70": the printer attached and its firmware revision.
    (
        "oki",
        "OKI OkiLAN 8500e Rev.01.23 10/100BASE Ethernet PrintServer: Attached to {model} Rev.{firmware}",
    ),
];

fn oid(s: &str) -> Oid {
    s.parse().unwrap_or_default()
}

fn text(s: &str) -> Value {
    Value::OctetString(s.as_bytes().to_vec())
}

/// A small deterministic generator (no randomness: demo runs are alike).
struct Numbers(u64);

impl Numbers {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

#[allow(clippy::too_many_arguments)] // one catalog row, spelled out
/// The objects of one synthetic printer. `n` makes serials, MACs and
/// counters differ from device to device.
pub fn printer(
    profiles: &ProfileSet,
    profile: &str,
    brand: &str,
    model: &str,
    colour: bool,
    ink: bool,
    sys_object_id: &str,
    n: u32,
) -> Vec<VarBind> {
    let mut r = Numbers(u64::from(n) * 7919 + 17);
    let mut out = Vec::new();
    let mut put = |o: Oid, v: Value| {
        if o.is_encodable() {
            out.push(VarBind::new(o, v));
        }
    };
    let loaded: Option<&LoadedProfile> = profiles.get(profile);
    let enterprise = oid(sys_object_id);
    let serial = format!(
        "{}{:08}",
        &brand
            .chars()
            .filter(char::is_ascii_alphabetic)
            .collect::<String>()
            .to_uppercase()[..2.min(brand.len())],
        10_000_000 + n
    );
    let full = format!("{brand} {model}");
    let total = 5_000 + r.next(300_000);
    let color_pages = if colour {
        total * (20 + r.next(40)) / 100
    } else {
        0
    };

    let firmware = format!("1.{}.{}", n % 7, n % 13);
    let sys_descr = match DESCR_WORDING.iter().find(|(p, _)| *p == profile) {
        Some((_, wording)) => wording
            .replace("{full}", &full)
            .replace("{model}", model)
            .replace("{firmware}", &firmware),
        None => format!("{full}; firmware {firmware}"),
    };
    put(oid("1.3.6.1.2.1.1.1.0"), text(&sys_descr));
    put(oid("1.3.6.1.2.1.1.2.0"), Value::ObjectId(enterprise));
    put(
        oid("1.3.6.1.2.1.1.3.0"),
        Value::TimeTicks(1_000_000 + r.next(90_000_000) as u32),
    );
    put(oid("1.3.6.1.2.1.1.4.0"), text("helpdesk@example.org"));
    put(oid("1.3.6.1.2.1.1.5.0"), text(&format!("prn-{:03}", n)));
    put(
        oid("1.3.6.1.2.1.1.6.0"),
        text(&format!("Floor {}, room {}", 1 + n % 5, 100 + n)),
    );
    put(oid("1.3.6.1.2.1.2.2.1.1.1"), Value::Integer(1));
    put(oid("1.3.6.1.2.1.2.2.1.3.1"), Value::Integer(6));
    put(
        oid("1.3.6.1.2.1.2.2.1.6.1"),
        Value::OctetString(vec![
            0x00,
            0x00,
            0xaa,
            (n >> 16) as u8,
            (n >> 8) as u8,
            n as u8,
        ]),
    );
    put(
        oid("1.3.6.1.2.1.25.3.2.1.2.1"),
        Value::ObjectId(oid("1.3.6.1.2.1.25.3.1.5")),
    );
    put(oid("1.3.6.1.2.1.25.3.2.1.3.1"), text(&full));
    // One printer in ten (the 3rd, 13th, …) in trouble: a paper jam or a
    // door open, as hrDeviceStatus, hrPrinterDetectedErrorState (RFC 3805
    // bits: 0x04 jammed, 0x08 doorOpen), the console and the alert table.
    let fault = (n % 10 == 3).then_some(if n % 20 == 3 {
        (0x04u8, 13, 8, "Paper jam in tray 2")
    } else {
        (0x08u8, 6, 3, "Close the front door")
    });
    put(
        oid("1.3.6.1.2.1.25.3.2.1.5.1"),
        Value::Integer(if fault.is_some() { 5 } else { 2 }),
    );
    put(
        oid("1.3.6.1.2.1.25.3.5.1.1.1"),
        Value::Integer(if fault.is_some() { 1 } else { 3 }),
    );
    put(
        oid("1.3.6.1.2.1.25.3.5.1.2.1"),
        Value::OctetString(vec![fault.map_or(0, |f| f.0)]),
    );
    if let Some((_, group, code, message)) = fault {
        let alert = |column: u32| oid(&format!("1.3.6.1.2.1.43.18.1.1.{column}.1.1"));
        put(alert(2), Value::Integer(3)); // critical
        put(alert(3), Value::Integer(4)); // trained operator
        put(alert(4), Value::Integer(group));
        put(alert(5), Value::Integer(1));
        put(alert(6), Value::Integer(-1));
        put(alert(7), Value::Integer(code));
        put(alert(8), text(message));
    }
    put(oid("1.3.6.1.2.1.43.5.1.1.17.1"), text(&serial));
    put(
        oid("1.3.6.1.2.1.43.10.2.1.4.1.1"),
        Value::Counter32(total as u32),
    );
    put(
        oid("1.3.6.1.2.1.43.10.2.1.6.1.1"),
        Value::Integer(if colour { 4 } else { 1 }),
    );
    put(
        oid("1.3.6.1.2.1.43.16.5.1.2.1.1"),
        text(fault.map_or("Ready", |f| f.3)),
    );
    put(oid("1.3.6.1.2.1.43.8.2.1.2.1.1"), Value::Integer(4));
    put(oid("1.3.6.1.2.1.43.8.2.1.9.1.1"), Value::Integer(550));
    put(
        oid("1.3.6.1.2.1.43.8.2.1.10.1.1"),
        Value::Integer(r.next(551) as i32),
    );
    put(oid("1.3.6.1.2.1.43.8.2.1.13.1.1"), text("Tray 1"));

    let colours: &[&str] = if colour {
        &["black", "cyan", "magenta", "yellow"]
    } else {
        &["black"]
    };
    let mut row = 0;
    for (i, c) in colours.iter().enumerate() {
        row += 1;
        let (kind, what) = if ink { (5, "Ink") } else { (3, "Toner") };
        let cap = if ink { 100 } else { 10_000 };
        // The second printer's first colorant nearly empty (2 %): the
        // demo's "order toner" case.
        let level = if i == 0 && n == 2 {
            cap * 2 / 100
        } else {
            cap * (10 + r.next(90) as i32) / 100
        };
        supply(
            &mut put,
            row,
            kind,
            &format!("{} {what}", capitalise(c)),
            19 - 4 * i32::from(ink),
            cap,
            level,
            i + 1,
        );
        put(
            oid(&format!("1.3.6.1.2.1.43.12.1.1.4.1.{}", i + 1)),
            text(c),
        );
    }
    if !ink {
        row += 1;
        supply(
            &mut put,
            row,
            9,
            "Drum Unit",
            7,
            60_000,
            20_000 + r.next(40_000) as i32,
            0,
        );
        row += 1;
        supply(&mut put, row, 4, "Waste Toner Box", 19, 100, -3, 0);
    }
    // Vendor meters where the profile reads them.
    if let Some(p) = loaded {
        for rule in &p.profile.meters {
            let value = match rule.name.as_str() {
                "total" => total,
                "total_mono" | "print_mono" => total - color_pages,
                "total_color" | "print_color" => color_pages,
                "duplex" => total / 3,
                "copy_mono" | "copy_color" | "fax" | "scan" => total / 10,
                _ => total / 20,
            };
            if let Some(o) = &rule.oid {
                put(o.clone(), Value::Counter32(value as u32));
            } else if let Some(first) = rule.first_of.first() {
                put(first.clone(), Value::Counter32(value as u32));
            } else if !rule.sum.is_empty() {
                let parts = rule.sum.len() as u64;
                for (i, o) in rule.sum.iter().enumerate() {
                    let part = value / parts + if i == 0 { value % parts } else { 0 };
                    put(o.clone(), Value::Counter32(part as u32));
                }
            }
        }
        for source in &p.profile.serial {
            if let Some(o) = &source.oid {
                put(o.clone(), text(&serial));
            }
        }
        for source in &p.profile.model {
            if let Some(o) = &source.oid {
                put(o.clone(), text(&full));
            }
        }
        // The firmware version where the profile reads it as it is (a
        // scalar, or the first row of a column). Sources with a pattern
        // expect the vendor's own wording, which is not made up here.
        let worded = DESCR_WORDING.iter().any(|(name, _)| *name == profile);
        for source in p
            .profile
            .firmware
            .iter()
            .filter(|s| s.regex.is_none() && !worded)
        {
            match (&source.oid, &source.column) {
                (Some(o), _) => put(o.clone(), text(&firmware)),
                (None, Some(column)) => put(column.child(1), text(&firmware)),
                (None, None) => {}
            }
        }
    }
    out.sort_by(|a, b| a.oid.cmp(&b.oid));
    out.dedup_by(|later, first| later.oid == first.oid);
    out
}

#[allow(clippy::too_many_arguments)] // a row of the supplies table
fn supply(
    put: &mut impl FnMut(Oid, Value),
    row: u32,
    kind: i32,
    description: &str,
    unit: i32,
    cap: i32,
    level: i32,
    colorant: usize,
) {
    let cell = |column: u32| oid(&format!("1.3.6.1.2.1.43.11.1.1.{column}.1.{row}"));
    put(cell(3), Value::Integer(colorant as i32));
    put(cell(4), Value::Integer(if kind == 4 { 4 } else { 3 }));
    put(cell(5), Value::Integer(kind));
    put(cell(6), text(description));
    put(cell(7), Value::Integer(unit));
    put(cell(8), Value::Integer(cap));
    put(cell(9), Value::Integer(level));
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A device that answers SNMP but is no printer (a router, say).
pub fn router(n: u32) -> Vec<VarBind> {
    vec![
        VarBind::new(
            oid("1.3.6.1.2.1.1.1.0"),
            text("Linux edge-router 5.15.0 #1 SMP x86_64"),
        ),
        VarBind::new(
            oid("1.3.6.1.2.1.1.2.0"),
            Value::ObjectId(oid("1.3.6.1.4.1.8072.3.2.10")),
        ),
        VarBind::new(oid("1.3.6.1.2.1.1.5.0"), text(&format!("router-{n}"))),
        VarBind::new(
            oid("1.3.6.1.2.1.2.2.1.6.1"),
            Value::OctetString(vec![0x00, 0x00, 0xbb, 0, 0, n as u8]),
        ),
    ]
}

/// The demo fleet: one printer per catalog model, then as many again with
/// other serials, and one router. (file name, records). One printer in ten
/// is jammed or has a door open; the second has a toner at 2 %.
pub fn demo_fleet(profiles: &ProfileSet, printers: usize) -> Vec<(String, Vec<VarBind>)> {
    let mut fleet = Vec::new();
    for i in 0..printers {
        let (profile, brand, model, colour, ink, id) = CATALOG[i % CATALOG.len()];
        let name = format!(
            "{:02}-{}-{}.snmprec",
            i + 1,
            profile,
            model.to_lowercase().replace([' ', '/'], "-")
        );
        fleet.push((
            name,
            printer(
                profiles,
                profile,
                brand,
                model,
                colour,
                ink,
                id,
                i as u32 + 1,
            ),
        ));
    }
    fleet.push(("zz-router.snmprec".into(), router(1)));
    fleet
}

#[cfg(test)]
mod tests {
    use super::*;
    use printwatch_printer::{MibView, read_snapshot};

    #[test]
    fn every_catalog_printer_reads_as_its_vendor() {
        let profiles = ProfileSet::embedded().expect("profiles");
        for (i, (profile, brand, model, colour, ink, id)) in CATALOG.iter().enumerate() {
            let records = printer(
                &profiles,
                profile,
                brand,
                model,
                *colour,
                *ink,
                id,
                i as u32 + 1,
            );
            let snap = read_snapshot("t", &MibView::from_varbinds(records), &profiles);
            assert!(snap.serial.is_some(), "{model}: serial");
            let n = i as u32 + 1;
            assert_eq!(
                snap.firmware.as_deref(),
                Some(format!("1.{}.{}", n % 7, n % 13).as_str()),
                "{model}: firmware"
            );
            let n = i as u32 + 1;
            assert_eq!(!snap.alerts.is_empty(), n % 10 == 3, "{model}: alerts");
            assert_eq!(
                !snap.status.errors.is_empty(),
                n % 10 == 3,
                "{model}: {:?}",
                snap.status
            );
            let lowest = snap
                .supplies
                .iter()
                .filter_map(|s| s.percent)
                .fold(100.0, f64::min);
            assert_eq!(lowest <= 2.0, n == 2, "{model}: lowest supply {lowest}");
            assert!(snap.meter("total").is_some(), "{model}: total");
            assert_eq!(snap.color, Some(*colour), "{model}: colour");
            assert!(
                snap.model
                    .as_deref()
                    .is_some_and(|m| m.to_lowercase().contains(&model.to_lowercase())),
                "{model}: model {:?}",
                snap.model
            );
            assert!(
                snap.vendor
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(brand)
                        || brand.to_lowercase().starts_with(&v.to_lowercase())),
                "{model}: vendor {:?}",
                snap.vendor
            );
        }
    }
}
