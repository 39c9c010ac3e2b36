//! The session's small services besides FileSync:
//!
//! * `moby.filesync.v1.Auth`: the daemon asks for the credentials of a
//!   registry it pulls a base image from. kiln answers from the credentials
//!   it found for the Dockerfile's registries (as the docker CLI finds
//!   them), and with nothing for any other registry. Token authority is
//!   declined (unavailable), so the daemon fetches tokens itself, as it
//!   does for the docker CLI of the same era.
//! * `grpc.health.v1.Health`: the daemon checks the session every second
//!   and drops it when a check fails.
//!
//! No secret is logged; the credentials only go back to the daemon.

use std::collections::HashMap;
use std::pin::Pin;

use bollard::auth::DockerCredentials;
use bollard_buildkit_proto::health::health_check_response::ServingStatus;
use bollard_buildkit_proto::health::health_server::Health;
use bollard_buildkit_proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use bollard_buildkit_proto::moby::filesync::v1::auth_server::Auth;
use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use tonic::{Request, Response, Status};

use crate::engine::credentials::normalize_registry;

/// Registry credentials by normalised registry name (`docker.io`,
/// `host:port`).
#[derive(Default)]
pub(crate) struct AuthService {
    by_registry: HashMap<String, DockerCredentials>,
}

impl AuthService {
    /// From credentials keyed by server address (as `build_image` takes them).
    pub fn new(creds: Option<HashMap<String, DockerCredentials>>) -> Self {
        let by_registry = creds
            .unwrap_or_default()
            .into_iter()
            .map(|(server, c)| (normalize_registry(&server), c))
            .collect();
        AuthService { by_registry }
    }

    /// What the docker CLI's auth provider answers: an identity token as
    /// the secret with no user name, else user name and password, else
    /// nothing (anonymous).
    fn credentials_for(&self, host: &str) -> CredentialsResponse {
        match self.by_registry.get(&normalize_registry(host)) {
            Some(DockerCredentials {
                identitytoken: Some(token),
                ..
            }) => CredentialsResponse {
                username: String::new(),
                secret: token.clone(),
            },
            Some(c) => CredentialsResponse {
                username: c.username.clone().unwrap_or_default(),
                secret: c.password.clone().unwrap_or_default(),
            },
            None => CredentialsResponse::default(),
        }
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn credentials(
        &self,
        request: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        Ok(Response::new(self.credentials_for(&request.get_ref().host)))
    }

    async fn fetch_token(
        &self,
        _request: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        // Only asked after a token authority was offered, which kiln never does.
        Err(Status::unimplemented("kiln does not fetch registry tokens"))
    }

    async fn get_token_authority(
        &self,
        _request: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unavailable("client-side authentication disabled"))
    }

    async fn verify_token_authority(
        &self,
        _request: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unavailable("client-side authentication disabled"))
    }
}

/// Always serving, for as long as the session runs.
pub(crate) struct HealthService;

type WatchStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("not served"))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        Err(Status::unimplemented("not served"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(user: &str, pass: &str, token: Option<&str>) -> DockerCredentials {
        DockerCredentials {
            username: Some(user.into()),
            password: Some(pass.into()),
            identitytoken: token.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn answers_by_registry_whatever_its_spelling() {
        let mut map = HashMap::new();
        map.insert("127.0.0.1:5000".to_string(), creds("u", "p", None));
        map.insert(
            "https://index.docker.io/v1/".to_string(),
            creds("hub", "x", Some("tok")),
        );
        let auth = AuthService::new(Some(map));
        let local = auth.credentials_for("127.0.0.1:5000");
        assert_eq!((local.username.as_str(), local.secret.as_str()), ("u", "p"));
        // The daemon asks for Docker Hub as registry-1.docker.io.
        let hub = auth.credentials_for("registry-1.docker.io");
        assert_eq!((hub.username.as_str(), hub.secret.as_str()), ("", "tok"));
        assert_eq!(
            auth.credentials_for("other:5000"),
            CredentialsResponse::default()
        );
    }
}
