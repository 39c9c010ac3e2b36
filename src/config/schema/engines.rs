//! kiln.yaml's top-level `engines:` and `collect:`, read into the entries
//! `config/engines.rs` checks.

use serde_yaml::Value;

use super::read::{item, Ctx};
use crate::config::engines::{RawEngine, ENGINE_KEYS};
use crate::config::positions::Seg;
use crate::config::yaml::untag;

impl Ctx<'_> {
    /// The entries of `engines:` (a list of mappings), as written.
    pub(super) fn engines(&mut self, v: &Value, path: &[Seg]) -> Vec<RawEngine> {
        let Value::Sequence(seq) = untag(v) else {
            let at = self.pos.value(path);
            self.error(at, "'engines' must be a list of {name, host, jobs}");
            return Vec::new();
        };
        let mut raw = Vec::new();
        for (i, e) in seq.iter().enumerate() {
            let p = item(path, i);
            let at = self.pos.value(&p);
            let Value::Mapping(m) = untag(e) else {
                self.error(at, "each engine must be a mapping with 'name' and 'host'");
                continue;
            };
            let f = self.fields(m, &p, ENGINE_KEYS, false);
            let text = |key: &str, this: &mut Self| {
                let (v, vp) = f.get(key)?;
                let s = match untag(v) {
                    Value::Number(n) if key == "jobs" => n.to_string(),
                    _ => this.string(v, vp, key)?,
                };
                Some((s, this.loc(this.pos.value(vp))))
            };
            let name = text("name", self);
            let host = text("host", self);
            let jobs = text("jobs", self);
            let tls = text("tls", self);
            raw.push(RawEngine {
                at: self.loc(at),
                name,
                host,
                jobs,
                tls,
            });
        }
        raw
    }

    /// `collect:`, a flag (default true).
    pub(super) fn collect(&mut self, v: &Value, path: &[Seg]) -> bool {
        match untag(v) {
            Value::Bool(b) => *b,
            _ => {
                let at = self.pos.value(path);
                self.error(at, "'collect' must be true or false");
                true
            }
        }
    }
}
