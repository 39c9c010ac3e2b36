//! `kiln schema`: the JSON Schema (draft 2020-12) of kiln.yaml, generated
//! from the one table of fields the loader reads (`config::fields`), so an
//! editor that checks a kiln.yaml against it knows exactly the keys kiln
//! takes, with their descriptions and choices, and flags the rest.

use crate::config::fields;
use crate::output;

/// Where `kiln init` writes the schema, beside kiln.yaml, and what the
/// `# yaml-language-server: $schema=` line of the kiln.yaml it writes
/// names.
pub(crate) const FILE_NAME: &str = "kiln.schema.json";

pub(crate) fn run() -> i32 {
    super::printed(output::stdout(&text()))
}

/// The schema as the file holds it: indented JSON, a newline at the end.
pub(crate) fn text() -> String {
    let schema = fields::json_schema();
    // A `Value` always serialises; the fallback only satisfies the types.
    let json = serde_json::to_string_pretty(&schema).unwrap_or_else(|_| schema.to_string());
    format!("{json}\n")
}
