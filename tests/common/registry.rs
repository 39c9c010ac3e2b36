//! A throwaway Docker registry for push tests: Debian's `docker-registry`
//! on a free 127.0.0.1 port (the daemon allows plain HTTP to 127.0.0.0/8),
//! optionally behind htpasswd auth, storage in a temp dir, killed on Drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `(status, headers with lowercased names, body)`.
pub type Response = (u16, Vec<(String, String)>, Vec<u8>);

pub struct Registry {
    pub port: u16,
    /// `127.0.0.1:PORT`
    pub host: String,
    /// The password of `with_auth*` registries.
    pub password: Option<String>,
    child: Option<Child>,
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// An open registry.
    pub fn start() -> Registry {
        Registry::launch(None::<(&str, fn(&str) -> String)>)
    }

    /// A registry that wants `user`/`password` (bcrypt htpasswd).
    pub fn with_auth(user: &str, password: &str) -> Registry {
        Registry::launch(Some((user, |_: &str| password.to_string())))
    }

    /// Like `with_auth`, the password chosen knowing the registry's host
    /// (`127.0.0.1:PORT`).
    pub fn with_auth_for(user: &str, choose: impl FnOnce(&str) -> String) -> Registry {
        Registry::launch(Some((user, choose)))
    }

    fn launch(auth: Option<(&str, impl FnOnce(&str) -> String)>) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut password = None;
        let mut yaml = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n",
            dir.path().join("data").display()
        );
        if let Some((user, choose)) = auth {
            let pw = choose(&host);
            let htpasswd = dir.path().join("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, &pw])
                .output()
                .expect("run htpasswd (apache2-utils; run scripts/setup)");
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(&htpasswd, &out.stdout).unwrap();
            yaml.push_str(&format!(
                "auth: {{htpasswd: {{realm: kiln, path: {}}}}}\n",
                htpasswd.display()
            ));
            password = Some(pw);
        }
        let config = dir.path().join("config.yml");
        std::fs::write(&config, yaml).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry (run scripts/setup)");
        let reg = Registry {
            port,
            host,
            password,
            child: Some(child),
            dir,
        };
        let start = Instant::now();
        while reg.get("/v2/", &[]).is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "registry on port {port} did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        reg
    }

    /// Stop it now (e.g. in the middle of a push).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A plain HTTP/1.1 GET; `(status, headers lowercased, body)`.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Option<Response> {
        http_get(&self.host, path, headers)
    }

    /// The registry's `Docker-Content-Digest` of `name:tag`'s schema 2 manifest.
    pub fn manifest_digest(&self, name: &str, tag: &str) -> Option<String> {
        let (status, headers, _) = self.get(
            &format!("/v2/{name}/manifests/{tag}"),
            &[(
                "Accept",
                "application/vnd.docker.distribution.manifest.v2+json",
            )],
        )?;
        if status != 200 {
            return None;
        }
        headers
            .into_iter()
            .find(|(k, _)| k == "docker-content-digest")
            .map(|(_, v)| v)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

fn http_get(host: &str, path: &str, headers: &[(&str, &str)]) -> Option<Response> {
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let body = buf[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((status, headers, body))
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(p);
                }
            }
        }
    }
    found
}
