//! The base images a Dockerfile names, as the daemon and their registries
//! know them: whether the daemon's copy came from a registry or exists
//! only there (`kiln check`), and which manifest the registry serves now
//! (`--pull`'s change detection). The registry is asked through the
//! daemon (`GET /distribution/{name}/json`, a HEAD on the manifest with
//! the manifest media types in `Accept`, token auth when the registry asks
//! for it), so it is reached exactly as a pull would reach it: the
//! daemon's TLS settings, insecure registries and mirrors, with the user's
//! credentials (`credentials`).

use bollard::Docker;

use crate::config::{dockerfile_refs, split_tag, TagSet};
use crate::engine::credentials;
use crate::protocol::LocalBase;
use crate::sanitize::sanitize;

/// The images a build of `target` (None: the last stage) of `dockerfile`
/// builds on that kiln does not build itself (not one of `stack_tags`), in
/// order, without `scratch`.
pub fn external_bases(
    dockerfile: &str,
    args: &std::collections::BTreeMap<String, String>,
    target: Option<&str>,
    stack_tags: &TagSet,
) -> Vec<String> {
    dockerfile_refs(dockerfile, args, target)
        .into_iter()
        .filter(|r| !stack_tags.names(r))
        .collect()
}

/// What the daemon has of `reference`.
pub async fn local_state(docker: &Docker, reference: &str) -> LocalBase {
    match docker.inspect_image(reference).await {
        Ok(info) => {
            let digests = info.repo_digests.unwrap_or_default();
            match repo_digest(&digests, reference) {
                Some(digest) => LocalBase::FromRegistry { digest },
                None => LocalBase::OnlyLocal,
            }
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => LocalBase::Absent,
        Err(e) => LocalBase::Unknown(sanitize(&e.to_string()).into_owned()),
    }
}

/// The digest, among an image's `RepoDigests` (`repo@sha256:…`), of the
/// repository `reference` names.
pub fn repo_digest(repo_digests: &[String], reference: &str) -> Option<String> {
    let repo = repository(reference);
    repo_digests.iter().find_map(|rd| {
        let (r, digest) = rd.split_once('@')?;
        (repository(r) == repo).then(|| digest.to_string())
    })
}

/// `reference` without its tag or digest, with Docker Hub's implicit
/// `docker.io/library/` dropped: `localhost:5001/base`, `debian`.
fn repository(reference: &str) -> String {
    let r = reference.split('@').next().unwrap_or(reference);
    let (r, _) = split_tag(r);
    for prefix in [
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
    ] {
        if let Some(rest) = r.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    r.to_string()
}

/// Why the registry's digest of a base image is not known: what the
/// registry (through the daemon) said — no such image, credentials
/// refused, unreachable — and, when the user's credentials could not be
/// looked up (the registry was then asked without), why.
#[derive(Debug, thiserror::Error)]
#[error("{registry}{}", .credentials.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct RegistryError {
    pub registry: String,
    pub credentials: Option<CredentialsError>,
}

/// Why the user's credentials for a registry could not be looked up (the
/// registry is then asked without).
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The docker config file could not be read.
    #[error("registry credentials unavailable: {0}")]
    Config(#[from] credentials::ConfigJsonError),
    /// The config names a credential helper for the registry, which failed.
    #[error("no credentials for {registry}: {error}")]
    Helper {
        registry: String,
        error: credentials::HelperError,
    },
}

/// The digest of the manifest the registry serves for `reference` now.
pub async fn registry_digest(docker: &Docker, reference: &str) -> Result<String, RegistryError> {
    let (creds, credentials) = match registry_credentials(reference).await {
        Ok(creds) => (creds, None),
        Err(why) => (None, Some(why)),
    };
    // The daemon decodes X-Registry-Auth as url-safe base64.
    let docker = credentials::url_safe_registry_headers(docker.clone());
    let said = match docker.inspect_registry_image(reference, creds).await {
        Ok(found) => match found.descriptor.digest {
            Some(digest) if !digest.is_empty() => return Ok(digest),
            _ => "the registry answered without a digest".to_string(),
        },
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        }) => refusal(status_code, message),
        Err(e) => e.to_string(),
    };
    Err(RegistryError {
        registry: sanitize(&said).into_owned(),
        credentials,
    })
}

/// What the daemon's refusal of `/distribution/REF/json` means. A bare
/// `Not Found` is no registry's answer but the engine's: it has no such
/// endpoint (Podman 4.3's compatible API), so kiln cannot ask.
fn refusal(status_code: u16, message: String) -> String {
    if status_code == 404 && message.trim() == "Not Found" {
        "the engine cannot look up registries for kiln (it has no /distribution endpoint, as Podman has not): a base image that moved in its registry is not noticed (--force rebuilds)".into()
    } else {
        message
    }
}

/// The user's credentials for `reference`'s registry, or why they could
/// not be looked up.
async fn registry_credentials(
    reference: &str,
) -> Result<Option<bollard::auth::DockerCredentials>, CredentialsError> {
    let registry = credentials::registry_of(reference);
    let store = credentials::Store::from_env()?;
    match store.get(&registry).await {
        Ok(found) => Ok(found.map(|c| c.to_docker())),
        Err(error) => Err(CredentialsError::Helper { registry, error }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_and_their_digests() {
        let digests = vec![
            "127.0.0.1:5914/f14/base@sha256:aa".to_string(),
            "debian@sha256:bb".to_string(),
        ];
        assert_eq!(
            repo_digest(&digests, "127.0.0.1:5914/f14/base:1"),
            Some("sha256:aa".into())
        );
        assert_eq!(
            repo_digest(&digests, "docker.io/library/debian:12"),
            Some("sha256:bb".into())
        );
        assert_eq!(repo_digest(&digests, "localhost:5000/debian:12"), None);
        assert_eq!(repository("localhost:5001/base"), "localhost:5001/base");
        assert_eq!(repository("base@sha256:cc"), "base");
    }

    #[test]
    fn an_engine_without_registry_lookups_is_named() {
        // Podman 4.3.1's answer (recorded), and Docker's for a missing tag.
        assert!(refusal(404, "Not Found\n".into()).contains("no /distribution endpoint"));
        let docker = "manifest unknown: manifest unknown";
        assert_eq!(refusal(404, docker.into()), docker);
        assert_eq!(refusal(500, "Not Found".into()), "Not Found");
    }

    #[test]
    fn external_bases_leave_out_the_stacks_own_images() {
        let df = "FROM localhost:5001/debian:12 AS b\nFROM app-base\nCOPY --from=b /x /x\nFROM scratch\n";
        let stack = TagSet::new(&["app-base:latest".to_string()]);
        assert_eq!(
            external_bases(df, &Default::default(), None, &stack),
            vec!["localhost:5001/debian:12"]
        );
    }
}
