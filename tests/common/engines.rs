//! The test engines of `scripts/hosts-multi` (dockerds in the network
//! namespaces kilnm1 and kilnm2), as the several-engines test files reach
//! and clean them.

use std::process::{Command, Output};

pub const LOCAL: &str = "unix:///var/run/docker.sock";
pub const M1: &str = "tcp://10.214.1.2:2375";
pub const M2: &str = "tcp://10.214.2.2:2375";

/// `docker` against the engine at `host`.
pub fn docker_at(host: &str, args: &[&str]) -> Output {
    Command::new("docker")
        .env("DOCKER_HOST", host)
        .args(args)
        .output()
        .expect("run docker")
}

/// Whether the system daemon and both test engines answer (scripts/setup
/// starts them); saying so (or failing, under KILN_REQUIRE_DOCKER=1) when
/// they do not.
pub fn engines_up() -> bool {
    if !super::docker_available() {
        return false;
    }
    let up = [M1, M2].iter().all(|h| {
        docker_at(h, &["version", "--format", "{{.Server.Version}}"])
            .status
            .success()
    });
    if !up {
        super::cannot_run("the test engines kilnm1/kilnm2 are not up (run scripts/setup)");
    }
    up
}

/// Removes, from the engine at `host`, every image reference that starts
/// with `start` (untagging; layers another test may share stay).
pub fn remove_references(host: &str, start: &str) {
    let out = docker_at(host, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mine: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(start))
        .map(String::from)
        .collect();
    if !mine.is_empty() {
        let mut args = vec!["rmi", "-f", "--no-prune"];
        args.extend(mine.iter().map(String::as_str));
        docker_at(host, &args);
    }
}
