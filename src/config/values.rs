//! A field's value between where it was written and [`ImageConfig`]: the
//! typed [`FieldValue`], how each field of the table (`fields.rs`) is put
//! into an image and read back by name, and the grammar of the scalar
//! kinds, which kiln.yaml (`schema/read.rs`) and compose files
//! (`compose/read.rs`) share: each finds the text where its format keeps
//! it and locates the problem, and both say it in the same words.
//!
//! No I/O here.

use std::collections::BTreeMap;
use std::time::Duration;

use super::fields::{Field, Kind};
use super::suggest::did_you_mean;
use super::units::{parse_duration, parse_size};
use super::{BuildSecret, BuilderChoice, Dockerfile, ImageConfig, Source, SshForward};

/// A field's value, typed by its [`Kind`].
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Flag(bool),
    /// A string; `None` clears an optional one (`--set web.target=`).
    Text(Option<String>),
    List(Vec<String>),
    Map(BTreeMap<String, String>),
    Duration(Duration),
    /// Bytes; `None`: the daemon's default.
    Size(Option<u64>),
    Count(usize),
    /// One of the kind's words, as the table spells it.
    Choice(&'static str),
    Secrets(Vec<BuildSecret>),
    Ssh(Vec<SshForward>),
}

impl ImageConfig {
    /// Puts `value` into the field `name`: a map adds its entries to the
    /// image's (so an image's args go over the defaults'), secrets and SSH
    /// agents by id the same way, any other value replaces. False when the field is not one an image holds as a value
    /// (`name`, `context`, `image`: where it comes from) or the value is
    /// not of its kind.
    pub fn put(&mut self, name: &str, value: FieldValue) -> bool {
        use FieldValue as V;
        match (name, value) {
            ("tags", V::List(l)) => self.tags = l,
            ("args", V::Map(m)) => self.args.extend(m),
            ("labels", V::Map(m)) => self.labels.extend(m),
            ("target", V::Text(t)) => self.target = t,
            ("network", V::Text(t)) => self.network = t,
            ("engine", V::Text(t)) => self.engine = t,
            ("platform", V::Text(t)) => self.platform = t,
            ("cache_from", V::List(l)) => self.cache_from = l,
            ("depends_on", V::List(l)) => self.depends_on = l,
            ("extra_hosts", V::List(l)) => self.extra_hosts = l,
            ("no_cache", V::Flag(b)) => self.no_cache = b,
            ("pull", V::Flag(b)) => self.pull = b,
            ("push", V::Flag(b)) => self.push = b,
            ("push_tags", V::List(l)) => self.push_tags = l,
            ("shm_size", V::Size(n)) => self.shm_size = n,
            ("stall_after", V::Duration(d)) => self.stall_after = d,
            ("timeout", V::Duration(d)) => self.timeout = d,
            ("secrets", V::Secrets(l)) => {
                for s in l {
                    self.secrets.retain(|old| old.id != s.id);
                    self.secrets.push(s);
                }
            }
            ("ssh", V::Ssh(l)) => {
                for s in l {
                    self.ssh.retain(|old| old.id != s.id);
                    self.ssh.push(s);
                }
            }
            ("builder", V::Choice(c)) => match BuilderChoice::parse(c) {
                Some(b) => self.builder = b,
                None => return false,
            },
            ("dockerfile", V::Text(Some(path))) => match &mut self.source {
                Source::Build { dockerfile, .. } => *dockerfile = Dockerfile::Path(path),
                Source::Prebuilt { .. } => return false,
            },
            _ => return false,
        }
        true
    }

    /// The value of the field `name`; `None` for the fields that say where
    /// the image comes from rather than hold a value of their own (`name`,
    /// `context`, `from`, `dockerfile`, `image`) and for settings of the
    /// whole stack (`jobs`).
    pub fn get(&self, name: &str) -> Option<FieldValue> {
        use FieldValue as V;
        Some(match name {
            "tags" => V::List(self.tags.clone()),
            "args" => V::Map(self.args.clone()),
            "labels" => V::Map(self.labels.clone()),
            "target" => V::Text(self.target.clone()),
            "network" => V::Text(self.network.clone()),
            "engine" => V::Text(self.engine.clone()),
            "platform" => V::Text(self.platform.clone()),
            "cache_from" => V::List(self.cache_from.clone()),
            "depends_on" => V::List(self.depends_on.clone()),
            "extra_hosts" => V::List(self.extra_hosts.clone()),
            "no_cache" => V::Flag(self.no_cache),
            "pull" => V::Flag(self.pull),
            "push" => V::Flag(self.push),
            "push_tags" => V::List(self.push_tags.clone()),
            "shm_size" => V::Size(self.shm_size),
            "stall_after" => V::Duration(self.stall_after),
            "timeout" => V::Duration(self.timeout),
            "builder" => V::Choice(self.builder.as_str()),
            "secrets" => V::Secrets(self.secrets.clone()),
            "ssh" => V::Ssh(self.ssh.clone()),
            _ => return None,
        })
    }
}

