//! Vendor profiles: data files that say how to read a vendor's devices.
//!
//! A profile (TOML, one per manufacturer family, in `profiles/`) names the
//! devices it applies to (sysObjectID prefixes, sysDescr patterns), the brands
//! of the family, where model, serial and firmware are found, the vendor
//! meters (mapped to standard names, possibly sums of several OIDs) and how to
//! read part numbers and cartridge serials. The profiles are embedded in the
//! binary and can be replaced or extended from a directory, so that a new
//! model needs no release. Where a vendor packs values in a binary blob, a
//! decoder in code is named by the profile (`decoders.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use printwatch_snmp::{Oid, Value};
use regex_lite::Regex;
use serde::Deserialize;

use crate::mib::{MibView, int, text};
use crate::snapshot::{Meter, Snapshot, Source};

/// The profiles shipped in the binary, as (file name, text).
pub const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/profiles.rs"));

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    #[error("profile {file}: {message}")]
    Invalid { file: String, message: String },
    #[error("profile directory {0}: {1}")]
    Directory(String, String),
}

/// Where a text value is found.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TextSource {
    /// A scalar OID.
    #[serde(default)]
    pub oid: Option<Oid>,
    /// The first non-empty instance of a column.
    #[serde(default)]
    pub column: Option<Oid>,
    /// A field already read: `sys_descr`, `device_descr`, `model`, `sys_name`.
    #[serde(default)]
    pub field: Option<String>,
    /// Keeps the first capture group (or the whole match).
    #[serde(default)]
    pub regex: Option<String>,
    /// A prefix to put back (e.g. the brand, when the device omits it).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Used only when the standard MIBs gave no value.
    #[serde(default)]
    pub fallback: bool,
}

/// A vendor meter.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MeterRule {
    /// Standard name (`total`, `total_color`, …) or a clear vendor name.
    pub name: String,
    #[serde(default)]
    pub oid: Option<Oid>,
    /// Several OIDs whose sum is the meter (all must be present).
    #[serde(default)]
    pub sum: Vec<Oid>,
    /// Alternatives: the first OID present is used.
    #[serde(default)]
    pub first_of: Vec<Oid>,
    /// A row of a counter table found by the value of a key column (e.g.
    /// Ricoh's counter table, whose rows are identified by a counter type).
    #[serde(default)]
    pub select: Option<RowSelect>,
    /// The value is text (e.g. "1920 INCHES, 4876 CENTIMETERS"): the first
    /// capture group (or the whole match) is read as a whole number. With
    /// `oid`, `sum` or `first-of`.
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default = "impressions")]
    pub unit: String,
}

/// Every row of a counter column as a meter: for tables whose rows a
/// vendor extends from model to model (Sharp's counter table), so that rows
/// no rule names are still reported. Rows a `[[meter]]` rule already reads
/// are left to it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MeterRows {
    /// The column of counter values.
    pub column: Oid,
    /// Each row's meter is named this prefix and its index, arcs joined by
    /// `_` (`sharp_8_4_50`).
    pub prefix: String,
    /// How many rows a device of this kind usually has (fetch planning).
    #[serde(default = "usual_rows")]
    pub rows: u32,
    #[serde(default = "impressions")]
    pub unit: String,
}

fn usual_rows() -> u32 {
    16
}

/// "The value column of the row whose key column holds `key`".
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RowSelect {
    pub key_column: Oid,
    /// A number (or text) the key column holds.
    #[serde(default)]
    pub key: Option<toml::Value>,
    /// Several keys: the meter is the sum of every row whose key is one of
    /// them (at least one row present).
    #[serde(default)]
    pub keys: Vec<toml::Value>,
    pub value_column: Oid,
}

