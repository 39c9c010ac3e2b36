//! Stream ingest: daemon build output parsed and routed through the model
//! (parse + update + ring append), the hot path of a chatty build, for both
//! builders, and with the headless printers (`--json` / `--plain`) writing
//! the resulting events to `std::io::sink()`.
//!
//! Run: `cargo bench --bench ingest`; numbers in BENCHMARKS.md.
//!
//! Instruction counts (repeatable on a loaded machine): run one pass of one
//! workload under callgrind, counting only inside the workload:
//!
//! ```sh
//! KILN_BENCH_ONCE="buildkit parse + update + json" valgrind --tool=callgrind \
//!   --toggle-collect='*workload*' --callgrind-out-file=/tmp/cg.out \
//!   target/release/deps/ingest-<hash>
//! ```
//!
//! (`scripts/bench-callgrind` does this for every workload.)
#![allow(
    clippy::unwrap_used,
    clippy::string_slice,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use bollard::moby::buildkit::v1::{StatusResponse, Vertex, VertexLog};
use bollard::models::BuildInfo;
use criterion::{criterion_group, Criterion, Throughput};

use kiln::app::{update, App, Command, Msg, RunOptions};
use kiln::engine::parse::{BuildKitParser, LegacyParser};
use kiln::headless::{Format, Printer};
use kiln::history::{History, Recorder};
use kiln::protocol::{BuildEvent, BuilderKind, EngineEvent};

const LINES: usize = 100_000;
/// Lines per daemon message (the daemon sends one per write, often many lines).
const PER_MSG: usize = 16;

fn output_line(i: usize) -> String {
    format!("\x1b[32mcompiling\x1b[0m src/module_{i}.rs ... ok\n")
}

/// A legacy stream: one step, then LINES lines of output in daemon-sized chunks.
fn legacy_stream() -> Vec<BuildInfo> {
    let mut items = vec![BuildInfo {
        stream: Some("Step 1/2 : RUN make\n".into()),
        ..Default::default()
    }];
    let mut chunk = String::new();
    for i in 0..LINES {
        chunk.push_str(&output_line(i));
        if i % PER_MSG == PER_MSG - 1 {
            items.push(BuildInfo {
                stream: Some(std::mem::take(&mut chunk)),
                ..Default::default()
            });
        }
    }
    items
}

const DIGEST: &str = "sha256:3f1c2b8e9d4a7f60c5e1b2a3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7";

