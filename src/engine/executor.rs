//! Carries out the engine's requests (the runtime makes them of the
//! model's commands): starts a task per build or push and cancels them.
//! Which image may start when (dependencies, the jobs limit, failure
//! propagation) is decided by the pure scheduler in `app`; this only does
//! the I/O. Each task reports through a `Sink` on the engine's channel.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::engine::build::{self, BuildFlags};
use crate::engine::identify::EngineInfo;
use crate::engine::multi::{self, Link, Moves};
use crate::engine::push;
use crate::engine::report::Report;
use crate::engine::sink::Sink;
use crate::protocol::{ChangeCheck, ImageOverride, Placement, RunId};

/// How long shutdown waits for tasks to let go of their daemon streams.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What the engine is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Build (or check, for prebuilt images) this image, with the
    /// dashboard's edits for this run applied to its config, if any.
    Build {
        run: RunId,
        image: usize,
        /// Several engines: where, and what to move there first.
        placement: Option<Placement>,
        overrides: Option<ImageOverride>,
        check: ChangeCheck,
    },
    /// Push `tags` of this image (a fresh build of run `run`, or the image
    /// as it is for `kiln push`); several engines: from engine `engine`.
    Push {
        run: RunId,
        image: usize,
        tags: Vec<String>,
        engine: Option<usize>,
    },
    /// Stop run `run` of this image on the daemon.
    Cancel { run: RunId, image: usize },
}

pub struct Executor {
    docker: Docker,
    config: Arc<Config>,
    flags: BuildFlags,
    tx: mpsc::Sender<Report>,
    running: HashMap<usize, (RunId, CancellationToken)>,
    tasks: JoinSet<()>,
    /// Several engines: each engine's link (None: out of the run), in the
    /// order of the model's engines; empty: the one engine, `docker`.
    links: Arc<Vec<Option<Link>>>,
    moves: Moves,
}

impl Executor {
    pub fn new(
        docker: Docker,
        config: Arc<Config>,
        mut flags: BuildFlags,
        tx: mpsc::Sender<Report>,
    ) -> Self {
        flags.stack_tags = build::stack_tags(&config.images);
        Executor {
            docker,
            config,
            flags,
            tx,
            running: HashMap::new(),
            tasks: JoinSet::new(),
            links: Arc::new(Vec::new()),
            moves: Moves::default(),
        }
    }

    /// Build on these engines (several engines: each of the stack's, None
    /// when out of the run), where the model places each build.
    pub fn use_engines(&mut self, links: Vec<Option<Link>>) {
        self.links = Arc::new(links);
    }

    /// Build from `config` from now on (a reload in watch mode); running
    /// builds go on with what they started from.
    pub fn use_stack(&mut self, config: Arc<Config>) {
        self.config = config;
    }

    /// Carry out one request.
    pub fn execute(&mut self, request: Request) {
        match request {
            Request::Build {
                run,
                image,
                placement,
                overrides,
                check,
            } => self.start(run, image, placement, overrides.as_ref(), check),
            Request::Push {
                run,
                image,
                tags,
                engine,
            } => self.start_push(run, image, &tags, engine),
            Request::Cancel { run, image } => {
                if let Some((r, token)) = self.running.get(&image) {
                    if *r == run {
                        token.cancel();
                    }
                }
            }
        }
    }