fn key_text(key: &toml::Value) -> String {
    match key {
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl RowSelect {
    /// The value cell of the row whose key is `wanted`.
    fn cell(&self, view: &MibView, wanted: &str) -> Option<(Oid, u64)> {
        view.column(&self.key_column)
            .filter(|(_, v)| text(v).as_deref() == Some(wanted))
            .find_map(|(index, _)| {
                let cell = Oid::new([self.value_column.arcs(), index].concat());
                counter(view, &cell).map(|v| (cell, v))
            })
    }

    /// The meter's value and where it came from.
    fn find(&self, view: &MibView) -> Option<(u64, Source)> {
        if let Some(key) = &self.key {
            return self
                .cell(view, &key_text(key))
                .map(|(cell, v)| (v, Source::One(cell.to_string())));
        }
        // Every row whose key is one of `keys` (a table may have several rows
        // per key, e.g. one per paper size).
        // In the order of `keys`, as the profile names them.
        let cells: Vec<(Oid, u64)> = self
            .keys
            .iter()
            .map(key_text)
            .flat_map(|wanted| {
                view.column(&self.key_column)
                    .filter(move |(_, v)| text(v).as_deref() == Some(wanted.as_str()))
                    .filter_map(|(index, _)| {
                        let cell = Oid::new([self.value_column.arcs(), index].concat());
                        counter(view, &cell).map(|v| (cell, v))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        if cells.is_empty() {
            return None;
        }
        let total = cells.iter().fold(0u64, |a, (_, v)| a.saturating_add(*v));
        Some((
            total,
            Source::Sum(cells.iter().map(|(c, _)| c.to_string()).collect()),
        ))
    }
}

fn impressions() -> String {
    "impressions".into()
}

/// A brand of a family, recognised in sysDescr or the model.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Brand {
    pub vendor: String,
    pub pattern: String,
}

/// How the devices a profile applies to are recognised.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Match {
    #[serde(default)]
    pub sys_object_id: Vec<Oid>,
    #[serde(default)]
    pub sys_descr: Vec<String>,
}

/// Extra facts about supplies.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SupplyRules {
    /// Part number found in the description (first capture group).
    #[serde(default)]
    pub part_number_regex: Option<String>,
    /// Cartridge serial found in the description (first capture group).
    #[serde(default)]
    pub serial_regex: Option<String>,
    /// A column, indexed like prtMarkerSuppliesTable, holding part numbers.
    #[serde(default)]
    pub part_number_column: Option<Oid>,
    /// A column, indexed like prtMarkerSuppliesTable, holding cartridge serials.
    #[serde(default)]
    pub serial_column: Option<Oid>,
}

/// One vendor profile, as written in its file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Profile {
    pub name: String,
    /// The manufacturer group (identity: family + serial).
    pub family: String,
    /// The default brand.
    #[serde(default)]
    pub vendor: Option<String>,
    /// Where the OIDs come from (documents), for whoever maintains it.
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default, rename = "match")]
    pub matching: Match,
    #[serde(default, rename = "brand")]
    pub brands: Vec<Brand>,
    #[serde(default)]
    pub model: Vec<TextSource>,
    #[serde(default)]
    pub serial: Vec<TextSource>,
    #[serde(default)]
    pub firmware: Vec<TextSource>,
    #[serde(default, rename = "meter")]
    pub meters: Vec<MeterRule>,
    #[serde(default)]
    pub meter_rows: Vec<MeterRows>,
    #[serde(default)]
    pub supplies: SupplyRules,
    /// Decoders in code, by name, with the OIDs they read.
    #[serde(default, rename = "decoder")]
    pub decoders: Vec<DecoderRule>,
    /// For the generic profile: enterprise number → family.
    #[serde(default)]
    pub enterprises: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DecoderRule {
    pub name: String,
    #[serde(default)]
    pub oids: Vec<Oid>,
    /// What each record of the blob means, by its code (hex, lower case).
    #[serde(default)]
    pub fields: BTreeMap<String, FieldRule>,
    /// The device is an inkjet when one of these matches (each a text source
    /// with a `regex`): its `toner` fields are read as `ink` and its
    /// `laser-only` fields are dropped.
    #[serde(default)]
    pub ink_when: Vec<TextSource>,
    /// The device is a laser when one of these matches, whatever `ink-when`
    /// says.
    #[serde(default)]
    pub laser_when: Vec<TextSource>,
}

/// The meaning of one decoded value: a meter, or a supply's remaining life.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FieldRule {
    /// A meter of this name.
    #[serde(default)]
    pub meter: Option<String>,
    /// A supply of this description (merged with the Printer-MIB supply of
    /// the same kind and colour, if there is one).
    #[serde(default)]
    pub supply: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
    /// The raw value is divided by this (e.g. 100 for hundredths of a percent).
    #[serde(default)]
    pub divisor: Option<u64>,
    #[serde(default)]
    pub unit: Option<String>,
    /// Only lasers have it (a drum, its counter): dropped on an inkjet
    /// (`ink-when`).
    #[serde(default)]
    pub laser_only: bool,
}

