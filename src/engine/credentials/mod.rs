//! Registry credentials, found the way the docker CLI finds them:
//! `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`), and for a
//! registry host `credHelpers[host]`, then `credsStore`, then `auths[host]`
//! (`auth` = base64 `user:pass`, or `username`/`password`, or
//! `identitytoken`). Helpers are run as `docker-credential-<name> get` with
//! the server address on stdin and `{ServerURL, Username, Secret}` on stdout.
//!
//! Secrets never leave this module except inside the `X-Registry-Auth` /
//! `X-Registry-Config` headers: `Credentials`' `Debug` redacts them and no
//! error message quotes them.
//!
//! Files: `config_file.rs` reads config.json (its errors name the key path,
//! never a value), `helper.rs` runs the helpers (in a process group killed
//! whole on timeout; their error text quoted only when safe).
//!
//! Failures are typed: [`ConfigJsonError`] (config.json unreadable or
//! invalid) and [`HelperError`], which names the helper and the server and
//! says which [`HelperFailure`] it was (not on PATH, could not run, timed
//! out, exited unsuccessfully, answered with something else). A helper's
//! "credentials not found" is no failure: the lookup finds nothing there.
//!
//! The daemon decodes those headers as base64**url**; bollard encodes them
//! with standard base64, so passwords whose JSON encodes to `+` or `/`
//! silently fail. [`auth_header`] encodes url-safe itself, and
//! [`url_safe_registry_headers`] fixes bollard's requests.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use bollard::auth::DockerCredentials;
use bollard::Docker;
use serde::Serialize;

use crate::engine::connect::{docker_config_dir, Env, ProcessEnv};

mod config_file;
mod helper;

use config_file::ConfigFile;
pub use config_file::{ConfigJsonError, KeyPath};
pub use helper::{HelperError, HelperFailure, HELPER_TIMEOUT};
use helper::{HelperReply, Runner};

/// What a finished helper's exit status and output mean: whether it gave
/// credentials, or how it failed (the failure's text is safe to show).
pub fn helper_gave_credentials(
    status: std::process::ExitStatus,
    stdout: &[u8],
    stderr: &[u8],
) -> Result<bool, HelperFailure> {
    helper::interpret(status, stdout, stderr).map(|reply| reply.is_some())
}

/// Docker Hub's registry host as kiln names it.
pub const DOCKER_HUB: &str = "docker.io";
/// …and the server address the docker CLI stores its credentials under.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// The registry host of an image reference: the part before the first `/`
/// when it looks like a host (has `.` or `:`, or is `localhost`), else
/// Docker Hub.
pub fn registry_of(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            normalize_registry(first)
        }
        _ => DOCKER_HUB.to_string(),
    }
}

/// One name per registry: Docker Hub's many spellings become `docker.io`;
/// other keys lose `https://`/`http://` and any path.
pub fn normalize_registry(key: &str) -> String {
    let k = key.trim();
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        _ => host,
    }
}

/// The server address helpers and `serveraddress` use for a registry host.
pub fn server_address(host: &str) -> String {
    if normalize_registry(host) == DOCKER_HUB {
        DOCKER_HUB_SERVER.to_string()
    } else {
        host.to_string()
    }
}

/// Where credentials came from (for messages; never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Helper(String),
    Store(String),
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Helper(h) => write!(f, "credential helper docker-credential-{h}"),
            Source::Store(h) => write!(f, "credential store docker-credential-{h}"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
    pub identity_token: Option<String>,
    pub server_address: String,
    pub source: Source,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("identity_token", &redact(&self.identity_token))
            .field("server_address", &self.server_address)
            .field("source", &self.source)
            .finish()
    }
}

impl Credentials {
    /// In bollard's shape (for `build_image`'s X-Registry-Config).
    pub fn to_docker(&self) -> DockerCredentials {
        DockerCredentials {
            username: self.username.clone(),
            password: self.password.clone(),
            identitytoken: self.identity_token.clone(),
            serveraddress: Some(self.server_address.clone()),
            ..Default::default()
        }
    }
}

/// The JSON the daemon expects in `X-Registry-Auth` (field order fixed).
#[derive(Serialize)]
struct AuthJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serveraddress: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identitytoken: Option<&'a str>,
}

