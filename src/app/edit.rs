//! Per-image edits for the next run, made in the dashboard's edit prompt
//! (`e`): build args, tags and target. Pure text in, validated values out;
//! the engine applies an accepted override to its copy of the image's config
//! when it starts the build (`Command::StartBuild { overrides, .. }`).
//!
//! The prompt's text, one item per line (blank lines and `#` comments are
//! ignored):
//!
//! ```text
//! VERSION=2            build arg (KEY=VALUE); the args listed replace the config's
//! tags: app:dev, app:latest
//! target: runtime      (empty: no target)
//! ```
//!
//! A missing `tags:` or `target:` line keeps the config's value.

use crate::config::{Config, Source};
use crate::protocol::ImageOverride;

impl ImageOverride {
    /// The config's current values, as the prompt starts out; None for
    /// prebuilt images (nothing to build, nothing to edit).
    pub fn from_config(config: &Config) -> Vec<Option<ImageOverride>> {
        config
            .images
            .iter()
            .map(|c| match c.source {
                Source::Prebuilt { .. } => None,
                _ => Some(ImageOverride {
                    args: c.args.clone(),
                    tags: Some(c.tags.clone()),
                    target: Some(c.target.clone().unwrap_or_default()),
                }),
            })
            .collect()
    }

    /// The prompt's text for these values.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.args {
            s.push_str(&format!("{k}={v}\n"));
        }
        if let Some(tags) = &self.tags {
            s.push_str(&format!("tags: {}\n", tags.join(", ")));
        }
        if let Some(target) = &self.target {
            s.push_str(&format!("target: {target}\n"));
        }
        s.trim_end().to_string()
    }

    /// Parse and validate the prompt's lines. The error names the line.
    pub fn parse(lines: &[String]) -> Result<ImageOverride, String> {
        let mut ov = ImageOverride::default();
        for (n, raw) in lines.iter().enumerate() {
            let line = raw.trim();
            let at = |msg: String| format!("line {}: {msg}", n + 1);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("tags:") {
                if ov.tags.is_some() {
                    return Err(at("`tags:` given twice".into()));
                }
                let tags: Vec<String> = rest
                    .split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect();
                if tags.is_empty() {
                    return Err(at(
                        "`tags:` needs at least one tag, e.g. `tags: app:dev`".into()
                    ));
                }
                for tag in &tags {
                    crate::config::check_tag(tag)
                        .map_err(|why| at(format!("`{tag}` is not a valid image tag: {why}")))?;
                }
                ov.tags = Some(tags);
            } else if let Some(rest) = line.strip_prefix("target:") {
                if ov.target.is_some() {
                    return Err(at("`target:` given twice".into()));
                }
                let target = rest.trim();
                if target.chars().any(char::is_whitespace) {
                    return Err(at(format!("`{target}` is not a stage name")));
                }
                ov.target = Some(target.to_string());
            } else if let Some((key, value)) = line.split_once('=') {
                let key = key.trim();
                if !valid_arg_name(key) {
                    return Err(at(format!(
                        "`{key}` is not a build arg name (letters, digits, _)"
                    )));
                }
                if ov.args.contains_key(key) {
                    return Err(at(format!("build arg `{key}` given twice")));
                }
                ov.args.insert(key.to_string(), value.trim().to_string());
            } else {
                return Err(at(format!(
                    "`{line}`: expected KEY=VALUE, `tags: a, b` or `target: stage`"
                )));
            }
        }
        Ok(ov)
    }
}

fn valid_arg_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Docker's reference grammar, loosely: no whitespace, no control chars,
/// no leading/trailing separators.
#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(String::from).collect()
    }

    #[test]
    fn parses_args_tags_and_target() {
        let ov = ImageOverride::parse(&lines(
            "# comment\nVERSION=2\n\nA_B = x y\ntags: app:dev, app:latest\ntarget: runtime",
        ))
        .unwrap();
        assert_eq!(ov.args["VERSION"], "2");
        assert_eq!(ov.args["A_B"], "x y");
        assert_eq!(
            ov.tags,
            Some(vec!["app:dev".to_string(), "app:latest".to_string()])
        );
        assert_eq!(ov.target.as_deref(), Some("runtime"));
        assert_eq!(ImageOverride::parse(&lines(&ov.to_text())).unwrap(), ov);
    }

    #[test]
    fn rejects_bad_lines_naming_them() {
        let err = |s: &str| ImageOverride::parse(&lines(s)).unwrap_err();
        assert!(err("A=1\nnonsense").starts_with("line 2:"));
        assert!(err("1A=x").contains("not a build arg name"));
        assert!(err("tags:").contains("at least one tag"));
        assert!(err("tags: a b").contains("not a valid image tag"));
        assert!(err("target: a b").contains("not a stage name"));
        assert!(err("A=1\nA=2").contains("twice"));
    }
}
