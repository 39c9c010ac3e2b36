//! Which engine the daemon is, from its `/version`: Docker Engine (any
//! version) or Podman behind its Docker-compatible API, whose builds are
//! buildah's (no BuildKit session, its own build output). What `kiln check`
//! and the dashboard's status bar name, and what decides `builder: auto`.

use bollard::models::SystemVersion;
use bollard::Docker;

use super::connect::PING_TIMEOUT;

/// The engine behind the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    pub product: Product,
    /// The engine's own version (`26.1.5`, Podman's `4.3.1`).
    pub version: String,
    /// The Docker API version it serves (Podman: its compatible API's).
    pub api_version: String,
    /// It runs BuildKit builds through the API (a Linux Docker Engine of
    /// API 1.39 or later).
    pub buildkit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    Docker,
    /// Podman's service (`podman system service`): its builds are buildah's.
    Podman,
}

impl EngineInfo {
    /// What `/version` says: Podman lists a "Podman Engine" component.
    pub fn from_version(v: &SystemVersion) -> EngineInfo {
        let podman = v
            .components
            .iter()
            .flatten()
            .find(|c| c.name.eq_ignore_ascii_case("Podman Engine"));
        let api_version = v.api_version.clone().unwrap_or_else(|| "?".into());
        match podman {
            Some(c) => EngineInfo {
                product: Product::Podman,
                version: c.version.clone(),
                api_version,
                buildkit: false,
            },
            None => {
                let linux =
                    v.os.as_deref()
                        .is_none_or(|os| os.eq_ignore_ascii_case("linux"));
                EngineInfo {
                    product: Product::Docker,
                    version: v.version.clone().unwrap_or_else(|| "?".into()),
                    buildkit: linux && api_at_least(&api_version, (1, 39)),
                    api_version,
                }
            }
        }
    }

    /// `Docker Engine 26.1.5 (API 1.45)`, `Podman 4.3.1 (Docker API 1.41)`.
    pub fn name(&self) -> String {
        match self.product {
            Product::Docker => format!("Docker Engine {} (API {})", self.version, self.api_version),
            Product::Podman => format!("Podman {} (Docker API {})", self.version, self.api_version),
        }
    }

    /// Every build on this engine is buildah's.
    pub fn builds_with_buildah(&self) -> bool {
        self.product == Product::Podman
    }
}

fn api_at_least(api: &str, min: (u32, u32)) -> bool {
    api.split_once('.')
        .and_then(|(maj, min)| Some((maj.parse::<u32>().ok()?, min.parse::<u32>().ok()?)))
        .is_some_and(|v| v >= min)
}

/// Ask the daemon what it is; None when `/version` does not answer in time.
pub async fn identify(docker: &Docker) -> Option<EngineInfo> {
    match tokio::time::timeout(PING_TIMEOUT, docker.version()).await {
        Ok(Ok(v)) => Some(EngineInfo::from_version(&v)),
        _ => None,
    }
}

/// One line naming the daemon for the dashboard's status bar: endpoint,
/// engine and API version, and the builder(s) in use.
pub fn describe(host: &str, engine: Option<&EngineInfo>, builder: &str) -> String {
    let engine = engine.map_or_else(|| "engine ?".to_string(), EngineInfo::name);
    format!("{host} · {engine} · {builder}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::SystemVersionComponents;

    fn version(json: &str) -> SystemVersion {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn docker_engines_by_version_and_api() {
        let old = version(
            r#"{"Version":"20.10.24+dfsg1","ApiVersion":"1.41","Os":"linux","Components":[{"Name":"Engine","Version":"20.10.24+dfsg1"}]}"#,
        );
        let e = EngineInfo::from_version(&old);
        assert_eq!(e.name(), "Docker Engine 20.10.24+dfsg1 (API 1.41)");
        assert!(e.buildkit && !e.builds_with_buildah());
        let new = version(r#"{"Version":"26.1.5","ApiVersion":"1.45","Os":"linux"}"#);
        assert_eq!(
            EngineInfo::from_version(&new).name(),
            "Docker Engine 26.1.5 (API 1.45)"
        );
        let ancient = version(r#"{"Version":"18.03.1","ApiVersion":"1.37","Os":"linux"}"#);
        assert!(!EngineInfo::from_version(&ancient).buildkit);
        let windows = version(r#"{"Version":"26.1.5","ApiVersion":"1.45","Os":"windows"}"#);
        assert!(!EngineInfo::from_version(&windows).buildkit);
    }

    /// Podman 4.3.1's `/version`, as its service answers it (recorded).
    #[test]
    fn podman_by_its_engine_component() {
        let v = version(
            r#"{"Platform":{"Name":"linux/amd64/debian-12"},"Components":[{"Name":"Podman Engine","Version":"4.3.1","Details":{"APIVersion":"4.3.1","MinAPIVersion":"4.0.0","Os":"linux"}},{"Name":"Conmon","Version":"conmon version 2.1.6, commit: unknown","Details":{"Package":"conmon_2.1.6+ds1-1_amd64"}}],"Version":"4.3.1","ApiVersion":"1.41","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64"}"#,
        );
        let e = EngineInfo::from_version(&v);
        assert_eq!(e.product, Product::Podman);
        assert_eq!(e.name(), "Podman 4.3.1 (Docker API 1.41)");
        // API 1.41 on Linux, yet no BuildKit: Podman builds with buildah.
        assert!(!e.buildkit && e.builds_with_buildah());
        let mut other = v.clone();
        other.components = Some(vec![SystemVersionComponents {
            name: "Engine".into(),
            version: "4.3.1".into(),
            details: None,
        }]);
        assert_eq!(EngineInfo::from_version(&other).product, Product::Docker);
    }

    #[test]
    fn the_status_bar_line() {
        let e = EngineInfo {
            product: Product::Podman,
            version: "4.3.1".into(),
            api_version: "1.41".into(),
            buildkit: false,
        };
        assert_eq!(
            describe("unix:///run/p.sock", Some(&e), "buildah"),
            "unix:///run/p.sock · Podman 4.3.1 (Docker API 1.41) · buildah"
        );
        assert_eq!(
            describe("unix:///x", None, "legacy"),
            "unix:///x · engine ? · legacy"
        );
    }
}
