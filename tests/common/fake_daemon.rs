//! A scripted fake Docker daemon on a temporary unix socket, for what the
//! real daemon will not do on demand: malformed JSON, a stream cut mid-line,
//! a connection dropped mid-build, a build that never answers, a push that
//! dies half-way.
//!
//! Plain HTTP/1.1 over `std::os::unix::net`, a thread per connection. It
//! answers `GET`/`HEAD /_ping` and `GET /version` (API 1.41, linux) the way
//! bollard's version negotiation wants, `GET /images/…/json` with 404, and
//! every other request from the test's [`Route`]s: the first route whose
//! method matches and whose needle occurs in the (percent-decoded) request
//! target. A reply is a status line, then the script's chunks written with
//! chunked transfer encoding (`Content-Type: application/json`), with
//! optional pauses, then an [`End`]. Request bodies (the build context) are
//! read in full before answering, as dockerd does.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One action of a scripted reply.
#[derive(Debug, Clone)]
pub enum Step {
    /// Written as one HTTP chunk, as is.
    Chunk(Vec<u8>),
    /// Flush and wait before the next step.
    Pause(Duration),
}

/// How a scripted reply ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The terminating zero-length chunk: a clean end of the response.
    Finish,
    /// Shut the connection down without ending the chunked body: the
    /// connection dropped under the client.
    Drop,
    /// Say nothing more, keep the connection open until the client goes.
    Hang,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub steps: Vec<Step>,
    pub end: End,
}

impl Reply {
    /// 200 with `lines` (each gets a `\n`) in one chunk per line.
    pub fn lines<S: AsRef<str>>(lines: &[S], end: End) -> Reply {
        Reply {
            status: 200,
            steps: lines
                .iter()
                .map(|l| Step::Chunk(format!("{}\n", l.as_ref()).into_bytes()))
                .collect(),
            end,
        }
    }

    /// Accept the request and never answer, not even a status line.
    pub fn silent() -> Reply {
        Reply {
            status: 0,
            steps: Vec::new(),
            end: End::Hang,
        }
    }

    /// Append raw bytes as one more chunk.
    pub fn then_raw(mut self, bytes: &[u8]) -> Reply {
        self.steps.push(Step::Chunk(bytes.to_vec()));
        self
    }

    pub fn then_pause(mut self, d: Duration) -> Reply {
        self.steps.push(Step::Pause(d));
        self
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub method: &'static str,
    /// Must occur in the percent-decoded request target.
    pub needle: String,
    pub reply: Reply,
}

impl Route {
    /// `POST /build` for the image tagged `tag` (its first tag).
    pub fn build(tag: &str, reply: Reply) -> Route {
        Route {
            method: "POST",
            needle: format!("t={tag}"),
            reply,
        }
    }

    /// `POST /images/{name}/push` for `name` (the reference without its tag).
    pub fn push(name: &str, reply: Reply) -> Route {
        Route {
            method: "POST",
            needle: format!("/images/{name}/push"),
            reply,
        }
    }
}

struct Shared {
    routes: Vec<Route>,
    stop: AtomicBool,
    /// `METHOD target` of every request, in order of arrival.
    seen: Mutex<Vec<String>>,
}

pub struct FakeDaemon {
    dir: tempfile::TempDir,
    pub socket: PathBuf,
    shared: Arc<Shared>,
}

impl FakeDaemon {
    pub fn start(routes: Vec<Route>) -> FakeDaemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("fake.sock");
        let listener = UnixListener::bind(&socket).expect("bind the fake daemon's socket");
        let shared = Arc::new(Shared {
            routes,
            stop: AtomicBool::new(false),
            seen: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        FakeDaemon {
            dir,
            socket,
            shared,
        }
    }

    /// The `DOCKER_HOST` value that reaches this daemon.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// `METHOD target` of the requests received so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = UnixStream::connect(&self.socket);
    }
}

struct Request {
    method: String,
    target: String,
}

fn serve(conn: UnixStream, shared: &Shared) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let mut out = write_half;
    let mut reader = BufReader::new(conn);
    // Keep-alive: one request after another until the client closes.
    while let Some(req) = read_request(&mut reader) {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        shared
            .seen
            .lock()
            .unwrap()
            .push(format!("{} {}", req.method, req.target));
        let keep_going = respond(&req, &mut out, reader.get_mut(), shared);
        if !keep_going {
            return;
        }
    }
}