/// A profile ready to use: its patterns compiled.
#[derive(Debug)]
pub struct LoadedProfile {
    pub profile: Profile,
    descr_patterns: Vec<Regex>,
    brand_patterns: Vec<(String, Regex)>,
}

fn compile(file: &str, pattern: &str) -> Result<Regex, ProfileError> {
    Regex::new(pattern).map_err(|e| ProfileError::Invalid {
        file: file.to_owned(),
        message: format!("pattern {pattern:?}: {e}"),
    })
}

impl LoadedProfile {
    pub fn parse(file: &str, text: &str) -> Result<Self, ProfileError> {
        let profile: Profile = toml::from_str(text).map_err(|e| ProfileError::Invalid {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let conditions = profile
            .decoders
            .iter()
            .flat_map(|d| d.ink_when.iter().chain(&d.laser_when));
        if conditions.clone().any(|c| c.regex.is_none()) {
            return Err(ProfileError::Invalid {
                file: file.to_owned(),
                message: "each ink-when / laser-when condition needs a regex".into(),
            });
        }
        for source in profile
            .model
            .iter()
            .chain(&profile.serial)
            .chain(&profile.firmware)
            .chain(conditions)
        {
            let count = [
                source.oid.is_some(),
                source.column.is_some(),
                source.field.is_some(),
            ]
            .iter()
            .filter(|x| **x)
            .count();
            if count != 1 {
                return Err(ProfileError::Invalid {
                    file: file.to_owned(),
                    message: "each source needs exactly one of oid, column, field".into(),
                });
            }
            if let Some(r) = &source.regex {
                compile(file, r)?;
            }
            if let Some(f) = &source.field
                && !matches!(
                    f.as_str(),
                    "sys_descr" | "device_descr" | "model" | "sys_name"
                )
            {
                return Err(ProfileError::Invalid {
                    file: file.to_owned(),
                    message: format!("unknown field {f:?}"),
                });
            }
        }
        for meter in &profile.meters {
            let kinds = usize::from(meter.oid.is_some())
                + usize::from(!meter.sum.is_empty())
                + usize::from(!meter.first_of.is_empty())
                + usize::from(meter.select.is_some());
            if kinds != 1 {
                return Err(ProfileError::Invalid {
                    file: file.to_owned(),
                    message: format!(
                        "meter {:?} needs exactly one of oid, sum, first-of, select",
                        meter.name
                    ),
                });
            }
        }
        for meter in &profile.meters {
            if let Some(r) = &meter.regex {
                if meter.select.is_some() {
                    return Err(ProfileError::Invalid {
                        file: file.to_owned(),
                        message: format!("meter {:?}: regex does not apply to select", meter.name),
                    });
                }
                compile(file, r)?;
            }
            if let Some(select) = &meter.select
                && select.key.is_some() != select.keys.is_empty()
            {
                return Err(ProfileError::Invalid {
                    file: file.to_owned(),
                    message: format!("meter {:?}: select needs key or keys", meter.name),
                });
            }
        }
        for decoder in &profile.decoders {
            if !crate::decoders::exists(&decoder.name) {
                return Err(ProfileError::Invalid {
                    file: file.to_owned(),
                    message: format!("unknown decoder {:?}", decoder.name),
                });
            }
        }
        for r in [
            &profile.supplies.part_number_regex,
            &profile.supplies.serial_regex,
        ]
        .into_iter()
        .flatten()
        {
            compile(file, r)?;
        }
        let descr_patterns = profile
            .matching
            .sys_descr
            .iter()
            .map(|p| compile(file, p))
            .collect::<Result<_, _>>()?;
        let brand_patterns = profile
            .brands
            .iter()
            .map(|b| Ok((b.vendor.clone(), compile(file, &b.pattern)?)))
            .collect::<Result<_, ProfileError>>()?;
        Ok(LoadedProfile {
            profile,
            descr_patterns,
            brand_patterns,
        })
    }

    /// How well this profile matches: the length of the matching
    /// sysObjectID prefix, or 1 for a sysDescr match; 0 for none.
    fn score(&self, sys_object_id: Option<&Oid>, sys_descr: Option<&str>) -> usize {
        let by_id = sys_object_id
            .map(|id| {
                self.profile
                    .matching
                    .sys_object_id
                    .iter()
                    .filter(|p| id.starts_with(p))
                    .map(|p| p.len())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        if by_id > 0 {
            return by_id + 1;
        }
        match sys_descr {
            Some(d) if self.descr_patterns.iter().any(|p| p.is_match(d)) => 1,
            _ => 0,
        }
    }

    /// Every OID this profile reads: scalars, and columns with their
    /// expected row counts.
    pub fn plan(&self) -> (Vec<Oid>, Vec<(Oid, u32)>) {
        let mut scalars = Vec::new();
        let mut columns: Vec<Oid> = Vec::new();
        for s in self
            .profile
            .model
            .iter()
            .chain(&self.profile.serial)
            .chain(&self.profile.firmware)
        {
            scalars.extend(s.oid.clone());
            columns.extend(s.column.clone());
        }
        for m in &self.profile.meters {
            scalars.extend(m.oid.clone());
            scalars.extend(m.sum.iter().cloned());
            scalars.extend(m.first_of.iter().cloned());
            if let Some(select) = &m.select {
                columns.push(select.key_column.clone());
                columns.push(select.value_column.clone());
            }
        }
        for d in &self.profile.decoders {
            scalars.extend(d.oids.iter().cloned());
            for c in d.ink_when.iter().chain(&d.laser_when) {
                scalars.extend(c.oid.clone());
                columns.extend(c.column.clone());
            }
        }
        let s = &self.profile.supplies;
        columns.extend(s.part_number_column.clone());
        columns.extend(s.serial_column.clone());
        // Vendor tables: counters by type, supply details.
        let mut columns: Vec<(Oid, u32)> = columns.into_iter().map(|c| (c, 6)).collect();
        columns.extend(
            self.profile
                .meter_rows
                .iter()
                .map(|r| (r.column.clone(), r.rows)),
        );
        // A scalar inside a column read whole comes with it.
        scalars.retain(|o: &Oid| !columns.iter().any(|(c, _)| o.starts_with(c)));
        (scalars, columns)
    }
}

/// All profiles in use.
#[derive(Debug)]
pub struct ProfileSet {
    profiles: Vec<LoadedProfile>,
}

impl ProfileSet {
    /// The embedded profiles.
    pub fn embedded() -> Result<Self, ProfileError> {
        Self::from_texts(
            EMBEDDED
                .iter()
                .map(|(f, t)| ((*f).to_owned(), (*t).to_owned())),
        )
    }

    /// The embedded profiles, with files of `dir` replacing those of the same
    /// name and adding new ones.
    pub fn with_directory(dir: &Path) -> Result<Self, ProfileError> {
        let mut files: BTreeMap<String, String> = EMBEDDED
            .iter()
            .map(|(f, t)| ((*f).to_owned(), (*t).to_owned()))
            .collect();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| ProfileError::Directory(dir.display().to_string(), e.to_string()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    ProfileError::Directory(path.display().to_string(), e.to_string())
                })?;
                let name = entry.file_name().to_string_lossy().into_owned();
                files.insert(name, text);
            }
        }
        Self::from_texts(files)
    }

    fn from_texts(files: impl IntoIterator<Item = (String, String)>) -> Result<Self, ProfileError> {
        let profiles = files
            .into_iter()
            .map(|(file, text)| LoadedProfile::parse(&file, &text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ProfileSet { profiles })
    }

    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    /// Every profile, in file-name order.
    pub fn iter(&self) -> impl Iterator<Item = &LoadedProfile> {
        self.profiles.iter()
    }

    /// The profile of that name.
    pub fn get(&self, name: &str) -> Option<&LoadedProfile> {
        self.profiles.iter().find(|p| p.profile.name == name)
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// The profile for a device; `None` when no vendor profile matches (the
    /// generic reading applies).
    pub fn select(&self, view: &MibView) -> Option<&LoadedProfile> {
        let id = match view.get(&crate::mib::oid(crate::mib::std_oids::SYS_OBJECT_ID)) {
            Some(Value::ObjectId(id)) => Some(id.clone()),
            _ => None,
        };
        let descr = view.text(&crate::mib::oid(crate::mib::std_oids::SYS_DESCR));
        self.profiles
            .iter()
            .map(|p| (p.score(id.as_ref(), descr.as_deref()), p))
            .filter(|(score, _)| *score > 0)
            .max_by_key(|(score, _)| *score)
            .map(|(_, p)| p)
    }

    /// The brand named in a device's own description, with its family: the
    /// brand written earliest in the text wins (so "FUJI XEROX DocuPrint" is
    /// Fuji Xerox, not Xerox), then the longest. The brand on the device
    /// beats the sysObjectID, which rebadged and OEM devices inherit.
    pub fn brand(&self, sys_descr: &str) -> Option<(String, String)> {
        self.profiles
            .iter()
            .flat_map(|p| {
                p.brand_patterns.iter().filter_map(move |(vendor, re)| {
                    re.find(sys_descr).map(|m| {
                        (
                            m.start(),
                            std::cmp::Reverse(m.len()),
                            vendor,
                            &p.profile.family,
                        )
                    })
                })
            })
            .min_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)))
            .map(|(_, _, vendor, family)| (vendor.clone(), family.clone()))
    }

