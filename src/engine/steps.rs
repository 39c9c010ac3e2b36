//! An image's own steps in a BuildKit build. BuildKit does identical work
//! once for every build that asks for it, and the status stream of each
//! then names a shared step as the build that asked *first* named it: one
//! image's log would show another Dockerfile's `[ 1/10] FROM …` or
//! `[builder 2/9] RUN …`. And when two builds are wholly identical, the
//! work of one can be merged into the other, whose stream alone shows the
//! steps. `OwnSteps` rewrites the parsed events of one build with what the
//! image's own Dockerfile says (`config::buildkit_steps`):
//! - a step named as this Dockerfile names it stays as it is;
//! - a step named otherwise but doing one of this Dockerfile's
//!   instructions takes this Dockerfile's name and is marked `shared`;
//! - when the build succeeds, each of this Dockerfile's steps the stream
//!   never showed is reported, `shared`, after the others (its work and
//!   output were another step's or build's);
//! - under `--no-cache` no step is cached (BuildKit reports the FROM of an
//!   image it has used before as cached even then).
//!
//! Steps it cannot place (kiln's reading of the Dockerfile fell short:
//! ONBUILD triggers, a frontend chosen with `# syntax=`) pass unchanged,
//! and then no unseen step is reported: the plan did not explain the
//! stream, so it is not trusted to say what the stream left out.

use std::collections::HashMap;

use crate::config::PlannedStep;
use crate::protocol::{is_internal_step, BuildEvent};

/// Ids of the steps reported for planned steps the stream never showed.
const UNSEEN_ID: &str = "kiln-unseen-step-";

#[derive(Debug)]
pub struct OwnSteps {
    planned: Vec<PlannedStep>,
    /// Per planned step: the vertex that does it, once seen.
    seen: Vec<Option<String>>,
    /// Vertex id -> whether it was reported cached (for its duplicates).
    cached: HashMap<String, bool>,
    /// A Dockerfile step the plan could not place was seen.
    unplaced: bool,
    no_cache: bool,
}

impl OwnSteps {
    /// For a build whose Dockerfile makes `planned` (empty: nothing is
    /// known, and every event passes unchanged but for `no_cache`).
    pub fn new(planned: Vec<PlannedStep>, no_cache: bool) -> Self {
        OwnSteps {
            seen: vec![None; planned.len()],
            planned,
            cached: HashMap::new(),
            unplaced: false,
            no_cache,
        }
    }

    /// Rewrite the steps among `events` as this image's own.
    pub fn rewrite(&mut self, events: &mut [BuildEvent]) {
        for ev in events.iter_mut() {
            match ev {
                BuildEvent::Step {
                    id,
                    name,
                    cached,
                    shared,
                    ..
                } => {
                    if is_internal_step(name) {
                        continue;
                    }
                    if self.no_cache {
                        *cached = false;
                    }
                    if is_onbuild_trigger(name) {
                        // This build's own work, which its Dockerfile does
                        // not name: as the daemon says it.
                        self.cached.insert(id.clone(), *cached);
                        continue;
                    }
                    match self.place(id, name) {
                        Some((own, is_shared)) => {
                            *name = own;
                            *shared = is_shared;
                        }
                        None => self.unplaced = true,
                    }
                    self.cached.insert(id.clone(), *cached);
                }
                BuildEvent::StepDone { id, cached, .. }
                    if self.no_cache && self.cached.contains_key(id.as_str()) =>
                {
                    *cached = false;
                }
                _ => {}
            }
        }
    }

    /// This Dockerfile's name for the vertex `id` named `name`, and whether
    /// it is shared; None when no planned step does what it does.
    fn place(&mut self, id: &str, name: &str) -> Option<(String, bool)> {
        let (label, text) = split_label(name)?;
        let free = |j: &usize| self.seen[*j].is_none();
        let by_name = (0..self.planned.len())
            .filter(free)
            .find(|&j| self.planned[j].label == label && self.planned[j].matches(text));
        let (j, shared) = match by_name {
            Some(j) => (j, false),
            None => {
                let j = (0..self.planned.len())
                    .filter(free)
                    .find(|&j| self.planned[j].matches(text))?;
                (j, true)
            }
        };
        self.seen[j] = Some(id.to_string());
        Some((format!("{} {text}", self.planned[j].label), shared))
    }

    /// After a successful build: the planned steps the stream never showed,
    /// as shared steps that are already done. A step doing the same as one
    /// that was shown (the same FROM in two stages) is cached as that one was.
    pub fn unseen(&mut self, out: &mut Vec<BuildEvent>) {
        if self.unplaced {
            return;
        }
        for j in 0..self.planned.len() {
            if self.seen[j].is_some() {
                continue;
            }
            let step = &self.planned[j];
            let twin_cached = (0..self.planned.len())
                .filter(|&k| self.planned[k].instruction == step.instruction)
                .filter_map(|k| self.seen[k].as_ref())
                .any(|vertex| self.cached.get(vertex) == Some(&true));
            let id = format!("{UNSEEN_ID}{j}");
            let cached = twin_cached && !self.no_cache;
            out.push(BuildEvent::Step {
                id: id.clone(),
                index: None,
                total: None,
                name: step.name(),
                cached,
                shared: true,
            });
            out.push(BuildEvent::StepDone {
                id: id.clone(),
                cached,
                error: None,
            });
            self.seen[j] = Some(id);
        }
    }
}