/// Read one request (headers and the whole body); None at EOF or on error.
fn read_request(r: &mut BufReader<UnixStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = percent_decode(parts.next()?);
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            length = value.parse().ok()?;
        } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    if chunked {
        loop {
            let mut size = String::new();
            if r.read_line(&mut size).ok()? == 0 {
                return None;
            }
            let hex = size.trim().split(';').next().unwrap_or("");
            let n = usize::from_str_radix(hex, 16).ok()?;
            if n == 0 {
                // Trailers, then the empty line.
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t).ok()? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut skip = vec![0u8; n + 2];
            r.read_exact(&mut skip).ok()?;
        }
    } else if length > 0 {
        let mut skip = vec![0u8; length];
        r.read_exact(&mut skip).ok()?;
    }
    Some(Request { method, target })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

fn fixed(out: &mut UnixStream, code: u16, ctype: &str, body: &str, head_only: bool) -> bool {
    let head = format!(
        "HTTP/1.1 {code} {}\r\nApi-Version: 1.41\r\nOstype: linux\r\nServer: kiln-fake-daemon\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        status_text(code),
        body.len()
    );
    let mut all = head.into_bytes();
    if !head_only {
        all.extend_from_slice(body.as_bytes());
    }
    out.write_all(&all).and_then(|_| out.flush()).is_ok()
}

/// Answer one request; false when the connection is finished.
fn respond(req: &Request, out: &mut UnixStream, input: &mut UnixStream, shared: &Shared) -> bool {
    let path = req.target.split('?').next().unwrap_or("");
    if path.ends_with("/_ping") {
        return fixed(
            out,
            200,
            "text/plain; charset=utf-8",
            "OK",
            req.method == "HEAD",
        );
    }
    if req.method == "GET" && path.ends_with("/version") {
        let body = r#"{"Platform":{"Name":"kiln fake daemon"},"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64","KernelVersion":"6.0.0"}"#;
        return fixed(out, 200, "application/json", body, false);
    }
    let route = shared
        .routes
        .iter()
        .find(|r| r.method == req.method && req.target.contains(&r.needle));
    let Some(route) = route else {
        let body = format!(
            "{{\"message\":\"fake daemon: no such image or route: {} {}\"}}",
            req.method,
            path.replace('"', "'")
        );
        return fixed(out, 404, "application/json", &body, false);
    };
    let reply = &route.reply;
    let head = format!(
        "HTTP/1.1 {} {}\r\nApi-Version: 1.41\r\nServer: kiln-fake-daemon\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        reply.status,
        status_text(reply.status)
    );
    if reply.status != 0 && out.write_all(head.as_bytes()).is_err() {
        return false;
    }
    for step in &reply.steps {
        let ok = match step {
            Step::Chunk(bytes) if bytes.is_empty() => true,
            Step::Chunk(bytes) => {
                let mut c = format!("{:x}\r\n", bytes.len()).into_bytes();
                c.extend_from_slice(bytes);
                c.extend_from_slice(b"\r\n");
                out.write_all(&c).and_then(|_| out.flush()).is_ok()
            }
            Step::Pause(d) => {
                std::thread::sleep(*d);
                true
            }
        };
        if !ok {
            return false;
        }
    }
    match reply.end {
        End::Finish => out
            .write_all(b"0\r\n\r\n")
            .and_then(|_| out.flush())
            .is_ok(),
        End::Drop => {
            let _ = out.shutdown(std::net::Shutdown::Both);
            false
        }
        End::Hang => {
            // Until the client hangs up (or the test ends).
            let _ = input.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = [0u8; 512];
            loop {
                match input.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        if shared.stop.load(Ordering::SeqCst) {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            false
        }
    }
}

/// Run `cmd` with a hard limit: a kiln that hangs is killed and the test
/// fails saying so, instead of the suite hanging.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kiln");
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for kiln") {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = String::from_utf8_lossy(&out_t.join().unwrap()).into_owned();
            let stderr = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
            panic!("kiln hung: killed after {limit:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}