/// The JSON inside the `X-Registry-Auth` header (`{}` without credentials).
pub fn auth_json(creds: Option<&Credentials>) -> String {
    let j = match creds {
        Some(c) => AuthJson {
            username: c.username.as_deref(),
            password: c.password.as_deref(),
            serveraddress: Some(&c.server_address),
            identitytoken: c.identity_token.as_deref(),
        },
        None => AuthJson {
            username: None,
            password: None,
            serveraddress: None,
            identitytoken: None,
        },
    };
    serde_json::to_string(&j).unwrap_or_else(|_| "{}".into())
}

/// The `X-Registry-Auth` header value: url-safe base64 of [`auth_json`].
pub fn auth_header(creds: Option<&Credentials>) -> String {
    URL_SAFE.encode(auth_json(creds))
}

/// Re-encode bollard's standard-base64 registry headers as url-safe base64,
/// which is what the daemon decodes. Values that are not standard base64
/// (already url-safe, say) are left alone.
pub fn reencode_registry_headers(mut req: bollard::BollardRequest) -> bollard::BollardRequest {
    for name in ["X-Registry-Auth", "X-Registry-Config"] {
        let Some(value) = req.headers().get(name) else {
            continue;
        };
        let Ok(decoded) = STANDARD.decode(value.as_bytes()) else {
            continue;
        };
        if let Ok(v) = http::HeaderValue::from_str(&URL_SAFE.encode(decoded)) {
            req.headers_mut().insert(name, v);
        }
    }
    req
}

/// `docker` with [`reencode_registry_headers`] applied to every request.
/// (A client has one request modifier: compose by calling
/// `reencode_registry_headers` inside another modifier instead.)
pub fn url_safe_registry_headers(docker: Docker) -> Docker {
    docker.with_request_modifier(reencode_registry_headers)
}

/// The docker CLI's credentials configuration, loaded once.
#[derive(Debug, Default)]
pub struct Store {
    /// The config.json read (or that would have been).
    pub path: Option<PathBuf>,
    file: ConfigFile,
    helpers: Runner,
}

impl Store {
    /// Read `config.json` from the docker config dir of `env`; a missing
    /// file is an empty store; an unreadable or invalid one is an error.
    pub fn load(env: &dyn Env) -> Result<Store, ConfigJsonError> {
        let Some(dir) = docker_config_dir(env) else {
            return Ok(Store::default());
        };
        Store::load_dir(&dir)
    }

    /// `Store::load` with the process environment.
    pub fn from_env() -> Result<Store, ConfigJsonError> {
        Store::load(&ProcessEnv)
    }

