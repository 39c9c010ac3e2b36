//! `kiln build --dry-run [IMAGE...]`: what a real `kiln build` would do
//! with each image, and why, building, pulling, pushing and recording
//! nothing. The model decides each image's change check as for a real run
//! (`App::change_check`, from the history read read-only), the engine
//! answers with the real run's own checks and change detection
//! (`engine::build::dry_run`); an image unchanged itself but built on a
//! stack image that would be rebuilt would be rebuilt too (the real run
//! finds the base's new image only once it is built).

use std::io::Write;
use std::time::Instant;

use crate::app::event::{DrySummary, Event, EventKind};
use crate::app::App;
use crate::cli::args::BuildArgs;
use crate::config::{push_tags_of, Config};
use crate::engine::build::{self, dry_run, BuildFlags, DryVerdict};
use crate::exit;
use crate::headless::Printer;
use crate::history::History;
use crate::human::millis;
use crate::protocol::{BuildCause, SkipReason};

pub(crate) async fn run(config: Config, args: BuildArgs) -> i32 {
    let (selection, connected) = match super::prepare_run(&config, &args.images, &args.run).await {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let (opts, mut flags) = connected.run;
    flags.stack_tags = build::stack_tags(&config.images);
    let started = Instant::now();
    let names: Vec<String> = selection
        .iter()
        .map(|i| config.images[*i].name.clone())
        .collect();
    let stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut printer = Printer::new(stdout, args.output.format(), &names).dry_run();
    let mut app = App::new(&config, &opts);
    let history = match open_history(&config) {
        Ok(h) => Some(h),
        Err(why) => {
            printer.print(&Event {
                image: None,
                kind: EventKind::Notice { message: why },
            });
            None
        }
    };
    app.history_on = history.is_some();
    printer.print(&app.plan_event(&selection));
    let order: Vec<usize> = app
        .order
        .iter()
        .copied()
        .filter(|i| selection.contains(i))
        .collect();
    let run = Dry {
        config: &config,
        flags: &flags,
        docker: &connected.docker,
        history: history.as_ref(),
    };
    let mut verdicts: Vec<Option<DryVerdict>> = vec![None; config.images.len()];
    for i in order.iter().copied() {
        let (verdict, notes) = run.image(&mut app, &verdicts, i).await;
        let name = config.images[i].name.as_str();
        for message in notes {
            printer.print(&Event::for_image(name, EventKind::Notice { message }));
        }
        printer.print(&Event::for_image(name, verdict_event(&verdict)));
        if let Some(message) = would_push(&app, &config, i, &verdict) {
            printer.print(&Event::for_image(name, EventKind::Notice { message }));
        }
        verdicts[i] = Some(verdict);
    }
    printer.print(&summary(&config, &order, &verdicts, started));
    printer.flush();
    let _ = std::io::stdout().flush();
    exit::SUCCESS
}

/// What one dry run reads and asks.
struct Dry<'a> {
    config: &'a Config,
    flags: &'a BuildFlags,
    docker: &'a bollard::Docker,
    history: Option<&'a History>,
}

