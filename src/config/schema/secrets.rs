//! kiln.yaml's `secrets:` and `ssh:` (in an image entry or `defaults:`):
//!
//! ```yaml
//! secrets:
//!   - {id: npm, src: ./npm-token.txt}   # a file, relative to kiln.yaml
//!   - {id: gh, env: GITHUB_TOKEN}       # a variable
//! ssh:
//!   - default                           # the agent at $SSH_AUTH_SOCK
//!   - {id: deploy, paths: [./deploy_key]}
//! ```
//!
//! Each item is checked as it is read (`config/secrets.rs`): the file
//! exists, the variable is set, the socket is one; a problem is located
//! at the value it is about and never quotes a secret.

use serde_yaml::Value;

use super::read::{item, Ctx, Fields};
use crate::config::positions::{NodePath, Pos, Seg};
use crate::config::secrets::{self, BuildSecret, SshForward};
use crate::config::yaml::untag;
use crate::config::ImageConfig;

const SECRET_KEYS: &[&str] = &["id", "src", "env"];
const SSH_KEYS: &[&str] = &["id", "paths"];

impl Ctx<'_> {
    /// `secrets:`: a list of `{id, src}` / `{id, env}`.
    pub fn secrets(&mut self, v: &Value, path: &[Seg]) -> Option<Vec<BuildSecret>> {
        let shape = "{id: NAME, src: FILE} or {id: NAME, env: VAR}";
        self.by_id(v, path, ("secrets", "secret", shape), Self::secret, |s| {
            &s.id
        })
    }

    /// A list read item by item, each id given once.
    fn by_id<T>(
        &mut self,
        v: &Value,
        path: &[Seg],
        (field, kind, shape): (&str, &str, &str),
        read: fn(&mut Self, &Value, &NodePath) -> Option<T>,
        id: fn(&T) -> &String,
    ) -> Option<Vec<T>> {
        let Value::Sequence(items) = untag(v) else {
            let at = self.pos.value(path);
            self.error(at, format!("'{field}' must be a list of {shape}"));
            return None;
        };
        let mut out: Vec<T> = Vec::new();
        let mut ok = true;
        for (i, x) in items.iter().enumerate() {
            let p = item(path, i);
            let errors = self.out.errors.len();
            let Some(one) = read(self, x, &p) else {
                // Left out without an error: a source not checked.
                ok &= self.out.errors.len() == errors;
                continue;
            };
            if out.iter().any(|o| id(o) == id(&one)) {
                let at = self.pos.value(&p);
                self.error(at, secrets::duplicate_id(kind, id(&one)));
                ok = false;
            }
            out.push(one);
        }
        ok.then_some(out)
    }

    fn secret(&mut self, v: &Value, path: &NodePath) -> Option<BuildSecret> {
        let Value::Mapping(m) = untag(v) else {
            let at = self.pos.value(path);
            self.error(
                at,
                "each secret must be {id: NAME, src: FILE} or {id: NAME, env: VAR}",
            );
            return None;
        };
        let f = self.fields(m, path, SECRET_KEYS, false);
        let id = self.id(&f.get("id"), path, "secret")?;
        let (key, (value, p)) = match (f.get("src"), f.get("env")) {
            (Some(src), None) => ("src", src),
            (None, Some(env)) => ("env", env),
            (Some(_), Some((_, p))) => {
                let at = self.pos.key(p);
                self.error(at, format!("secret '{id}': give 'src' or 'env', not both"));
                return None;
            }
            (None, None) => {
                let at = self.pos.value(path);
                self.error(
                    at,
                    format!("secret '{id}' needs 'src' (a file) or 'env' (a variable)"),
                );
                return None;
            }
        };
        let p = p.clone();
        let text = self.string(value, &p, &format!("secrets.{key}"))?;
        let at = self.pos.value(&p);
        let source = if key == "src" {
            secrets::file_secret(&id, secrets::join(&self.dir, &text), &text)
        } else if text.is_empty() {
            self.error(at, format!("secret '{id}': the variable's name is empty"));
            return None;
        } else {
            secrets::env_secret(&id, &text, self.env)
        };
        match source {
            Ok(source) => Some(BuildSecret { id, source }),
            Err(message) => {
                self.unavailable(at, message);
                None
            }
        }
    }

    /// A source that cannot be used now (see `Problems::unavailable`).
    fn unavailable(&mut self, at: Pos, message: String) {
        let at = self.loc(at);
        self.out.unavailable(&at, message);
    }

    /// `ssh:`: a list of ids (`default`) and `{id, paths}`.
    pub fn ssh(&mut self, v: &Value, path: &[Seg]) -> Option<Vec<SshForward>> {
        let shape = "default or {id: NAME, paths: [KEY...]}";
        self.by_id(v, path, ("ssh", "ssh", shape), Self::ssh_item, |s| &s.id)
    }

    fn ssh_item(&mut self, v: &Value, path: &NodePath) -> Option<SshForward> {
        let (id, paths, paths_at) = match untag(v) {
            Value::String(_) => (self.id(&Some((v, path)), path, "ssh")?, Vec::new(), None),
            Value::Mapping(m) => {
                let f = self.fields(m, path, SSH_KEYS, false);
                let id = self.id(&f.get("id"), path, "ssh");
                let paths = match f.get("paths") {
                    Some((pv, pp)) => {
                        let pp = pp.clone();
                        let list = self.string_list(pv, &pp, "paths")?;
                        (list, Some(pp))
                    }
                    None => (Vec::new(), None),
                };
                (id?, paths.0, paths.1)
            }
            _ => {
                let at = self.pos.value(path);
                self.error(
                    at,
                    "each ssh entry must be default or {id: NAME, paths: [KEY...]}",
                );
                return None;
            }
        };
        let joined: Vec<_> = paths
            .iter()
            .map(|p| (secrets::join(&self.dir, p), p.clone()))
            .collect();
        match secrets::ssh_source(&id, &joined, self.env) {
            Ok(source) => Some(SshForward { id, source }),
            Err((index, message)) => {
                let at = match (index, &paths_at) {
                    (Some(i), Some(pp)) => self.pos.value(&item(pp, i)),
                    _ => self.pos.value(path),
                };
                self.unavailable(at, message);
                None
            }
        }
    }

    /// An image with secrets or SSH agents under the legacy builder is an
    /// error, at its own `secrets`/`ssh` key (else its `builder`, else the
    /// entry: both came from `defaults:`).
    pub fn builder_mounts(&mut self, img: &ImageConfig, f: &Fields<'_>, entry: Pos) {
        for what in ["secrets", "ssh"] {
            let Some(message) = secrets::refused_by_legacy(img, what) else {
                continue;
            };
            let at = match f.get(what).or_else(|| f.get("builder")) {
                Some((_, p)) => self.pos.key(p),
                None => entry,
            };
            self.error(at, message);
        }
    }

    /// An entry's `id` (an SSH entry may be just its id): a non-empty
    /// string.
    fn id(
        &mut self,
        given: &Option<(&Value, &NodePath)>,
        entry: &NodePath,
        what: &str,
    ) -> Option<String> {
        let Some((v, p)) = given else {
            let at = self.pos.value(entry);
            self.error(at, format!("each {what} entry needs an 'id'"));
            return None;
        };
        let id = self.string(v, p, &format!("{what}.id"))?;
        if id.trim().is_empty() {
            let at = self.pos.value(p);
            self.error(at, format!("the {what} id must not be empty"));
            return None;
        }
        Some(id)
    }
}