/// A scalar of `field`'s kind, written as `text` (after interpolation),
/// or what is wrong with it, worded to follow `FILE:LINE:COL:`. Flags are
/// `true`/`false` in any case; choices are the kind's words in any case.
/// `None` for the kinds that are not scalars (`Text`, lists, maps, names:
/// their shape is the format's to read).
pub(crate) fn scalar(field: &Field, text: &str) -> Option<Result<FieldValue, String>> {
    scalar_of(field.kind, field.name, text)
}

/// [`scalar`] for a value of `kind` called `name` that is not a field of
/// the table (compose's `depends_on.required`, `build.privileged`).
pub(crate) fn scalar_of(kind: Kind, name: &str, text: &str) -> Option<Result<FieldValue, String>> {
    Some(match kind {
        Kind::Flag => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(FieldValue::Flag(true)),
            "false" => Ok(FieldValue::Flag(false)),
            _ => Err(format!("'{name}' must be true or false")),
        },
        Kind::Duration => parse_duration(text)
            .map(FieldValue::Duration)
            .map_err(|e| format!("{name}: {e}")),
        Kind::Size => parse_size(text)
            .map(|n| FieldValue::Size(Some(n)))
            .map_err(|e| format!("{name}: {e}")),
        Kind::Count => match text.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(FieldValue::Count(n)),
            _ => Err(format!("'{name}' must be an integer >= 1")),
        },
        Kind::Choice(words) => {
            let wanted = text.trim().to_ascii_lowercase();
            match words.iter().find(|w| **w == wanted) {
                Some(w) => Ok(FieldValue::Choice(w)),
                None => Err(format!(
                    "'{name}' must be one of {} (got '{text}'){}",
                    words.join(", "),
                    did_you_mean(text, words.iter().copied())
                )),
            }
        }
        Kind::Name | Kind::Text | Kind::List | Kind::Map | Kind::Secrets | Kind::Ssh => {
            return None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fields::{field, FIELDS};

    #[test]
    fn scalars_read_alike_and_say_what_is_wrong() {
        let read = |name: &str, text: &str| scalar(field(name).unwrap(), text).unwrap();
        assert_eq!(read("push", " TRUE "), Ok(FieldValue::Flag(true)));
        assert_eq!(
            read("push", "yes"),
            Err("'push' must be true or false".into())
        );
        assert_eq!(
            read("timeout", "90s"),
            Ok(FieldValue::Duration(Duration::from_secs(90)))
        );
        assert_eq!(read("shm_size", "1k"), Ok(FieldValue::Size(Some(1024))));
        assert_eq!(read("jobs", " 3"), Ok(FieldValue::Count(3)));
        assert_eq!(
            read("jobs", "0"),
            Err("'jobs' must be an integer >= 1".into())
        );
        assert_eq!(
            read("builder", "BuildKit"),
            Ok(FieldValue::Choice("buildkit"))
        );
        assert_eq!(
            read("builder", "buildkt"),
            Err("'builder' must be one of auto, buildkit, legacy (got 'buildkt') — did you mean 'buildkit'?".into())
        );
        assert!(scalar(field("target").unwrap(), "x").is_none());
    }

    #[test]
    fn what_an_image_holds_goes_in_and_comes_back() {
        let mut img = ImageConfig::new(
            "web",
            Source::Build {
                context: crate::config::ContextSource::Dir("web".into()),
                dockerfile: Dockerfile::Path("Dockerfile".into()),
            },
            1,
        );
        for f in FIELDS {
            let Some(value) = img.get(f.name) else {
                continue;
            };
            assert!(img.put(f.name, value.clone()), "{}", f.name);
            assert_eq!(img.get(f.name), Some(value), "{}", f.name);
        }
    }
}