    /// The family of an enterprise number, from the generic profile's table.
    pub fn enterprise_family(&self, sys_object_id: &str) -> Option<String> {
        let enterprise = sys_object_id
            .trim_start_matches('.')
            .strip_prefix("1.3.6.1.4.1.")?
            .split('.')
            .next()?;
        self.profiles
            .iter()
            .find_map(|p| p.profile.enterprises.get(enterprise).cloned())
    }
}

/// The text a source names, as read.
fn raw_text(view: &MibView, snap: &Snapshot, source: &TextSource) -> Option<String> {
    if let Some(oid) = &source.oid {
        view.text(oid)
    } else if let Some(column) = &source.column {
        view.column(column).find_map(|(_, v)| text(v))
    } else {
        match source.field.as_deref() {
            Some("sys_descr") => snap.sys_descr.clone(),
            Some("device_descr") => snap.device_descr.clone(),
            Some("model") => snap.model.clone(),
            Some("sys_name") => snap.hostname.clone(),
            _ => None,
        }
    }
}

/// Whether one of `conditions` (sources with a regex) matches.
fn any_matches(view: &MibView, snap: &Snapshot, conditions: &[TextSource]) -> bool {
    conditions.iter().any(|c| {
        let re = c.regex.as_deref().and_then(|r| Regex::new(r).ok());
        match (re, raw_text(view, snap, c)) {
            (Some(re), Some(raw)) => re.is_match(&raw),
            _ => false,
        }
    })
}

