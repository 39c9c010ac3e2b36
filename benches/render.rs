//! Rendering: one full dashboard frame (`ui::draw` into a ratatui
//! `TestBackend` 200x60), with N images whose log panes hold L lines each.
//! The model is filled through `update` with synthetic engine events (as
//! `tests/model_support` does): a third of the images done, the rest building,
//! each with a few steps; the ring capacity is raised to L when L exceeds
//! the default 10 000, to show what a bigger ring would cost.
//!
//! Run: `cargo bench --bench render`; numbers in BENCHMARKS.md.
//! Instruction counts for one frame under callgrind:
//!
//! ```sh
//! KILN_BENCH_ONCE="list 20 images x 10000 lines" valgrind --tool=callgrind \
//!   --toggle-collect='*workload*' target/release/deps/render-<hash>
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::string_slice,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion};

use kiln::app::log::LogRing;
use kiln::app::{update, App, Msg, RunOptions};
use kiln::protocol::{BuildEvent, BuilderKind, EngineEvent};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const WIDTH: u16 = 200;
const HEIGHT: u16 = 60;

/// An app with `images` images (all prebuilt-style, so no contexts are
/// needed), every one started, `lines` lines of output each.
fn app(images: usize, lines: usize) -> App {
    let mut yaml = format!("defaults: {{jobs: {images}}}\nimages:\n");
    for i in 0..images {
        yaml.push_str(&format!(
            "  - {{name: service-{i:02}, image: 'kiln-bench/service-{i}:1'}}\n"
        ));
    }
    let env = |_: &str| None;
    let cfg = kiln::config::load_str(Path::new("kiln.yaml"), &yaml, &env).unwrap();
    let mut a = App::new(&cfg.config, &RunOptions::default());
    a.view.color = true;
    update(
        &mut a,
        Msg::Resize {
            width: WIDTH,
            height: HEIGHT,
        },
    );
    let t0 = Instant::now();
    update(
        &mut a,
        Msg::BuildRequested {
            images: (0..images).collect(),
            at: t0,
        },
    );
    for i in 0..images {
        if lines > kiln::app::log::DEFAULT_CAPACITY {
            a.images[i].log = LogRing::with_capacity(lines);
        }
        let run = a.images[i].run;
        let mut send = |secs: f64, event: EngineEvent| {
            update(
                &mut a,
                Msg::Engine {
                    run,
                    image: i,
                    at: t0 + Duration::from_secs_f64(secs),
                    event,
                },
            );
        };
        send(
            0.1,
            EngineEvent::Started {
                builder: BuilderKind::Legacy,
            },
        );
        let steps = 4u32;
        let per_step = lines / steps as usize;
        for s in 1..=steps {
            send(
                s as f64,
                EngineEvent::Build(BuildEvent::Step {
                    id: s.to_string(),
                    index: Some(s),
                    total: Some(steps),
                    name: format!("RUN make -C part{s} all"),
                    cached: s == 1,
                    shared: false,
                }),
            );
            for n in 0..per_step {
                send(
                    s as f64 + 0.5,
                    EngineEvent::Build(BuildEvent::Log {
                        step: None,
                        line: format!(
                            "cc -O2 -Wall -c src/part{s}/module_{n}.c -o build/part{s}/module_{n}.o"
                        ),
                    }),
                );
            }
            if s < steps || i % 3 == 0 {
                send(
                    s as f64 + 0.9,
                    EngineEvent::Build(BuildEvent::StepDone {
                        id: s.to_string(),
                        cached: s == 1,
                        error: None,
                    }),
                );
            }
        }
        if i % 3 == 0 {
            send(
                5.0,
                EngineEvent::Built {
                    image_id: format!("sha256:{i:064x}"),
                },
            );
        }
    }
    update(&mut a, Msg::Tick(t0 + Duration::from_secs(7)));
    a.view.selected = images / 2;
    a
}

#[inline(never)]
fn workload_frame(a: &App, term: &mut Terminal<TestBackend>) -> usize {
    let frame = term.draw(|f| kiln::ui::draw(a, f)).unwrap();
    frame.buffer.content.len()
}

fn terminal() -> Terminal<TestBackend> {
    Terminal::new(TestBackend::new(WIDTH, HEIGHT)).unwrap()
}

/// (name, images, lines, tiled)
fn cases() -> Vec<(String, usize, usize, bool)> {
    let mut v = Vec::new();
    for images in [5, 20, 80] {
        v.push((
            format!("list {images} images x 10000 lines"),
            images,
            10_000,
            false,
        ));
    }
    for lines in [1_000, 100_000] {
        v.push((format!("list 20 images x {lines} lines"), 20, lines, false));
    }
    v.push(("tiled 20 images x 10000 lines".into(), 20, 10_000, true));
    v
}

fn render(c: &mut Criterion) {
    let mut g = c.benchmark_group("render 200x60");
    g.sample_size(50);
    for (name, images, lines, tiled) in cases() {
        let mut a = app(images, lines);
        a.view.tiled = tiled;
        let mut term = terminal();
        g.bench_function(BenchmarkId::from_parameter(&name), |b| {
            b.iter(|| workload_frame(&a, &mut term))
        });
    }
    g.finish();
}

criterion_group!(benches, render);

fn main() {
    if let Ok(name) = std::env::var("KILN_BENCH_ONCE") {
        let Some((_, images, lines, tiled)) = cases().into_iter().find(|c| c.0 == name) else {
            eprintln!("no case {name:?}; one of:");
            for c in cases() {
                eprintln!("  {}", c.0);
            }
            std::process::exit(2);
        };
        let mut a = app(images, lines);
        a.view.tiled = tiled;
        let mut term = terminal();
        // The first frame fills an empty buffer; measure the second, like
        // every frame after the first in the dashboard.
        term.draw(|f| kiln::ui::draw(&a, f)).unwrap();
        std::hint::black_box(workload_frame(&a, &mut term));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
