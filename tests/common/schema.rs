//! Validating kiln.yaml texts against a JSON Schema with Python's
//! `jsonschema` (draft 2020-12) and PyYAML, an implementation kiln shares
//! nothing with: what it accepts is what an editor's checker accepts.
//! `scripts/setup` installs both.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

const VALIDATE: &str = r#"
import json, sys
import jsonschema, yaml
job = json.load(sys.stdin)
jsonschema.Draft202012Validator.check_schema(job["schema"])
validator = jsonschema.Draft202012Validator(job["schema"])
out = []
for text in job["docs"]:
    doc = yaml.safe_load(text)
    out.append(sorted(e.message for e in validator.iter_errors(doc)))
json.dump(out, sys.stdout)
"#;

/// For each of `docs`, the schema's complaints (none: it validates). Fails
/// the test when `schema` is not a valid draft 2020-12 schema.
pub fn complaints(schema: &Value, docs: &[String]) -> Vec<Vec<String>> {
    let mut child = Command::new("python3")
        .args(["-c", VALIDATE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 (run scripts/setup): {e}"));
    let job = json!({"schema": schema, "docs": docs});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 jsonschema (scripts/setup installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