/// A BuildKit stream as the daemon sends it: every status item repeats the
/// running vertex (started, not completed) and carries one `VertexLog`
/// with PER_MSG lines of its stdout; the last one completes the vertex.
fn buildkit_stream() -> Vec<StatusResponse> {
    let vertex = |completed: bool| Vertex {
        digest: DIGEST.into(),
        name: "[2/2] RUN make".into(),
        started: Some(Default::default()),
        completed: completed.then(Default::default),
        ..Default::default()
    };
    let mut items = Vec::new();
    let mut chunk = Vec::new();
    for i in 0..LINES {
        chunk.extend_from_slice(output_line(i).as_bytes());
        if i % PER_MSG == PER_MSG - 1 {
            items.push(StatusResponse {
                vertexes: vec![vertex(false)],
                logs: vec![VertexLog {
                    vertex: DIGEST.into(),
                    stream: 1,
                    msg: std::mem::take(&mut chunk),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
    }
    items.push(StatusResponse {
        vertexes: vec![vertex(true)],
        ..Default::default()
    });
    items
}

fn app() -> App {
    let env = |_: &str| None;
    let yaml = "images:\n  - {name: web, image: 'x/web:1'}\n";
    let cfg = kiln::config::load_str(Path::new("kiln.yaml"), yaml, &env).unwrap();
    App::new(&cfg.config, &RunOptions::default())
}

/// Where the model's events go: nowhere, or a headless printer, and
/// optionally the history recorder (log file + SQLite), as in `kiln build`.
struct Out {
    printer: Option<Printer<std::io::Sink>>,
    recorder: Option<(Recorder, tempfile::TempDir)>,
}

/// What follows the model in a workload.
#[derive(Clone, Copy)]
enum Tail {
    /// Nothing: the events are dropped.
    Drop,
    /// A headless printer writing to `std::io::sink()`.
    Print(Format),
    /// `kiln build --json` as it runs: printer and recorder (log file in a
    /// temp dir, flushed when the build ends).
    Headless(Format),
}

impl Out {
    fn new(tail: Tail) -> Out {
        let printer = |f| Some(Printer::new(std::io::sink(), f, &["web".to_string()]));
        match tail {
            Tail::Drop => Out {
                printer: None,
                recorder: None,
            },
            Tail::Print(f) => Out {
                printer: printer(f),
                recorder: None,
            },
            Tail::Headless(f) => {
                let dir = tempfile::tempdir().unwrap();
                let h = History::open(dir.path(), Path::new("/bench/kiln.yaml")).unwrap();
                Out {
                    printer: printer(f),
                    recorder: Some((Recorder::new(h), dir)),
                }
            }
        }
    }

    fn take(&mut self, cmds: Vec<Command>) {
        for c in &cmds {
            if let Command::Emit(e) = c {
                if let Some(p) = self.printer.as_mut() {
                    p.print(e);
                }
                if let Some((r, _)) = self.recorder.as_mut() {
                    assert_eq!(r.record(e), None);
                }
            }
        }
        std::hint::black_box(cmds);
    }
}

/// A started build of the one image; returns the app and its run id.
fn started_app(sink: &mut Out) -> (App, u64, Instant) {
    let mut a = app();
    let t = Instant::now();
    sink.take(update(
        &mut a,
        Msg::BuildRequested {
            images: vec![0],
            at: t,
        },
    ));
    let run = a.images[0].run;
    sink.take(update(
        &mut a,
        Msg::Engine {
            run,
            image: 0,
            at: t,
            event: EngineEvent::Started {
                builder: BuilderKind::Buildkit,
            },
        },
    ));
    (a, run, t)
}

/// The build ends: the model's `built` event (the recorder flushes the log).
fn built(a: &mut App, run: u64, t: Instant, sink: &mut Out) {
    sink.take(update(
        a,
        Msg::Engine {
            run,
            image: 0,
            at: t,
            event: EngineEvent::Built {
                image_id: format!("sha256:{:064x}", 1),
            },
        },
    ));
}

fn route(a: &mut App, run: u64, t: Instant, ev: BuildEvent, out: &mut Out) {
    let cmds = update(
        a,
        Msg::Engine {
            run,
            image: 0,
            at: t,
            event: EngineEvent::Build(ev),
        },
    );
    out.take(cmds);
}

#[inline(never)]
fn workload_legacy_parse(items: &[BuildInfo]) -> usize {
    let mut p = LegacyParser::new();
    let mut out = Vec::with_capacity(64);
    let mut n = 0;
    for it in items {
        p.feed(it, &mut out);
        n += out.len();
        out.clear();
    }
    n
}

#[inline(never)]
fn workload_buildkit_parse(items: &[StatusResponse]) -> usize {
    let mut p = BuildKitParser::new();
    let mut out = Vec::with_capacity(64);
    let mut n = 0;
    for it in items {
        p.feed(it, &mut out);
        n += out.len();
        out.clear();
    }
    n
}

#[inline(never)]
fn workload_legacy_full(items: &[BuildInfo], tail: Tail) -> usize {
    let mut sink = Out::new(tail);
    let (mut a, run, t) = started_app(&mut sink);
    let mut p = LegacyParser::new();
    let mut out: Vec<BuildEvent> = Vec::with_capacity(64);
    for it in items {
        p.feed(it, &mut out);
        for ev in out.drain(..) {
            route(&mut a, run, t, ev, &mut sink);
        }
    }
    built(&mut a, run, t, &mut sink);
    a.images[0].log.len()
}

#[inline(never)]
fn workload_buildkit_full(items: &[StatusResponse], tail: Tail) -> usize {
    let mut sink = Out::new(tail);
    let (mut a, run, t) = started_app(&mut sink);
    let mut p = BuildKitParser::new();
    let mut out: Vec<BuildEvent> = Vec::with_capacity(64);
    for it in items {
        p.feed(it, &mut out);
        for ev in out.drain(..) {
            route(&mut a, run, t, ev, &mut sink);
        }
    }
    built(&mut a, run, t, &mut sink);
    a.images[0].log.len()
}

/// The workloads by name: (name, run once).
/// A named workload: one pass over the stream.
type Workload = (&'static str, Box<dyn Fn() -> usize>);

fn workloads() -> Vec<Workload> {
    let legacy = Rc::new(legacy_stream());
    let bk = Rc::new(buildkit_stream());
    let mut v: Vec<Workload> = Vec::new();
    let l = legacy.clone();
    v.push((
        "legacy parse only",
        Box::new(move || workload_legacy_parse(&l)),
    ));
    let b = bk.clone();
    v.push((
        "buildkit parse only",
        Box::new(move || workload_buildkit_parse(&b)),
    ));
    let tails = [
        ("update + ring", Tail::Drop),
        ("update + plain", Tail::Print(Format::Plain)),
        ("update + json", Tail::Print(Format::Json)),
        ("update + json + log file", Tail::Headless(Format::Json)),
    ];
    for (what, tail) in tails {
        let l = legacy.clone();
        let name = format!("legacy parse + {what}").leak();
        v.push((name, Box::new(move || workload_legacy_full(&l, tail))));
        let b = bk.clone();
        let name = format!("buildkit parse + {what}").leak();
        v.push((name, Box::new(move || workload_buildkit_full(&b, tail))));
    }
    v
}

fn ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(LINES as u64));
    g.sample_size(20);
    for (name, run) in workloads() {
        g.bench_function(name, |b| b.iter(&run));
    }
    g.finish();
}

criterion_group!(benches, ingest);

fn main() {
    // One pass of one workload, for callgrind (see the top of this file).
    if let Ok(name) = std::env::var("KILN_BENCH_ONCE") {
        let all = workloads();
        let Some((_, run)) = all.iter().find(|(n, _)| *n == name) else {
            eprintln!("no workload {name:?}; one of:");
            for (n, _) in &all {
                eprintln!("  {n}");
            }
            std::process::exit(2);
        };
        println!("{name}: {} lines, result {}", LINES, run());
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