impl Dry<'_> {
    /// What the real run would do with image `i`, its dependencies'
    /// verdicts known, and the notes it would give.
    async fn image(
        &self,
        app: &mut App,
        verdicts: &[Option<DryVerdict>],
        i: usize,
    ) -> (DryVerdict, Vec<String>) {
        let mut notes = Vec::new();
        // As the scheduler: a dependency that fails keeps it from building.
        if app.deps[i]
            .iter()
            .any(|&d| verdicts[d].as_ref().is_some_and(keeps_dependents))
        {
            return (DryVerdict::Skip(SkipReason::DependencyFailed), notes);
        }
        let name = &self.config.images[i].name;
        if let Some(h) = self.history {
            match h.last_success(name) {
                Ok(last) => app.images[i].last_success = last,
                Err(e) => notes.push(format!("cannot read its last success in history: {e}")),
            }
        }
        let check = app.change_check(i);
        let spec = &self.config.images[i];
        let (verdict, more) = dry_run(self.docker, spec, self.flags, &check).await;
        notes.extend(more);
        let verdict = match (verdict, self.rebuilt_base(verdicts, i)) {
            (DryVerdict::Skip(SkipReason::Unchanged), Some(base)) => DryVerdict::Build {
                cause: BuildCause::BaseRebuilt,
                why: format!("its base '{base}' would be rebuilt first"),
            },
            (verdict, _) => verdict,
        };
        (verdict, notes)
    }

    /// A stack image image `i` is built on (its Dockerfile names it: its
    /// image id is one of `i`'s inputs) that would be rebuilt.
    fn rebuilt_base<'v>(&'v self, verdicts: &[Option<DryVerdict>], i: usize) -> Option<&'v str> {
        self.config.images[i]
            .inferred_depends_on
            .iter()
            .filter_map(|n| self.config.index_of(n))
            .find(|&d| matches!(verdicts[d], Some(DryVerdict::Build { .. })))
            .map(|d| self.config.images[d].name.as_str())
    }
}

/// A verdict that keeps the images built on it from building (as a
/// failure, or a skip because of one, does in a real run).
fn keeps_dependents(v: &DryVerdict) -> bool {
    matches!(
        v,
        DryVerdict::Fail(_) | DryVerdict::Skip(SkipReason::DependencyFailed)
    )
}

fn verdict_event(verdict: &DryVerdict) -> EventKind {
    match verdict {
        DryVerdict::Skip(reason) => EventKind::Skipped { reason: *reason },
        DryVerdict::Build { cause, why } => EventKind::WouldBuild {
            reason: why.clone(),
            cause: *cause,
        },
        DryVerdict::Fail(error) => EventKind::WouldFail {
            error: error.clone(),
        },
    }
}

/// What `--push` (or the image's `push`) would push after it: its
/// `push_tags`, for an image built or unchanged (a real run pushes both).
fn would_push(app: &App, config: &Config, i: usize, verdict: &DryVerdict) -> Option<String> {
    let pushes = matches!(
        verdict,
        DryVerdict::Build { .. } | DryVerdict::Skip(SkipReason::Unchanged)
    );
    if !pushes || !app.images[i].push.enabled {
        return None;
    }
    let c = &config.images[i];
    let tags = push_tags_of(&c.tags, &c.push_tags);
    Some(if tags.is_empty() {
        "would push nothing: its push_tags choose none of its tags".to_string()
    } else {
        format!("would push {}", tags.join(", "))
    })
}

fn summary(
    config: &Config,
    order: &[usize],
    verdicts: &[Option<DryVerdict>],
    started: Instant,
) -> Event {
    let mut skipped = Vec::new();
    let mut dry = DrySummary {
        dry_run: true,
        would_build: Vec::new(),
        would_fail: Vec::new(),
        unchanged: Vec::new(),
    };
    for &i in order {
        let name = config.images[i].name.clone();
        match &verdicts[i] {
            Some(DryVerdict::Build { .. }) => dry.would_build.push(name),
            Some(DryVerdict::Fail(_)) => dry.would_fail.push(name),
            Some(DryVerdict::Skip(reason)) => {
                if *reason == SkipReason::Unchanged {
                    dry.unchanged.push(name.clone());
                }
                skipped.push(name);
            }
            None => {}
        }
    }
    Event {
        image: None,
        kind: EventKind::Summary {
            succeeded: Vec::new(),
            failed: Vec::new(),
            skipped,
            duration_ms: millis(started.elapsed()),
            dry: Some(dry),
        },
    }
}

/// The history, read-only (a dry run writes nothing), or why change
/// detection is off (as a real run's notice says).
fn open_history(config: &Config) -> Result<History, String> {
    super::read_history(config)
        .map_err(|e| format!("build history is off ({e}): every image would be built"))
}