    pub fn load_dir(dir: &Path) -> Result<Store, ConfigJsonError> {
        let path = dir.join("config.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => Store::parse(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Store {
                path: Some(path),
                ..Store::default()
            }),
            Err(source) => Err(ConfigJsonError::Unreadable { path, source }),
        }
    }

    /// The store `text` describes, as if read from `path` (which errors
    /// name).
    pub fn parse(path: &Path, text: &str) -> Result<Store, ConfigJsonError> {
        Ok(Store {
            path: Some(path.to_path_buf()),
            file: ConfigFile::parse(path, text)?,
            ..Store::default()
        })
    }

    /// Look for credential helpers in `dir` first (tests).
    pub fn with_helper_dir(mut self, dir: PathBuf) -> Store {
        self.helpers.dir = Some(dir);
        self
    }

    /// Give helpers `limit` instead of [`HELPER_TIMEOUT`].
    #[cfg(test)]
    pub(crate) fn with_helper_timeout(mut self, limit: std::time::Duration) -> Store {
        self.helpers.limit = Some(limit);
        self
    }

    /// Credentials for `registry` (any spelling): `credHelpers`, then
    /// `credsStore`, then `auths`. `Ok(None)`: none configured. `Err`: a
    /// helper failed (the message names the helper, what happened and the
    /// registry).
    pub async fn get(&self, registry: &str) -> Result<Option<Credentials>, HelperError> {
        let host = normalize_registry(registry);
        let server = server_address(&host);
        let helper = self
            .file
            .cred_helpers
            .iter()
            .find(|(k, _)| normalize_registry(k) == host)
            .map(|(_, h)| h.clone());
        let mut store_error = None;
        if let Some(h) = helper {
            return self
                .helpers
                .ask(&h, &server)
                .await
                .map(|r| r.map(|r| from_helper(r, &server, Source::Helper(h.clone()))));
        }
        if let Some(h) = self.file.creds_store.clone().filter(|h| !h.is_empty()) {
            match self.helpers.ask(&h, &server).await {
                Ok(Some(r)) => return Ok(Some(from_helper(r, &server, Source::Store(h)))),
                Ok(None) => {}
                Err(e) => store_error = Some(e),
            }
        }
        if let Some(c) = self.file_entry(&host, &server) {
            return Ok(Some(c));
        }
        match store_error {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    fn file_entry(&self, host: &str, server: &str) -> Option<Credentials> {
        let entry = self
            .file
            .auths
            .iter()
            .filter(|(k, _)| normalize_registry(k) == host)
            // An exact key beats another spelling of the same registry.
            .min_by_key(|(k, _)| (k.as_str() != host && k.as_str() != server, k.as_str()))
            .map(|(_, e)| e)?;
        if entry.username.is_none() && entry.password.is_none() && entry.identitytoken.is_none() {
            return None; // e.g. `{}` left by a credsStore login
        }
        Some(Credentials {
            username: entry.username.clone(),
            password: entry.password.clone(),
            identity_token: entry.identitytoken.clone(),
            server_address: server.to_string(),
            source: Source::File(self.path.clone().unwrap_or_default()),
        })
    }

    /// Every registry config.json knows (auths and credHelpers keys), with
    /// its credentials, keyed as bollard's `build_image` wants them (for
    /// private base images; send them through [`url_safe_registry_headers`]).
    /// Registries whose lookup fails are left out.
    pub async fn all(&self) -> HashMap<String, DockerCredentials> {
        let hosts: BTreeSet<String> = self
            .file
            .auths
            .iter()
            .map(|(k, _)| k)
            .chain(self.file.cred_helpers.iter().map(|(k, _)| k))
            .map(|k| normalize_registry(k))
            .collect();
        let mut map = HashMap::new();
        for host in hosts {
            if let Ok(Some(c)) = self.get(&host).await {
                map.insert(server_address(&host), c.to_docker());
            }
        }
        map
    }
}

fn from_helper(r: HelperReply, server: &str, source: Source) -> Credentials {
    // The protocol's way to hand over an identity token.
    if r.username == "<token>" {
        Credentials {
            username: None,
            password: None,
            identity_token: Some(r.secret),
            server_address: server.to_string(),
            source,
        }
    } else {
        Credentials {
            username: Some(r.username),
            password: Some(r.secret),
            identity_token: None,
            server_address: server.to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    fn store(json: &str) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        let s = Store::load_dir(dir.path())
            .unwrap()
            .with_helper_dir(dir.path().to_path_buf());
        (dir, s)
    }

    /// A helper answering `user`/`secret` for `registry`, logging requests.
    fn helper(dir: &Path, name: &str, registry: &str, user: &str, secret: &str) {
        let path = dir.join(format!("docker-credential-{name}"));
        let log = dir.join(format!("{name}.log"));
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nread -r server\necho \"$1 $server\" >> '{}'\nif [ \"$server\" = '{registry}' ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn registry_hosts_and_normalisation() {
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(registry_of("library/busybox:1"), "docker.io");
        assert_eq!(registry_of("kiln/x:latest"), "docker.io");
        assert_eq!(registry_of("localhost/x"), "localhost");
        assert_eq!(registry_of("localhost:5001/kiln/x:1"), "localhost:5001");
        assert_eq!(registry_of("127.0.0.1:5001/x"), "127.0.0.1:5001");
        assert_eq!(registry_of("ghcr.io/o/x"), "ghcr.io");
        assert_eq!(registry_of("docker.io/o/x"), "docker.io");
        assert_eq!(registry_of("index.docker.io/o/x"), "docker.io");
        for k in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
            "http://docker.io",
        ] {
            assert_eq!(normalize_registry(k), "docker.io", "{k}");
        }
        assert_eq!(normalize_registry("https://ghcr.io/v2/"), "ghcr.io");
        assert_eq!(
            normalize_registry("http://127.0.0.1:5001"),
            "127.0.0.1:5001"
        );
        assert_eq!(server_address("docker.io"), DOCKER_HUB_SERVER);
        assert_eq!(server_address("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn auths_entries_in_all_their_shapes() {
        let auth = STANDARD.encode("alice:pa:ss");
        let (_d, s) = store(&format!(
            r#"{{"auths":{{
                "https://index.docker.io/v1/":{{"auth":"{auth}"}},
                "https://ghcr.io":{{"username":"bob","password":"pw"}},
                "quay.io":{{"identitytoken":"tok"}},
                "empty.example":{{}}
            }}}}"#
        ));
        let rt = rt();
        let hub = rt.block_on(s.get("registry-1.docker.io")).unwrap().unwrap();
        assert_eq!(hub.username.as_deref(), Some("alice"));
        assert_eq!(
            hub.password.as_deref(),
            Some("pa:ss"),
            "split at the first colon"
        );
        assert_eq!(hub.server_address, DOCKER_HUB_SERVER);
        let gh = rt.block_on(s.get("ghcr.io")).unwrap().unwrap();
        assert_eq!(
            (gh.username.as_deref(), gh.password.as_deref()),
            (Some("bob"), Some("pw"))
        );
        let q = rt.block_on(s.get("quay.io")).unwrap().unwrap();
        assert_eq!(q.identity_token.as_deref(), Some("tok"));
        assert_eq!(rt.block_on(s.get("empty.example")).unwrap(), None);
        assert_eq!(rt.block_on(s.get("other.example")).unwrap(), None);
        // Debug never shows a secret.
        let dbg = format!("{hub:?} {gh:?} {q:?}");
        assert!(
            !dbg.contains("pa:ss") && !dbg.contains("pw\"") && !dbg.contains("tok\""),
            "{dbg}"
        );
    }

    #[test]
    fn helpers_then_store_then_file() {
        let (dir, s) = store(
            r#"{"credHelpers":{"https://h.example/v2/":"one"},
                "credsStore":"two",
                "auths":{"h.example":{"username":"file","password":"f"},
                         "s.example":{"username":"file","password":"f"},
                         "f.example":{"username":"file","password":"f"}}}"#,
        );
        helper(dir.path(), "one", "h.example", "helper-user", "h-secret");
        helper(dir.path(), "two", "s.example", "store-user", "s-secret");
        let rt = rt();
        let h = rt.block_on(s.get("h.example")).unwrap().unwrap();
        assert_eq!(h.username.as_deref(), Some("helper-user"));
        assert_eq!(h.password.as_deref(), Some("h-secret"));
        assert_eq!(h.source, Source::Helper("one".into()));
        let st = rt.block_on(s.get("s.example")).unwrap().unwrap();
        assert_eq!(st.username.as_deref(), Some("store-user"));
        assert_eq!(st.source, Source::Store("two".into()));
        // The store has nothing for f.example: the file's entry is used.
        let f = rt.block_on(s.get("f.example")).unwrap().unwrap();
        assert_eq!(f.username.as_deref(), Some("file"));
        // The helper got the server address on stdin and `get` as argument.
        let log = std::fs::read_to_string(dir.path().join("two.log")).unwrap();
        assert!(
            log.contains("get s.example") && log.contains("get f.example"),
            "{log}"
        );
        let all = rt.block_on(s.all());
        assert_eq!(all["h.example"].username.as_deref(), Some("helper-user"));
        assert_eq!(all["f.example"].serveraddress.as_deref(), Some("f.example"));
    }

    /// A helper script `docker-credential-{name}` running `body`.
    fn script(dir: &Path, name: &str, body: &str) {
        let path = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_missing_or_failing_helper_is_an_error_naming_it() {
        let (dir, s) = store(r#"{"credHelpers":{"x.example":"nope"}}"#);
        let err = rt().block_on(s.get("x.example")).unwrap_err();
        assert!(matches!(err.failure, HelperFailure::NotOnPath), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("docker-credential-nope not found on PATH"),
            "{text}"
        );
        assert!(text.contains("x.example"), "{text}");
        script(dir.path(), "nope", "echo 'keychain locked' >&2\nexit 3");
        let err = rt().block_on(s.get("x.example")).unwrap_err();
        match &err.failure {
            HelperFailure::Exited { status, said } => {
                assert_eq!(status.code(), Some(3));
                assert_eq!(said.as_deref(), Some("keychain locked"));
            }
            other => panic!("expected Exited, got {other:?}"),
        }
        assert!(err.to_string().contains("keychain locked"), "{err}");
    }

    #[test]
    fn helper_failures_are_told_apart() {
        let (dir, s) = store(r#"{"credHelpers":{"x.example":"odd"}}"#);
        let s = s.with_helper_timeout(Duration::from_millis(300));
        let failure = |body: &str| {
            script(dir.path(), "odd", body);
            rt().block_on(s.get("x.example")).map(|c| c.is_some())
        };
        let err = failure("echo 'not json'").unwrap_err();
        assert!(
            matches!(err.failure, HelperFailure::NotCredentialsJson),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "docker-credential-odd answered with something that is not credentials JSON (registry x.example)"
        );
        // A JSON error text is never quoted: it could hold a secret.
        let err = failure("echo '{\"Secret\":\"s3\"}'; exit 1").unwrap_err();
        assert!(
            matches!(err.failure, HelperFailure::Exited { said: None, .. }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("s3"), "{err}");
        let err = failure("exec sleep 5").unwrap_err();
        assert!(matches!(err.failure, HelperFailure::TimedOut(_)), "{err:?}");
        // "No credentials" is an answer, not a failure.
        let found = failure("echo 'credentials not found in native keychain'; exit 1");
        assert!(!found.unwrap());
        let found = failure(r#"printf '{"ServerURL":"x","Username":"","Secret":""}'"#);
        assert!(!found.unwrap());
    }

    #[test]
    fn a_broken_config_json_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{not json").unwrap();
        let err = Store::load_dir(dir.path()).unwrap_err();
        assert!(matches!(err, ConfigJsonError::Syntax { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("config.json:1:2: not valid JSON: "), "{text}");
        std::fs::remove_file(dir.path().join("config.json")).unwrap();
        std::fs::create_dir(dir.path().join("config.json")).unwrap();
        let err = Store::load_dir(dir.path()).unwrap_err();
        assert!(matches!(err, ConfigJsonError::Unreadable { .. }), "{err:?}");
        assert!(err.to_string().starts_with("cannot read "), "{err}");
        std::fs::remove_dir(dir.path().join("config.json")).unwrap();
        assert!(
            Store::load_dir(dir.path()).is_ok(),
            "a missing file is empty"
        );
    }

    /// config.json loaded from `json`: the error text, or None.
    fn config_error(json: &str) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        Store::load_dir(dir.path()).err().map(|e| e.to_string())
    }

    #[test]
    fn config_json_errors_name_the_key_and_never_quote_a_value() {
        let cases = [
            (
                r#"{"auths": {"127.0.0.1:5630": "dTpwdw=="}}"#,
                r#"auths["127.0.0.1:5630"] must be an object"#,
                "dTpwdw==",
            ),
            (
                r#"{"auths": {"r.example": {"username": "u", "password": 12345678}}}"#,
                r#"auths["r.example"].password must be a string"#,
                "12345678",
            ),
            (
                r#"{"auths": {"r.example": {"auth": "not base64 at all!"}}}"#,
                r#"auths["r.example"].auth must be the base64 of USER:PASSWORD"#,
                "not base64",
            ),
            (
                // base64 of "nocolonhere": no USER:PASSWORD inside.
                r#"{"auths": {"r.example": {"auth": "bm9jb2xvbmhlcmU="}}}"#,
                r#"auths["r.example"].auth must be the base64 of USER:PASSWORD"#,
                "bm9jb2xvbmhlcmU",
            ),
            (
                r#"{"credsStore": 42424242}"#,
                "credsStore must be a string",
                "42424242",
            ),
            (
                r#"{"credHelpers": {"r.example": ["hunter22"]}}"#,
                r#"credHelpers["r.example"] must be a string"#,
                "hunter22",
            ),
            (
                r#"{"auths": "s3cr3t-value"}"#,
                "auths must be an object",
                "s3cr3t-value",
            ),
            (r#"["tok3n-value"]"#, "must be a JSON object", "tok3n"),
            (
                r#"{"auths": {"r": {"password": "s3cr3t-pw"}} trailing"#,
                "config.json:1:",
                "s3cr3t-pw",
            ),
            (
                r#"{"auths": {"r": {"password": "s3cr3t-pw"}}}"#,
                "",
                "s3cr3t-pw",
            ),
        ];
        for (json, says, secret) in cases {
            let Some(err) = config_error(json) else {
                if says.is_empty() {
                    continue; // a valid file (the escape is data)
                }
                panic!("{json} loaded without an error");
            };
            assert!(err.contains("config.json"), "names the file: {err}");
            assert!(err.contains(says), "{json}: {err}");
            assert!(!err.contains(secret), "quotes a value: {err}");
        }
    }

    #[test]
    fn helper_messages_say_what_happened() {
        let (dir, s) = store(r#"{"credHelpers":{"x.example":"odd"}}"#);
        let s = s.with_helper_timeout(Duration::from_millis(300));
        let said = |body: &str| {
            script(dir.path(), "odd", body);
            rt().block_on(s.get("x.example")).unwrap_err().to_string()
        };
        assert_eq!(
            said("echo 'keychain locked' >&2; exit 1"),
            "docker-credential-odd exited 1: keychain locked (registry x.example)"
        );
        assert_eq!(
            said("exec sleep 5"),
            "docker-credential-odd timed out after 300ms (registry x.example)"
        );
        // Escapes are removed; anything that looks like a token is masked.
        let text = said(
            "printf 'bad \\033]52;c;ZXZpbA==\\007token ghp_A1b2C3d4E5f6G7h8I9j0K1 for user\\n' >&2; exit 1",
        );
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
        assert!(!text.contains("ghp_A1b2C3d4E5f6G7h8I9j0K1"), "{text}");
        assert!(text.contains("exited 1: bad"), "{text}");
        let (_d, missing) = store(r#"{"credHelpers":{"x.example":"absent"}}"#);
        let text = rt()
            .block_on(missing.get("x.example"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            text,
            "docker-credential-absent not found on PATH (registry x.example)"
        );
    }

    #[test]
    fn a_helper_that_times_out_is_killed_with_its_children() {
        let (dir, s) = store(r#"{"credHelpers":{"x.example":"slow"}}"#);
        let s = s.with_helper_timeout(Duration::from_millis(500));
        let pids = dir.path().join("pids");
        script(
            dir.path(),
            "slow",
            &format!("sleep 60 &\necho $! > '{}'\nwait", pids.display()),
        );
        let err = rt().block_on(s.get("x.example")).unwrap_err();
        assert!(matches!(err.failure, HelperFailure::TimedOut(_)), "{err:?}");
        let pid = std::fs::read_to_string(&pids).unwrap();
        let pid = pid.trim();
        // Gone, or a zombie waiting for its new parent to reap it.
        let gone = || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z'),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !gone() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(gone(), "the helper's child {pid} was left running");
    }

    #[test]
    fn identity_tokens_from_helpers() {
        let (dir, s) = store(r#"{"credsStore":"tok"}"#);
        helper(dir.path(), "tok", DOCKER_HUB_SERVER, "<token>", "idtok");
        let c = rt().block_on(s.get("docker.io")).unwrap().unwrap();
        assert_eq!(c.identity_token.as_deref(), Some("idtok"));
        assert_eq!(c.username, None);
        assert_eq!(
            auth_json(Some(&c)),
            r#"{"serveraddress":"https://index.docker.io/v1/","identitytoken":"idtok"}"#
        );
    }

    #[test]
    fn header_is_url_safe_base64() {
        let c = Credentials {
            username: Some("kiln".into()),
            password: Some("??>>".into()),
            identity_token: None,
            server_address: "r:5000".into(),
            source: Source::File(PathBuf::new()),
        };
        let json = auth_json(Some(&c));
        assert_eq!(
            json,
            r#"{"username":"kiln","password":"??>>","serveraddress":"r:5000"}"#
        );
        assert_ne!(STANDARD.encode(&json), URL_SAFE.encode(&json));
        assert_eq!(auth_header(Some(&c)), URL_SAFE.encode(&json));
        assert_eq!(auth_header(None), URL_SAFE.encode("{}"));
    }

    #[test]
    fn bollard_headers_are_reencoded_url_safe() {
        let json = r#"{"r:5000":{"username":"kiln","password":"??>>"}}"#;
        let standard = STANDARD.encode(json);
        assert!(standard.contains('/') || standard.contains('+'));
        let req = http::Request::builder()
            .uri("/build")
            .header("X-Registry-Config", &standard)
            .header("X-Registry-Auth", STANDARD.encode("{}"))
            .header("X-Other", "a+b/")
            .body(bollard::body_full(bytes::Bytes::new()))
            .unwrap();
        let req = reencode_registry_headers(req);
        let h = |n: &str| req.headers()[n].to_str().unwrap().to_string();
        assert_eq!(h("X-Registry-Config"), URL_SAFE.encode(json));
        assert_eq!(
            URL_SAFE.decode(h("X-Registry-Config")).unwrap(),
            json.as_bytes()
        );
        assert_eq!(h("X-Registry-Auth"), URL_SAFE.encode("{}"));
        assert_eq!(h("X-Other"), "a+b/", "other headers untouched");
        // Already url-safe (not standard base64): left alone.
        let safe = URL_SAFE.encode(json);
        let req = http::Request::builder()
            .header("X-Registry-Config", &safe)
            .body(bollard::body_full(bytes::Bytes::new()))
            .unwrap();
        assert_eq!(
            reencode_registry_headers(req).headers()["X-Registry-Config"],
            safe.as_str()
        );
    }
}
