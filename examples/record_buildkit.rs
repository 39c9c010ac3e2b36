//! Records a BuildKit build through the daemon, for fixtures.
//!
//! usage: `record_buildkit SOCKET CONTEXT.tar TAG [nocache]`
//!
//! Point SOCKET at `tools/sockproxy.py` to capture the raw daemon lines (the
//! proxy writes them; see tests/fixtures/README.md). This program only drives
//! the build (a BuildKit build needs a session over a hijacked connection,
//! which bollard provides) and prints a summary of what bollard yields.
#![allow(
    clippy::unwrap_used,
    clippy::string_slice,
    clippy::print_stdout,
    clippy::print_stderr
)]
use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use bollard::{body_full, ClientVersion, Docker};
use futures::StreamExt;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: record_buildkit SOCKET CONTEXT.tar TAG [nocache]");
        std::process::exit(2);
    }
    let version = ClientVersion {
        major_version: 1,
        minor_version: 41,
    };
    let docker = Docker::connect_with_unix(&args[1], 120, &version).expect("connect");
    let tar = std::fs::read(&args[2]).expect("read context tar");
    let session = format!("kiln-fixture-{}", std::process::id());
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(&args[3])
        .rm(true)
        .forcerm(true)
        .nocache(args.get(4).map(|s| s == "nocache").unwrap_or(false))
        .version(BuilderVersion::BuilderBuildKit)
        .session(&session)
        .build();
    let mut stream = docker.build_image(options, None, Some(body_full(tar.into())));
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(bollard::models::BuildInfoAux::BuildKit(s)) = &info.aux {
                    println!(
                        "status: {} vertexes, {} statuses, {} logs",
                        s.vertexes.len(),
                        s.statuses.len(),
                        s.logs.len()
                    );
                } else {
                    println!("{info:?}");
                }
            }
            Err(e) => {
                println!("error: {e}");
                break;
            }
        }
    }
}
