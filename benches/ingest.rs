//! Stream ingest: daemon build output parsed and routed through the model
//! (parse + update + ring append), the hot path of a chatty build.
//! Run: `cargo bench --bench ingest`; numbers in BENCHMARKS.md.

use std::path::Path;
use std::time::Instant;

use bollard::models::BuildInfo;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kiln::app::{update, App, EngineEvent, Msg, RunOptions};
use kiln::engine::parse::{BuildEvent, LegacyParser};

const LINES: usize = 100_000;

/// A legacy stream: one step, then LINES lines of output in daemon-sized
/// chunks (the daemon sends a `stream` message per write, often many lines).
fn legacy_stream() -> Vec<BuildInfo> {
    let mut items = vec![BuildInfo {
        stream: Some("Step 1/2 : RUN make\n".into()),
        ..Default::default()
    }];
    let mut chunk = String::new();
    for i in 0..LINES {
        chunk.push_str(&format!(
            "\x1b[32mcompiling\x1b[0m src/module_{i}.rs ... ok\n"
        ));
        if i % 16 == 15 {
            items.push(BuildInfo {
                stream: Some(std::mem::take(&mut chunk)),
                ..Default::default()
            });
        }
    }
    items
}

fn app() -> App {
    let env = |_: &str| None;
    let yaml = "images:\n  - {name: web, image: 'x/web:1'}\n";
    let cfg = kiln::config::load_str(Path::new("kiln.yaml"), yaml, &env).unwrap();
    App::new(&cfg.config, &RunOptions::default())
}

fn ingest(c: &mut Criterion) {
    let items = legacy_stream();
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(LINES as u64));
    g.sample_size(20);
    g.bench_function("legacy parse only", |b| {
        b.iter(|| {
            let mut p = LegacyParser::new();
            let mut out = Vec::with_capacity(64);
            let mut n = 0;
            for it in &items {
                p.feed(it, &mut out);
                n += out.len();
                out.clear();
            }
            n
        })
    });
    g.bench_function("legacy parse + update + ring", |b| {
        b.iter(|| {
            let mut a = app();
            let t = Instant::now();
            update(
                &mut a,
                Msg::BuildRequested {
                    images: vec![0],
                    at: t,
                },
            );
            let run = a.images[0].run;
            let mut p = LegacyParser::new();
            let mut out: Vec<BuildEvent> = Vec::with_capacity(64);
            for it in &items {
                p.feed(it, &mut out);
                for ev in out.drain(..) {
                    let cmds = update(
                        &mut a,
                        Msg::Engine {
                            run,
                            image: 0,
                            at: t,
                            event: EngineEvent::Build(ev),
                        },
                    );
                    std::hint::black_box(cmds);
                }
            }
            a.images[0].log.len()
        })
    });
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
