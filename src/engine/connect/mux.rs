//! One ssh login per host, shared by kiln's connections to it (ssh's
//! connection multiplexing, `ControlMaster`): a login costs hundreds of
//! milliseconds, a session on a running master tens (BENCHMARKS.md §10).
//!
//! The first connection to a host starts a master of kiln's own: `ssh -o
//! ControlMaster=yes -o ControlPath=SOCKET … docker system dial-stdio`,
//! its stdin held open and never written, in a directory only the user can
//! enter. Connections wait for its login (its socket appears), then ask for
//! a session on it (`ControlMaster=no`, same `ControlPath`); if it fails,
//! or its socket is gone, ssh logs in by itself, as without a master.
//! At most [`MAX_SHARED`] connections share it at once, below sshd's
//! default `MaxSessions` (10) counting the master's own session; more log
//! in on their own.
//!
//! The master ends with kiln: when kiln exits, its stdin closes, the remote
//! `dial-stdio` ends, and ssh exits once the sessions on it have ended.
//! Nothing runs on after kiln, and its socket is removed by ssh.
//! A failing master (a bad host key, a refused login) shows nothing: the
//! connections then log in by themselves, and fail saying why.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::ssh::{Mux, SshTarget};

/// Connections sharing a master at once.
pub const MAX_SHARED: usize = 8;

/// A master of kiln's own for one host.
struct Master {
    /// None once the host refused a session on it: no more sharing.
    socket: Option<PathBuf>,
    /// Connections sharing it now.
    shared: Arc<AtomicUsize>,
    /// The process, held for its stdin (kill_on_drop, but held for the
    /// life of kiln), and asked whether it still runs.
    child: Option<tokio::process::Child>,
}

/// Counts a shared connection until dropped.
pub struct Share(Arc<AtomicUsize>);

impl Drop for Share {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The masters of this process, one per host.
fn masters() -> &'static Mutex<HashMap<SshTarget, Master>> {
    static MASTERS: OnceLock<Mutex<HashMap<SshTarget, Master>>> = OnceLock::new();
    MASTERS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// How long a connection waits for the master's login before it logs in
/// by itself (ssh's ConnectTimeout, and the login).
const READY_WAIT: Duration = Duration::from_secs(15);

/// How often a waiting connection looks for the master's socket.
const READY_POLL: Duration = Duration::from_millis(20);

/// What a connection can do now.
enum Now {
    Share(PathBuf, Share),
    Alone,
    /// The master is still logging in.
    Wait,
}

/// How the next connection to `target` should use multiplexing: a session
/// on the master once it is logged in (starting it the first time, and
/// waiting for its login rather than logging in beside it); alone when
/// the master failed or is full. The `Share` counts it while it lives.
pub async fn for_connection(target: &SshTarget) -> (Mux, Option<Share>) {
    let deadline = Instant::now() + READY_WAIT;
    loop {
        match now(target) {
            Now::Share(socket, share) => return (Mux::Shared(socket), Some(share)),
            Now::Alone => return (Mux::Alone, None),
            Now::Wait if Instant::now() >= deadline => return (Mux::Alone, None),
            Now::Wait => tokio::time::sleep(READY_POLL).await,
        }
    }
}

fn now(target: &SshTarget) -> Now {
    let Ok(mut masters) = masters().lock() else {
        return Now::Alone;
    };
    let Some(master) = masters.get_mut(target) else {
        start(&mut masters, target);
        return Now::Wait;
    };
    let Some(socket) = master.socket.clone() else {
        return Now::Alone;
    };
    if !socket.exists() {
        let running = master
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
        if running {
            return Now::Wait;
        }
        // The master failed (its connections then log in by themselves,
        // and say why they cannot), or is gone.
        master.socket = None;
        return Now::Alone;
    }
    let shared = Arc::clone(&master.shared);
    if shared.fetch_add(1, Ordering::SeqCst) < MAX_SHARED {
        return Now::Share(socket, Share(shared));
    }
    shared.fetch_sub(1, Ordering::SeqCst);
    Now::Alone
}

/// Starts the master for `target` (or records that there is none).
fn start(masters: &mut HashMap<SshTarget, Master>, target: &SshTarget) {
    let off = std::env::var("KILN_SSH_MULTIPLEX").is_ok_and(|v| v == "0");
    let socket = if off {
        None
    } else {
        socket_path(masters.len())
    };
    let child = socket.as_ref().and_then(|socket| {
        let mut command = target.command(&Mux::Master(socket.clone()));
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .stdin(Stdio::piped());
        command.spawn().ok()
    });
    masters.insert(
        target.clone(),
        Master {
            socket: socket.filter(|_| child.is_some()),
            shared: Arc::new(AtomicUsize::new(0)),
            child,
        },
    );
}

/// The host refused a session on the shared login (its `MaxSessions` is
/// lower than [`MAX_SHARED`]): its later connections log in by themselves.
pub fn give_up(target: &SshTarget) {
    if let Ok(mut masters) = masters().lock() {
        if let Some(master) = masters.get_mut(target) {
            master.socket = None;
        }
    }
}

/// Where the `n`th master of this process listens: in a directory of the
/// user's own (0700) under `$XDG_RUNTIME_DIR` or the temp directory; None
/// when that cannot be made safely (then no master).
fn socket_path(n: usize) -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    // SAFETY: getuid(2) cannot fail and touches no memory of ours.
    let uid = unsafe { libc::getuid() };
    let dir = base.join(format!("kiln-ssh-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    let private = meta.is_dir() && meta.uid() == uid && meta.permissions().mode() & 0o077 == 0;
    if !private {
        return None;
    }
    let socket = dir.join(format!("{}-{n}", std::process::id()));
    // A socket left by an earlier process of the same id.
    let _ = std::fs::remove_file(&socket);
    // Unix socket paths are short (108 bytes on Linux, with ssh's suffix).
    (socket.as_os_str().len() < 80).then_some(socket)
}