/// The first text a list of sources yields.
fn read_text(
    view: &MibView,
    snap: &Snapshot,
    sources: &[TextSource],
    standard: Option<&String>,
) -> Option<String> {
    for source in sources {
        if source.fallback && standard.is_some() {
            continue;
        }
        let Some(raw) = raw_text(view, snap, source) else {
            continue;
        };
        let found = match &source.regex {
            None => Some(raw),
            Some(pattern) => Regex::new(pattern).ok().and_then(|re| {
                re.captures(&raw).and_then(|c| {
                    c.get(1)
                        .or_else(|| c.get(0))
                        .map(|m| m.as_str().trim().to_owned())
                })
            }),
        };
        if let Some(found) = found.filter(|f| !f.is_empty()) {
            return Some(match &source.prefix {
                Some(prefix) if !found.starts_with(prefix.as_str()) => format!("{prefix}{found}"),
                _ => found,
            });
        }
    }
    None
}

fn counter(view: &MibView, oid: &Oid) -> Option<u64> {
    view.get(oid)
        .and_then(int)
        .and_then(|v| u64::try_from(v).ok())
}

impl LoadedProfile {
    /// Refines a snapshot read from the standard MIBs with this profile.
    pub fn apply(&self, view: &MibView, snap: &mut Snapshot) {
        let p = &self.profile;
        snap.profile = Some(p.name.clone());
        snap.family = Some(p.family.clone());
        if let Some(model) = read_text(view, snap, &p.model, snap.model.as_ref()) {
            snap.model = Some(model);
        }
        if let Some(serial) = read_text(view, snap, &p.serial, snap.serial.as_ref()) {
            snap.serial = Some(serial);
        }
        if let Some(firmware) = read_text(view, snap, &p.firmware, snap.firmware.as_ref()) {
            snap.firmware = Some(firmware);
        }
        let haystack = format!(
            "{} {}",
            snap.sys_descr.as_deref().unwrap_or(""),
            snap.model.as_deref().unwrap_or("")
        );
        snap.vendor = self
            .brand_patterns
            .iter()
            .find(|(_, re)| re.is_match(&haystack))
            .map(|(v, _)| v.clone())
            .or_else(|| p.vendor.clone())
            .or_else(|| Some(p.family.clone()));
        for rule in &p.meters {
            let pattern = rule.regex.as_deref().and_then(|r| Regex::new(r).ok());
            let read = |oid: &Oid| match &pattern {
                None => counter(view, oid),
                Some(re) => view.text(oid).and_then(|t| {
                    let c = re.captures(&t)?;
                    c.get(1).or_else(|| c.get(0))?.as_str().trim().parse().ok()
                }),
            };
            let found = if let Some(oid) = &rule.oid {
                read(oid).map(|v| (v, Source::One(oid.to_string())))
            } else if !rule.sum.is_empty() {
                let parts: Option<Vec<u64>> = rule.sum.iter().map(&read).collect();
                parts.map(|parts| {
                    (
                        parts.iter().fold(0u64, |a, b| a.saturating_add(*b)),
                        Source::Sum(rule.sum.iter().map(Oid::to_string).collect()),
                    )
                })
            } else if let Some(select) = &rule.select {
                select.find(view)
            } else {
                rule.first_of
                    .iter()
                    .find_map(|o| read(o).map(|v| (v, Source::One(o.to_string()))))
            };
            if let Some((value, oid)) = found
                && !snap.meters.iter().any(|m| m.name == rule.name)
            {
                snap.meters.push(Meter {
                    name: rule.name.clone(),
                    value,
                    unit: rule.unit.clone(),
                    oid,
                });
            }
        }
        for rows in &p.meter_rows {
            for (index, value) in view.column(&rows.column) {
                let cell = Oid::new([rows.column.arcs(), index].concat()).to_string();
                let Some(value) = int(value).and_then(|v| u64::try_from(v).ok()) else {
                    continue;
                };
                let name = format!(
                    "{}{}",
                    rows.prefix,
                    index
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join("_")
                );
                let read_already = snap.meters.iter().any(|m| match &m.oid {
                    Source::One(o) => *o == cell,
                    Source::Sum(parts) => parts.len() == 1 && parts[0] == cell,
                });
                if read_already || snap.meters.iter().any(|m| m.name == name) {
                    continue;
                }
                snap.meters.push(Meter {
                    name,
                    value,
                    unit: rows.unit.clone(),
                    oid: Source::One(cell),
                });
            }
        }
        let supplies = &p.supplies;
        if let Some(pattern) = supplies
            .part_number_regex
            .as_deref()
            .and_then(|r| Regex::new(r).ok())
        {
            for supply in &mut snap.supplies {
                if supply.part_number.is_none() {
                    supply.part_number = pattern
                        .captures(&supply.description)
                        .and_then(|c| c.get(1).or_else(|| c.get(0)))
                        .map(|m| m.as_str().to_owned());
                }
            }
        }
        if let Some(pattern) = supplies
            .serial_regex
            .as_deref()
            .and_then(|r| Regex::new(r).ok())
        {
            for supply in &mut snap.supplies {
                if supply.serial.is_none() {
                    supply.serial = pattern
                        .captures(&supply.description)
                        .and_then(|c| c.get(1).or_else(|| c.get(0)))
                        .map(|m| m.as_str().to_owned());
                }
            }
        }
        for (column, is_serial) in [
            (supplies.part_number_column.as_ref(), false),
            (supplies.serial_column.as_ref(), true),
        ] {
            let Some(column) = column else { continue };
            for supply in &mut snap.supplies {
                let Some(index) = supply
                    .oid
                    .as_deref()
                    .and_then(|o| o.parse::<Oid>().ok())
                    .and_then(|o| {
                        o.arcs()
                            .get(o.len().saturating_sub(2)..)
                            .map(<[u32]>::to_vec)
                    })
                else {
                    continue;
                };
                let cell = Oid::new([column.arcs(), &index].concat());
                let direct = view.text(&cell);
                // Some vendors index by supply only (no hrDeviceIndex).
                let by_supply = || index.last().and_then(|i| view.text(&column.child(*i)));
                if let Some(value) = direct.or_else(by_supply) {
                    if is_serial {
                        supply.serial = Some(value);
                    } else {
                        supply.part_number = Some(value);
                    }
                }
            }
        }
        for decoder in &p.decoders {
            let inkjet = any_matches(view, snap, &decoder.ink_when)
                && !any_matches(view, snap, &decoder.laser_when);
            crate::decoders::run(
                &decoder.name,
                view,
                &decoder.oids,
                &decoder.fields,
                inkjet,
                snap,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_profile_loads() {
        let set = ProfileSet::embedded().expect("embedded profiles are valid");
        assert_eq!(set.len(), EMBEDDED.len());
    }

    #[test]
    fn meters_from_a_row_selected_by_key() {
        use printwatch_snmp::{Value, VarBind};
        let profile = LoadedProfile::parse(
            "t.toml",
            r#"
            name = "t"
            family = "T"
            [match]
            sys-object-id = ["1.3.6.1.4.1.99999"]
            [[meter]]
            name = "total"
            select = { key-column = "1.3.6.1.4.1.99999.5.1.2", key = 10, value-column = "1.3.6.1.4.1.99999.5.1.9" }
            "#,
        )
        .expect("valid");
        let o = |s: &str| s.parse::<Oid>().expect("oid");
        let view = MibView::from_varbinds([
            VarBind::new(o("1.3.6.1.4.1.99999.5.1.2.1"), Value::Integer(201)),
            VarBind::new(o("1.3.6.1.4.1.99999.5.1.2.7"), Value::Integer(10)),
            VarBind::new(o("1.3.6.1.4.1.99999.5.1.9.1"), Value::Integer(5)),
            VarBind::new(o("1.3.6.1.4.1.99999.5.1.9.7"), Value::Integer(123456)),
        ]);
        let mut snap = Snapshot::new("t");
        profile.apply(&view, &mut snap);
        assert_eq!(snap.meter("total"), Some(123456));
        assert_eq!(
            snap.meters[0].oid,
            Source::One("1.3.6.1.4.1.99999.5.1.9.7".into())
        );
        let (_, columns) = profile.plan();
        assert_eq!(columns.len(), 2);
        assert!(columns.iter().all(|(_, rows)| *rows > 0));
    }

    #[test]
    fn meters_from_text_with_a_regex() {
        use printwatch_snmp::{Value, VarBind};
        let profile = LoadedProfile::parse(
            "t.toml",
            r#"
            name = "t"
            family = "T"
            [[meter]]
            name = "print_length"
            oid = "1.3.6.1.4.1.99999.1.0"
            regex = "^\\s*([0-9]+)\\s*INCH"
            unit = "inches"
            [[meter]]
            name = "both"
            sum = ["1.3.6.1.4.1.99999.1.0", "1.3.6.1.4.1.99999.2.0"]
            regex = "([0-9]+)"
            [[meter]]
            name = "plain"
            oid = "1.3.6.1.4.1.99999.3.0"
            "#,
        )
        .expect("valid");
        let o = |s: &str| s.parse::<Oid>().expect("oid");
        let text = |s: &str| Value::OctetString(s.as_bytes().to_vec());
        let view = MibView::from_varbinds([
            VarBind::new(
                o("1.3.6.1.4.1.99999.1.0"),
                text("1920 INCHES, 4876 CENTIMETERS"),
            ),
            VarBind::new(o("1.3.6.1.4.1.99999.2.0"), Value::Integer(80)),
            VarBind::new(o("1.3.6.1.4.1.99999.3.0"), text("12 pages")),
        ]);
        let mut snap = Snapshot::new("t");
        profile.apply(&view, &mut snap);
        assert_eq!(snap.meter("print_length"), Some(1920));
        assert_eq!(snap.meters[0].unit, "inches");
        assert_eq!(snap.meter("both"), Some(2000));
        // Without a regex, text must be a plain number.
        assert_eq!(snap.meter("plain"), None);
    }

    #[test]
    fn decoder_conditions_are_planned_and_laser_wins() {
        use printwatch_snmp::{Value, VarBind};
        let profile = LoadedProfile::parse(
            "t.toml",
            r#"
            name = "t"
            family = "T"
            [[decoder]]
            name = "brother_records"
            oids = ["1.3.6.1.4.1.99999.8.0"]
            ink-when = [{ field = "sys_descr", regex = "(?i)inkjet" }, { oid = "1.3.6.1.4.1.99999.7.0", regex = "MDL:J" }]
            laser-when = [{ column = "1.3.6.1.4.1.99999.6", regex = "Laser" }]
            [decoder.fields]
            "6f" = { supply = "Black Toner", kind = "toner", color = "black", divisor = 100 }
            "41" = { supply = "Drum Unit", kind = "drum", divisor = 100, laser-only = true }
            "#,
        )
        .expect("valid");
        let (scalars, columns) = profile.plan();
        let o = |s: &str| s.parse::<Oid>().expect("oid");
        assert!(scalars.contains(&o("1.3.6.1.4.1.99999.7.0")));
        assert!(columns.iter().any(|(c, _)| *c == o("1.3.6.1.4.1.99999.6")));
        let blob = Value::OctetString(vec![
            0x6f, 0x01, 0x04, 0x00, 0x00, 0x13, 0x88, // black 50 %
            0x41, 0x01, 0x04, 0x00, 0x00, 0x23, 0x28, // drum 90 %
        ]);
        let text = |s: &str| Value::OctetString(s.as_bytes().to_vec());
        let kinds = |extra: Vec<VarBind>| {
            let mut binds = vec![VarBind::new(o("1.3.6.1.4.1.99999.8.0"), blob.clone())];
            binds.extend(extra);
            let mut snap = Snapshot::new("t");
            profile.apply(&MibView::from_varbinds(binds), &mut snap);
            snap.supplies
                .iter()
                .map(|s| format!("{} {}", s.kind, s.description))
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(vec![]), ["toner Black Toner", "drum Drum Unit"]);
        let ink = VarBind::new(o("1.3.6.1.4.1.99999.7.0"), text("MFG:X;MDL:J100;"));
        assert_eq!(kinds(vec![ink.clone()]), ["ink Black Ink"]);
        let laser = VarBind::new(o("1.3.6.1.4.1.99999.6.1"), text("Laser"));
        assert_eq!(
            kinds(vec![ink, laser]),
            ["toner Black Toner", "drum Drum Unit"]
        );
    }

    #[test]
    fn broken_profiles_are_refused_with_the_file_named() {
        let cases = [
            ("unknown key", "name = \"x\"\nfamily = \"X\"\ncolour = 1\n"),
            (
                "bad regex",
                "name = \"x\"\nfamily = \"X\"\n[match]\nsys-descr = [\"(\"]\n",
            ),
            (
                "two sources",
                "name = \"x\"\nfamily = \"X\"\n[[model]]\noid = \"1.3.6\"\nfield = \"sys_descr\"\n",
            ),
            (
                "bad meter",
                "name = \"x\"\nfamily = \"X\"\n[[meter]]\nname = \"total\"\n",
            ),
            (
                "bad decoder",
                "name = \"x\"\nfamily = \"X\"\n[[decoder]]\nname = \"nope\"\n",
            ),
            (
                "bad oid",
                "name = \"x\"\nfamily = \"X\"\n[[model]]\noid = \"1.x\"\n",
            ),
            (
                "regex with select",
                "name = \"x\"\nfamily = \"X\"\n[[meter]]\nname = \"t\"\nregex = \"(\\\\d+)\"\n\
                 select = { key-column = \"1.3\", key = 1, value-column = \"1.4\" }\n",
            ),
            (
                "bad meter regex",
                "name = \"x\"\nfamily = \"X\"\n[[meter]]\nname = \"t\"\noid = \"1.3\"\nregex = \"(\"\n",
            ),
            (
                "condition without regex",
                "name = \"x\"\nfamily = \"X\"\n[[decoder]]\nname = \"brother_records\"\n\
                 ink-when = [{ field = \"model\" }]\n",
            ),
            (
                "condition with two sources",
                "name = \"x\"\nfamily = \"X\"\n[[decoder]]\nname = \"brother_records\"\n\
                 laser-when = [{ field = \"model\", oid = \"1.3\", regex = \"L\" }]\n",
            ),
        ];
        for (what, text) in cases {
            match LoadedProfile::parse("broken.toml", text) {
                Err(e) => assert!(e.to_string().contains("broken.toml"), "{what}: {e}"),
                Ok(_) => panic!("{what}: accepted"),
            }
        }
    }
}
