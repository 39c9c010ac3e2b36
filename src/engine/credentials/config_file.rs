//! Reading the docker CLI's `config.json`: the parts kiln uses (`auths`,
//! `credsStore`, `credHelpers`), checked field by field like the docker CLI
//! checks them (an `auth` that is not base64 of `USER:PASSWORD` makes the
//! file invalid there too).
//!
//! The file holds secrets, so no error message may contain a value from
//! it: a problem is named by the file, the key path
//! (`auths["127.0.0.1:5630"].password`) and what was expected there. That
//! is why the file is parsed into a `serde_json::Value` and walked here,
//! instead of deserialised into structs (serde's type errors quote the
//! value they met: `invalid type: string "dTpwdw=="`).

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::sanitize::visible;

/// Why `config.json` could not be used. No variant holds a value from the
/// file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigJsonError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not JSON at all. `problem` is serde_json's description of the
    /// syntax error (which never quotes the input).
    #[error("{}:{line}:{col}: not valid JSON: {problem}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        col: usize,
        problem: String,
    },
    /// JSON, but a value kiln reads has the wrong shape.
    #[error("{} is not valid: {key} must be {expected} (it is {found})", path.display())]
    Shape {
        path: PathBuf,
        /// The key path, e.g. `auths["ghcr.io"].password`.
        key: KeyPath,
        expected: &'static str,
        found: &'static str,
    },
    /// An `auth` that is not base64 of `USER:PASSWORD`.
    #[error("{} is not valid: {key} must be the base64 of USER:PASSWORD", path.display())]
    BadAuth { path: PathBuf, key: KeyPath },
}

/// Where in config.json: `auths`, `auths["host"]`, `auths["host"].auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath(String);

impl KeyPath {
    fn top(name: &str) -> KeyPath {
        KeyPath(name.to_string())
    }

    /// `self["key"]`, the key shown with its control characters visible.
    fn entry(&self, key: &str) -> KeyPath {
        KeyPath(format!("{}[\"{}\"]", self.0, visible(key)))
    }

    /// `self.field`.
    fn field(&self, name: &str) -> KeyPath {
        KeyPath(format!("{}.{name}", self.0))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One `auths` entry, decoded: `auth` split into username and password
/// (the separate `username`/`password` fields win over it).
#[derive(Debug, Default, Clone)]
pub(super) struct AuthEntry {
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) identitytoken: Option<String>,
}

/// What kiln reads from config.json.
#[derive(Debug, Default)]
pub(super) struct ConfigFile {
    /// `auths`, by key as written.
    pub(super) auths: Vec<(String, AuthEntry)>,
    pub(super) creds_store: Option<String>,
    pub(super) cred_helpers: Vec<(String, String)>,
}

impl ConfigFile {
    /// Parse `text`, the contents of `path`.
    pub(super) fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigJsonError> {
        let root: Value = serde_json::from_str(text).map_err(|e| syntax(path, &e))?;
        let shape = |key: KeyPath, expected, value: &Value| ConfigJsonError::Shape {
            path: path.to_path_buf(),
            key,
            expected,
            found: kind(value),
        };
        let Value::Object(top) = &root else {
            return Err(shape(KeyPath::top("the top level"), "a JSON object", &root));
        };
        let mut file = ConfigFile::default();
        let auths = KeyPath::top("auths");
        for (key, entry) in object(top, "auths", &shape)? {
            let at = auths.entry(key);
            let Value::Object(fields) = entry else {
                return Err(shape(at, "an object", entry));
            };
            file.auths
                .push((key.clone(), auth_entry(path, &at, fields, &shape)?));
        }
        file.creds_store = string(top, &KeyPath::top("credsStore"), "credsStore", &shape)?;
        let helpers = KeyPath::top("credHelpers");
        for (key, helper) in object(top, "credHelpers", &shape)? {
            match helper {
                Value::String(h) => file.cred_helpers.push((key.clone(), h.clone())),
                Value::Null => {}
                other => return Err(shape(helpers.entry(key), "a string", other)),
            }
        }
        Ok(file)
    }
}

type Shape<'a> = dyn Fn(KeyPath, &'static str, &Value) -> ConfigJsonError + 'a;

/// The members of `top[name]` (an object, or absent/null: none).
fn object<'v>(
    top: &'v Map<String, Value>,
    name: &str,
    shape: &Shape<'_>,
) -> Result<Vec<(&'v String, &'v Value)>, ConfigJsonError> {
    match top.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => Ok(m.iter().collect()),
        Some(other) => Err(shape(KeyPath::top(name), "an object", other)),
    }
}

/// `fields[name]` as a string (absent or null: None).
fn string(
    fields: &Map<String, Value>,
    at: &KeyPath,
    name: &str,
    shape: &Shape<'_>,
) -> Result<Option<String>, ConfigJsonError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(shape(at.clone(), "a string", other)),
    }
}

/// One `auths` entry: its strings checked, `auth` decoded.
fn auth_entry(
    path: &Path,
    at: &KeyPath,
    fields: &Map<String, Value>,
    shape: &Shape<'_>,
) -> Result<AuthEntry, ConfigJsonError> {
    let field = |name: &str| string(fields, &at.field(name), name, shape);
    let mut entry = AuthEntry::default();
    if let Some(auth) = field("auth")?.filter(|a| !a.trim().is_empty()) {
        let (user, password) = decode_auth(&auth).ok_or_else(|| ConfigJsonError::BadAuth {
            path: path.to_path_buf(),
            key: at.field("auth"),
        })?;
        entry.username = Some(user);
        entry.password = Some(password);
    }
    if let Some(u) = field("username")? {
        entry.username = Some(u);
    }
    if let Some(p) = field("password")? {
        entry.password = Some(p);
    }
    entry.identitytoken = field("identitytoken")?.filter(|t| !t.is_empty());
    Ok(entry)
}

/// `auth`: base64 of `USER:PASSWORD`, split at the first colon.
fn decode_auth(auth: &str) -> Option<(String, String)> {
    let bytes = STANDARD.decode(auth.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// What kind of JSON value this is (never the value itself).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A serde_json syntax error as `FILE:LINE:COL: not valid JSON: what`.
/// serde_json's syntax messages name what it expected, never the text it
/// read; its own "at line L column C" is dropped (the location is in front).
fn syntax(path: &Path, e: &serde_json::Error) -> ConfigJsonError {
    let mut problem = e.to_string();
    if let Some(i) = problem.find(" at line ") {
        problem.truncate(i);
    }
    if !matches!(
        e.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    ) {
        // Not reachable when parsing into a Value; never risk a quote.
        problem = "unreadable".into();
    }
    ConfigJsonError::Syntax {
        path: path.to_path_buf(),
        line: e.line(),
        col: e.column(),
        problem,
    }
}