/// Whether a step is an `ONBUILD` trigger of the base image, run in this
/// build: BuildKit numbers those past the stage's last step (`[3/2] COPY
/// src /src`), a label no Dockerfile step has.
fn is_onbuild_trigger(name: &str) -> bool {
    let Some((label, _)) = split_label(name) else {
        return false;
    };
    let inside = label.trim_start_matches('[').trim_end_matches(']');
    let counts = inside.rsplit(' ').next().unwrap_or(inside);
    let Some((n, total)) = counts.trim().split_once('/') else {
        return false;
    };
    match (n.parse::<u32>(), total.parse::<u32>()) {
        (Ok(n), Ok(total)) => n > total,
        _ => false,
    }
}

/// `("[builder 2/9]", "RUN make")` from `[builder 2/9] RUN make`.
fn split_label(name: &str) -> Option<(&str, &str)> {
    let (inside, rest) = name.split_once(']')?;
    Some((name.get(..=inside.len())?, rest.trim_start()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(df: &str) -> Vec<PlannedStep> {
        crate::config::buildkit_steps(df, &Default::default(), None)
    }

    fn step(id: &str, name: &str, cached: bool) -> BuildEvent {
        BuildEvent::Step {
            id: id.into(),
            index: None,
            total: None,
            name: name.into(),
            cached,
            shared: false,
        }
    }

    fn names(events: &[BuildEvent]) -> Vec<(String, bool, bool)> {
        events
            .iter()
            .filter_map(|e| match e {
                BuildEvent::Step {
                    name,
                    cached,
                    shared,
                    ..
                } => Some((name.clone(), *cached, *shared)),
                _ => None,
            })
            .collect()
    }

    const B: &str =
        "FROM base AS builder\nRUN make\nRUN echo b\nFROM base\nCOPY --from=builder /x /x\n";

    #[test]
    fn another_builds_names_become_this_dockerfiles_and_shared() {
        let mut own = OwnSteps::new(planned(B), false);
        let mut ev = vec![
            step("f", "[1/3] FROM docker.io/library/base", true),
            step("m", "[2/3] RUN make", false),
            step("e", "[builder 3/3] RUN echo b", false),
            step(
                "i",
                "[internal] load metadata for docker.io/library/base:latest",
                false,
            ),
        ];
        own.rewrite(&mut ev);
        own.unseen(&mut ev);
        assert_eq!(
            names(&ev),
            vec![
                (
                    "[builder 1/3] FROM docker.io/library/base".into(),
                    true,
                    true
                ),
                ("[builder 2/3] RUN make".into(), false, true),
                ("[builder 3/3] RUN echo b".into(), false, false),
                (
                    "[internal] load metadata for docker.io/library/base:latest".into(),
                    false,
                    false
                ),
                // The second FROM is the first's work: cached as it was.
                ("[stage-1 1/2] FROM base".into(), true, true),
                (
                    "[stage-1 2/2] COPY --from=builder /x /x".into(),
                    false,
                    true
                ),
            ]
        );
    }

    #[test]
    fn an_onbuild_trigger_is_this_builds_own_work_not_shared() {
        // The base says `ONBUILD COPY src /src`; this Dockerfile copies
        // src too. The trigger runs as `[3/2]`, then the own step.
        let mut own = OwnSteps::new(planned("FROM base\nCOPY src /src\n"), false);
        let mut ev = vec![
            step("f", "[1/2] FROM docker.io/library/base", false),
            step("t", "[3/2] COPY src /src", false),
            step("c", "[2/2] COPY src /src", false),
        ];
        own.rewrite(&mut ev);
        own.unseen(&mut ev);
        assert_eq!(
            names(&ev),
            vec![
                ("[1/2] FROM docker.io/library/base".into(), false, false),
                ("[3/2] COPY src /src".into(), false, false),
                ("[2/2] COPY src /src".into(), false, false),
            ]
        );
        assert!(is_onbuild_trigger("[stage-1 4/3] RUN x"));
        assert!(!is_onbuild_trigger("[builder 3/9] RUN x"));
        assert!(!is_onbuild_trigger("[internal] load build context"));
    }

    #[test]
    fn no_cache_means_nothing_cached() {
        let mut own = OwnSteps::new(planned("FROM base\nRUN x\n"), true);
        let mut ev = vec![
            step("f", "[1/2] FROM docker.io/library/base", true),
            BuildEvent::StepDone {
                id: "f".into(),
                cached: true,
                error: None,
            },
        ];
        own.rewrite(&mut ev);
        assert_eq!(
            names(&ev),
            vec![("[1/2] FROM docker.io/library/base".into(), false, false)]
        );
        assert!(matches!(&ev[1], BuildEvent::StepDone { cached: false, .. }));
    }

    #[test]
    fn unknown_steps_and_an_unknown_dockerfile_pass_unchanged() {
        let mut own = OwnSteps::new(Vec::new(), false);
        let mut ev = vec![step("a", "[3/4] RUN something", true)];
        own.rewrite(&mut ev);
        own.unseen(&mut ev);
        assert_eq!(
            names(&ev),
            vec![("[3/4] RUN something".into(), true, false)]
        );
        // A plan that does not explain the stream says nothing of what the
        // stream left out.
        let mut own = OwnSteps::new(planned("FROM base\nRUN x\n"), false);
        let mut ev = vec![step("a", "[9/9] RUN other", false)];
        own.rewrite(&mut ev);
        own.unseen(&mut ev);
        assert_eq!(names(&ev), vec![("[9/9] RUN other".into(), false, false)]);
    }
}
