//! Prints a recorded build fixture (one daemon JSON object per line) in a
//! readable form, decoding BuildKit trace items.
//!
//! usage: `dump_fixture FILE.jsonl`
#![allow(
    clippy::unwrap_used,
    clippy::string_slice,
    clippy::print_stdout,
    clippy::print_stderr
)]
use bollard::models::{BuildInfo, BuildInfoAux};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: dump_fixture FILE.jsonl");
    let text = std::fs::read_to_string(path).expect("read fixture");
    for (n, line) in text.lines().enumerate() {
        let info: BuildInfo = match serde_json::from_str(line) {
            Ok(i) => i,
            Err(e) => {
                println!("{n}: undecodable: {e}");
                continue;
            }
        };
        match &info.aux {
            Some(BuildInfoAux::BuildKit(s)) => {
                for v in &s.vertexes {
                    println!(
                        "{n}: vertex {} {:?} cached={} started={} completed={} error={:?}",
                        &v.digest[..19.min(v.digest.len())],
                        v.name,
                        v.cached,
                        v.started.is_some(),
                        v.completed.is_some(),
                        v.error
                    );
                }
                for st in &s.statuses {
                    println!(
                        "{n}: status {} vertex={} name={:?} {}/{} completed={}",
                        st.id,
                        &st.vertex[..19.min(st.vertex.len())],
                        st.name,
                        st.current,
                        st.total,
                        st.completed.is_some()
                    );
                }
                for l in &s.logs {
                    println!(
                        "{n}: log vertex={} stream={} {:?}",
                        &l.vertex[..19.min(l.vertex.len())],
                        l.stream,
                        String::from_utf8_lossy(&l.msg)
                    );
                }
                for w in &s.warnings {
                    println!("{n}: warning {:?}", String::from_utf8_lossy(&w.short));
                }
            }
            _ => println!("{n}: {info:?}"),
        }
    }
}
