//! CSV answers (RFC 4180), with spreadsheet formulas neutralised by the
//! writer shared with the CLI (`printwatch_snapshot::csv`).

use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Deserialize;

/// `?format=` of the endpoints that can answer CSV.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Csv,
}

impl Format {
    /// Whether `format` asks for CSV.
    pub fn csv(format: Option<Format>) -> bool {
        format == Some(Format::Csv)
    }
}

pub fn row<I: IntoIterator<Item = String>>(fields: I) -> String {
    printwatch_snapshot::csv::row(fields)
}

pub fn response(filename: &str, body: String) -> Response {
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use printwatch_snapshot::csv::field;

    #[test]
    fn fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-12"), "'-12");
        // What the shared writer adds: padding before a formula, `;`.
        assert_eq!(field("  =1+1"), "'  =1+1");
        assert_eq!(field("a;=1+1"), "\"a;=1+1\"");
        assert_eq!(row(["a".into(), "b c".into()]), "a,b c\r\n");
    }
}
