//! `moby.buildkit.secrets.v1.Secrets`: the daemon asks for a build
//! secret by id when a `RUN --mount=type=secret,id=ID` step runs, as it
//! asks the docker CLI for `--secret id=ID,src=FILE|env=VAR`
//! (BuildKit's `secretsprovider`): a file is read then, not before; an
//! `env:` secret's value was taken when the stack loaded
//! (`config::SecretValue`). An id kiln was not given is `NotFound`, which
//! the daemon treats as "no such secret" (a mount that is not
//! `required=true` is then left out).
//!
//! The content goes only into the answer to the daemon: no message,
//! log line or error here holds it (errors name the id and the file).

use std::collections::HashMap;

use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::Secrets;
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use tokio::io::AsyncReadExt;
use tonic::{Request, Response, Status};
use zeroize::Zeroizing;

use crate::config::{BuildSecret, SecretSource, MAX_SECRET_SIZE};

/// The image's secrets, by id.
#[derive(Default)]
pub(crate) struct SecretsService {
    by_id: HashMap<String, SecretSource>,
}

impl SecretsService {
    pub fn new(secrets: &[BuildSecret]) -> Self {
        let by_id = secrets
            .iter()
            .map(|s| (s.id.clone(), s.source.clone()))
            .collect();
        SecretsService { by_id }
    }

    /// The content of secret `id`, or why there is none.
    async fn content(&self, id: &str) -> Result<Vec<u8>, Status> {
        match self.by_id.get(id) {
            None => Err(Status::not_found(format!(
                "kiln has no secret '{id}' for this build: add it to the image's secrets"
            ))),
            Some(SecretSource::Env { value, .. }) => Ok(value.expose().to_vec()),
            Some(SecretSource::File(path)) => read_limited(path).await.map_err(|e| {
                Status::failed_precondition(format!(
                    "cannot read the file of secret '{id}' ({}): {e}",
                    path.display()
                ))
            }),
        }
    }
}

/// A secret's file, up to BuildKit's limit (one byte more is an error),
/// read into a buffer that is zeroed if it is refused.
async fn read_limited(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let file = tokio::fs::File::open(path).await?;
    let mut data = Zeroizing::new(Vec::new());
    file.take(MAX_SECRET_SIZE + 1)
        .read_to_end(&mut data)
        .await?;
    if data.len() as u64 > MAX_SECRET_SIZE {
        return Err(std::io::Error::other(format!(
            "larger than BuildKit's limit for a secret ({} KiB)",
            MAX_SECRET_SIZE / 1024
        )));
    }
    Ok(std::mem::take(&mut *data))
}

#[tonic::async_trait]
impl Secrets for SecretsService {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let data = self.content(&request.get_ref().id).await?;
        Ok(Response::new(GetSecretResponse { data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretValue;

    #[tokio::test]
    async fn answers_by_id_from_the_file_or_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tok");
        std::fs::write(&file, "from-file").unwrap();
        let service = SecretsService::new(&[
            BuildSecret {
                id: "f".into(),
                source: SecretSource::File(file.clone()),
            },
            BuildSecret {
                id: "e".into(),
                source: SecretSource::Env {
                    var: "TOKEN".into(),
                    value: SecretValue::new(b"from-env".to_vec()),
                },
            },
        ]);
        assert_eq!(service.content("f").await.unwrap(), b"from-file");
        assert_eq!(service.content("e").await.unwrap(), b"from-env");
        let missing = service.content("x").await.unwrap_err();
        assert_eq!(missing.code(), tonic::Code::NotFound);
        // Changed since the stack loaded: read when asked.
        std::fs::write(&file, vec![b'x'; MAX_SECRET_SIZE as usize + 1]).unwrap();
        let big = service.content("f").await.unwrap_err();
        assert!(big.message().contains("500 KiB"), "{}", big.message());
        assert!(!big.message().contains("xxx"));
    }
}