    fn start(
        &mut self,
        run: RunId,
        image: usize,
        placement: Option<Placement>,
        overrides: Option<&ImageOverride>,
        check: ChangeCheck,
    ) {
        let Some(mut spec) = self.config.images.get(image).cloned() else {
            return;
        };
        if let Some(ov) = overrides {
            spec.args = ov.args.clone();
            if let Some(tags) = &ov.tags {
                spec.tags = tags.clone();
            }
            if let Some(target) = &ov.target {
                spec.target = (!target.is_empty()).then(|| target.clone());
            }
        }
        if matches!(check, ChangeCheck::NoCache { .. }) {
            spec.no_cache = true;
        }
        let link = placement
            .as_ref()
            .and_then(|p| self.links.get(p.engine))
            .and_then(Option::as_ref);
        let (docker, mut flags) = match link {
            Some(l) => {
                let mut flags = self.flags.clone();
                flags.buildkit_available = l.engine.as_ref().is_some_and(|e| e.buildkit);
                flags.buildah = l
                    .engine
                    .as_ref()
                    .is_some_and(EngineInfo::builds_with_buildah);
                flags.endpoint = Some(l.endpoint.clone());
                (l.docker.clone(), flags)
            }
            None => (self.docker.clone(), self.flags.clone()),
        };
        flags.stack_tags = self.flags.stack_tags.clone();
        let Some(placement) = placement else {
            self.spawn(run, image, move |sink, token| {
                build::run(docker, spec, flags, check, sink, token)
            });
            return;
        };
        let (links, moves) = (self.links.clone(), self.moves.clone());
        let registry = self.config.transfer_registry.clone();
        self.spawn(run, image, move |sink, token| {
            let placed = multi::Placed {
                links,
                moves,
                placement,
                check: check.clone(),
                tags: spec.tags.clone(),
                name: spec.name.clone(),
                registry: registry.clone(),
            };
            let cancel = token.clone();
            multi::run_placed(placed, sink, cancel, move |s| {
                build::run(docker, spec, flags, check, s, token)
            })
        });
    }

    /// Push `tags` of an image (after its build, or for `kiln push`): the
    /// tags the model says it was built with, from the engine it says
    /// holds the image (several engines). Pushes do not count against
    /// `jobs`; the model decides when they start.
    fn start_push(&mut self, run: RunId, image: usize, tags: &[String], engine: Option<usize>) {
        let Some(mut spec) = self.config.images.get(image).cloned() else {
            return;
        };
        spec.tags = tags.to_vec();
        let link = engine
            .and_then(|e| self.links.get(e))
            .and_then(Option::as_ref);
        let (docker, endpoint) = match link {
            Some(l) => (l.docker.clone(), Some(l.endpoint.clone())),
            None => (self.docker.clone(), None),
        };
        self.spawn(run, image, move |sink, token| {
            push::run(docker, endpoint, spec, sink, token)
        });
    }

    /// Several engines: engine `engine` answers again through `link`:
    /// builds and moves use it from now on (nothing moved there before is
    /// taken as there still), and each of `ids` is looked up there by id;
    /// those it holds are reported (`Report::EngineBack`).
    pub fn rejoin(&mut self, engine: usize, link: Link, ids: Vec<String>) {
        let mut links = (*self.links).clone();
        if let Some(slot) = links.get_mut(engine) {
            *slot = Some(link.clone());
        }
        self.links = Arc::new(links);
        self.moves.forget(engine);
        let tx = self.tx.clone();
        self.tasks.spawn(async move {
            let mut present = Vec::new();
            for id in ids {
                if link.docker.inspect_image(&id).await.is_ok() {
                    present.push(id);
                }
            }
            let at = std::time::Instant::now();
            let _ = tx
                .send(Report::EngineBack {
                    engine,
                    present,
                    at,
                })
                .await;
        });
    }

    /// Run one image's engine task, replacing (and cancelling) any earlier
    /// one of that image, with a sink stamped with the run.
    fn spawn<F, Fut>(&mut self, run: RunId, image: usize, task: F)
    where
        F: FnOnce(Sink, CancellationToken) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let token = CancellationToken::new();
        if let Some((_, old)) = self.running.insert(image, (run, token.clone())) {
            old.cancel();
        }
        let sink = Sink::new(self.tx.clone(), run, image);
        let work = task(sink, token);
        self.tasks.spawn(async move {
            work.await;
            crate::memory::release_freed();
        });
        // Reap finished tasks so the set stays small in a long session.
        while self.tasks.try_join_next().is_some() {}
    }

    /// Cancel everything still running and wait (bounded) for the tasks to
    /// drop their daemon streams, so the daemon sees the cancellation.
    pub async fn shutdown(mut self) {
        for (_, token) in self.running.values() {
            token.cancel();
        }
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
    }
}
