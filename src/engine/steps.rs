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
//! - a FROM naming an image none of this Dockerfile's FROMs names is
//!   another build's FROM merged with one of this build's: BuildKit does
//!   the work of two FROMs once when the images are the same (two stacks
//!   whose bases have the same content, under other tags). It is not this
//!   image's step, and it and its output are left out; this Dockerfile's
//!   own FROM is shown as it comes, or as unseen.
//!
//! Steps it cannot place (kiln's reading of the Dockerfile fell short:
//! ONBUILD triggers, a frontend chosen with `# syntax=`) pass unchanged,
//! and then no unseen step is reported: the plan did not explain the
//! stream, so it is not trusted to say what the stream left out.

use std::collections::{HashMap, HashSet};

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
    /// Vertices of other builds merged with this build's, left out: FROMs
    /// of other images, and second vertices of a step already shown.
    merged: HashSet<String>,
    /// A second vertex of a shown step -> that step's vertex (its output
    /// is the step's).
    aliases: HashMap<String, String>,
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
            merged: HashSet::new(),
            aliases: HashMap::new(),
            unplaced: false,
            no_cache,
        }
    }

    /// Rewrite the steps among `events` as this image's own, leaving out
    /// other builds' FROMs merged with this build's.
    pub fn rewrite(&mut self, events: &mut Vec<BuildEvent>) {
        self.rename(events);
        if !self.merged.is_empty() {
            events.retain(|ev| !self.is_merged(ev));
        }
    }

    fn is_merged(&self, ev: &BuildEvent) -> bool {
        match ev {
            BuildEvent::Step { id, .. } | BuildEvent::StepDone { id, .. } => {
                self.merged.contains(id)
            }
            BuildEvent::Log { step: Some(id), .. } => self.merged.contains(id),
            _ => false,
        }
    }

    fn rename(&mut self, events: &mut [BuildEvent]) {
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
                        None if self.is_foreign_from(name) => {
                            self.merged.insert(id.clone());
                            continue;
                        }
                        None => match self.duplicate_of(id, name) {
                            // Its output is the step's; the step is shown once.
                            Some(first) => {
                                self.aliases.insert(id.clone(), first);
                                self.merged.insert(id.clone());
                                continue;
                            }
                            None => self.unplaced = true,
                        },
                    }
                    self.cached.insert(id.clone(), *cached);
                }
                BuildEvent::StepDone { id, cached, .. }
                    if self.no_cache && self.cached.contains_key(id.as_str()) =>
                {
                    *cached = false;
                }
                BuildEvent::Log { step: Some(id), .. } => {
                    if let Some(first) = self.aliases.get(id.as_str()) {
                        *id = first.clone();
                    }
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

    /// The vertex already shown as the step `name` names (its label and
    /// instruction), when `id` is another: BuildKit merged an identical
    /// vertex of another build (a twin image's `COPY file /file`) with this
    /// build's, and the stream shows both. None when no such step was seen.
    fn duplicate_of(&self, id: &str, name: &str) -> Option<String> {
        let (label, text) = split_label(name)?;
        (0..self.planned.len()).find_map(|j| {
            let first = self.seen[j].as_deref()?;
            let same =
                first != id && self.planned[j].label == label && self.planned[j].matches(text);
            same.then(|| first.to_string())
        })
    }

    /// Whether `name` is a FROM of an image that none of this Dockerfile's
    /// FROMs names. BuildKit shows a build only vertices of its own
    /// graph's work, and a FROM's work (an image) is only ever a FROM's:
    /// this is another build's FROM of an image the same as one of ours.
    fn is_foreign_from(&self, name: &str) -> bool {
        let Some((_, text)) = split_label(name) else {
            return false;
        };
        let is_from = |t: &str| {
            t.split_whitespace()
                .next()
                .is_some_and(|kw| kw.eq_ignore_ascii_case("FROM"))
        };
        is_from(text)
            && self.planned.iter().any(|p| is_from(&p.instruction))
            && !self.planned.iter().any(|p| p.matches(text))
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

    fn done(id: &str) -> BuildEvent {
        BuildEvent::StepDone {
            id: id.into(),
            cached: false,
            error: None,
        }
    }

    /// Seen on Docker 26: twin images with identical contexts built at
    /// once; BuildKit merged their `COPY file /file`, and one twin's stream
    /// showed both vertices, each named `[2/4] COPY file /file`. The step
    /// is shown once, and the second vertex's output is the step's.
    #[test]
    fn a_twins_merged_vertex_of_a_shown_step_is_shown_once() {
        let df = "FROM kiln-a/base:latest\nCOPY file /file\nRUN echo twin\nRUN cat /file\n";
        let mut own = OwnSteps::new(planned(df), true);
        let mut ev = vec![
            step("f", "[1/4] FROM docker.io/kiln-a/base:latest", false),
            done("f"),
            step("c", "[2/4] COPY file /file", false),
            step("t", "[2/4] COPY file /file", false),
            BuildEvent::Log {
                step: Some("t".into()),
                line: "copied".into(),
            },
            done("c"),
            done("t"),
            step("r", "[3/4] RUN echo twin", false),
            step("k", "[4/4] RUN cat /file", false),
        ];
        own.rewrite(&mut ev);
        own.unseen(&mut ev);
        assert_eq!(
            names(&ev),
            vec![
                (
                    "[1/4] FROM docker.io/kiln-a/base:latest".into(),
                    false,
                    false
                ),
                ("[2/4] COPY file /file".into(), false, false),
                ("[3/4] RUN echo twin".into(), false, false),
                ("[4/4] RUN cat /file".into(), false, false),
            ]
        );
        assert!(ev.iter().any(|e| matches!(
            e,
            BuildEvent::Log { step: Some(id), line } if id == "c" && line == "copied"
        )));
        let dones = ev
            .iter()
            .filter(|e| matches!(e, BuildEvent::StepDone { id, .. } if id == "c" || id == "t"))
            .count();
        assert_eq!(dones, 1, "{ev:?}");
    }

    /// Recorded on Docker 26: `one` (FROM kiln-a/base) built at once with
    /// its stack's `two` (`FROM kiln-a/base AS builder`) and another
    /// stack's twin (`FROM kiln-b/base`, four steps), the two bases alike.
    /// BuildKit did the three FROMs once, and `one`'s stream showed the
    /// twin's FROM and two's, never its own.
    #[test]
    fn another_stacks_from_of_the_same_image_is_left_out() {
        let df = "FROM kiln-a/base:latest\nRUN echo shared\nRUN echo only-one\n";
        let mut own = OwnSteps::new(planned(df), true);
        let mut ev = vec![
            step(
                "d",
                "[internal] load build definition from Dockerfile",
                false,
            ),
            done("d"),
            step("t", "[1/4] FROM docker.io/kiln-b/base:latest", false),
            done("t"),
            step(
                "b",
                "[builder 1/3] FROM docker.io/kiln-a/base:latest",
                false,
            ),
            done("b"),
            step("s", "[builder 2/3] RUN echo shared", false),
        ];
        own.rewrite(&mut ev);
        let mut rest = vec![
            BuildEvent::Log {
                step: Some("s".into()),
                line: "shared".into(),
            },
            done("s"),
            step("o", "[3/3] RUN echo only-one", false),
            done("o"),
        ];
        own.rewrite(&mut rest);
        ev.extend(rest);
        own.unseen(&mut ev);
        assert_eq!(
            names(&ev),
            vec![
                (
                    "[internal] load build definition from Dockerfile".into(),
                    false,
                    false
                ),
                (
                    "[1/3] FROM docker.io/kiln-a/base:latest".into(),
                    false,
                    true
                ),
                ("[2/3] RUN echo shared".into(), false, true),
                ("[3/3] RUN echo only-one".into(), false, false),
            ]
        );
        assert!(!ev
            .iter()
            .any(|e| matches!(e, BuildEvent::StepDone { id, .. } if id == "t")));
        assert_eq!(ev.len(), 9, "{ev:?}");

        // The twin, at the same time: its own FROM, then two's.
        let df = "FROM kiln-b/base:latest\nCOPY file /file\nRUN cat /file\n";
        let mut own = OwnSteps::new(planned(df), true);
        let mut ev = vec![
            step("t", "[1/3] FROM docker.io/kiln-b/base:latest", false),
            done("t"),
            step(
                "b",
                "[builder 1/3] FROM docker.io/kiln-a/base:latest",
                false,
            ),
            done("b"),
            step("c", "[2/3] COPY file /file", false),
            step("r", "[3/3] RUN cat /file", false),
        ];
        own.rewrite(&mut ev);
        own.unseen(&mut ev);
        assert_eq!(
            names(&ev),
            vec![
                (
                    "[1/3] FROM docker.io/kiln-b/base:latest".into(),
                    false,
                    false
                ),
                ("[2/3] COPY file /file".into(), false, false),
                ("[3/3] RUN cat /file".into(), false, false),
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
