//! One formula-safe CSV writer (RFC 4180) for everything printwatch writes
//! as CSV: the server's exports and `printwatch scan --csv`. Device data
//! comes from the network (a printer's location or hostname is whatever
//! someone typed into it), so no field may run as a spreadsheet formula.
//!
//! The OWASP CSV-injection rules: a field whose first character, after any
//! leading spaces, quotes, tabs or line breaks, is `=`, `+`, `-`, `@`, a tab
//! or a carriage return gets a leading `'`; and a field that contains a
//! separator (`,` or `;`, which some locales use), a quote or a line break
//! is quoted, so that it stays one cell whichever separator the
//! spreadsheet assumes (a `;`-separated formula inside is no cell start).
//! Here, in the small crate both the server and the CLI depend on.

/// Characters that make a spreadsheet read a cell as a formula.
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Does `value` start a formula once leading padding is skipped?
fn is_formula(value: &str) -> bool {
    if value.starts_with(TRIGGERS) {
        return true;
    }
    value
        .trim_start_matches([' ', '"', '\'', '\n', '\r', '\t'])
        .starts_with(TRIGGERS)
}

/// One field, neutralised and quoted as needed.
pub fn field(value: &str) -> String {
    let value = if is_formula(value) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', ';', '"', '\n', '\r', '\t']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// One record: fields joined by `,`, ended by CRLF.
pub fn row<I, S>(fields: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut line = fields
        .into_iter()
        .map(|f| field(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_fields_stay_as_they_are() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("HP LaserJet 4200"), "HP LaserJet 4200");
        assert_eq!(field("12"), "12");
        assert_eq!(field(""), "");
        assert_eq!(row(["a", "b c"]), "a,b c\r\n");
    }

    #[test]
    fn separators_quotes_and_line_breaks_are_quoted() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("a;b"), "\"a;b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }

    /// The OWASP CSV-injection cases: each trigger at the start, after
    /// spaces, after quotes, after line breaks; and formulas in a
    /// `;`-separated field.
    #[test]
    fn formulas_never_start_a_cell() {
        let payloads = [
            "=1+1",
            "+1+1",
            "-1+1",
            "@SUM(1,1)",
            "\t=1+1",
            "\r=1+1",
            "=HYPERLINK(\"http://evil.example\",\"x\")",
            "=cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!E2",
            "@SUM(1+9)*cmd|' /C calc'!A0",
        ];
        for p in payloads {
            for padded in [
                p.to_string(),
                format!("   {p}"),
                format!("\"{p}"),
                format!("'{p}"),
                format!("\n{p}"),
                format!("\r\n{p}"),
                format!(" \" {p}"),
            ] {
                let out = field(&padded);
                let cell = out.strip_prefix('"').unwrap_or(&out);
                assert!(cell.starts_with('\''), "{padded:?} → {out:?}");
            }
            // After a separator of either kind: quoted, so no cell starts there.
            for sep in [",", ";"] {
                let out = field(&format!("ok{sep}{p}"));
                assert!(out.starts_with('"') && out.ends_with('"'), "{out:?}");
            }
        }
        assert_eq!(field("-12"), "'-12");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    }
}
