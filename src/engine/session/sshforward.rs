//! `moby.sshforward.v1.SSH`: SSH agents for `RUN --mount=type=ssh`, as
//! the docker CLI serves `--ssh` (BuildKit's `sshprovider`). The daemon
//! first checks that an id is served (`CheckAgent`), then opens a stream
//! per connection a build step makes to its agent socket
//! (`ForwardAgent`, the id in the `buildkit.ssh.id` header), and kiln
//! connects it to the agent's socket: the user's (`$SSH_AUTH_SOCK`), a
//! socket named in `paths`, or an agent of kiln's own holding key files
//! (`keyagent.rs`).
//!
//! As the docker CLI's agent does, the build may only list the keys and
//! have them sign: every other request (adding, removing, locking,
//! extensions) is answered `SSH_AGENT_FAILURE` without reaching the
//! agent. kiln reads the agent protocol's framing for that (a 4-byte
//! length, then the message, its first byte the type) and passes the
//! allowed messages and their answers through unchanged.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard_buildkit_proto::moby::sshforward::v1::ssh_server::Ssh;
use bollard_buildkit_proto::moby::sshforward::v1::{
    BytesMessage, CheckAgentRequest, CheckAgentResponse,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::config::DEFAULT_SSH_ID;

/// The header naming the id of a `ForwardAgent` stream.
const ID_HEADER: &str = "buildkit.ssh.id";

/// OpenSSH's limit on an agent message (`AGENT_MAX_LEN`).
const MAX_MESSAGE: usize = 256 * 1024;

const SSH_AGENT_FAILURE: u8 = 5;
const SSH_AGENTC_REQUEST_IDENTITIES: u8 = 11;
const SSH_AGENTC_SIGN_REQUEST: u8 = 13;

/// The agent socket of each SSH id.
#[derive(Default)]
pub(crate) struct SshService {
    by_id: HashMap<String, PathBuf>,
}

impl SshService {
    pub fn new(by_id: HashMap<String, PathBuf>) -> Self {
        SshService { by_id }
    }

    fn socket(&self, id: &str) -> Result<&PathBuf, Status> {
        let id = if id.is_empty() { DEFAULT_SSH_ID } else { id };
        self.by_id.get(id).ok_or_else(|| {
            Status::not_found(format!(
                "kiln forwards no SSH agent '{id}' for this build: add it to the image's ssh"
            ))
        })
    }
}

#[tonic::async_trait]
impl Ssh for SshService {
    async fn check_agent(
        &self,
        request: Request<CheckAgentRequest>,
    ) -> Result<Response<CheckAgentResponse>, Status> {
        self.socket(&request.get_ref().id)?;
        Ok(Response::new(CheckAgentResponse {}))
    }

    type ForwardAgentStream = ReceiverStream<Result<BytesMessage, Status>>;

    async fn forward_agent(
        &self,
        request: Request<Streaming<BytesMessage>>,
    ) -> Result<Response<Self::ForwardAgentStream>, Status> {
        let id = request
            .metadata()
            .get(ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let socket = self.socket(&id)?;
        let agent = UnixStream::connect(socket).await.map_err(|e| {
            Status::unavailable(format!(
                "cannot reach the SSH agent at {}: {e}",
                socket.display()
            ))
        })?;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(relay(request.into_inner(), agent, tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Passes the build's requests to the agent one by one (the protocol is
/// a request, then its answer), answering the ones a build may not make
/// itself; ends when either side does.
async fn relay(
    mut from_build: Streaming<BytesMessage>,
    mut agent: UnixStream,
    to_build: mpsc::Sender<Result<BytesMessage, Status>>,
) {
    let mut frames = Frames::default();
    while let Ok(Some(msg)) = from_build.message().await {
        frames.push(&msg.data);
        loop {
            let request = match frames.next() {
                Ok(Some(request)) => request,
                Ok(None) => break,
                // Not the agent protocol: the connection ends.
                Err(()) => return,
            };
            let answer = if allowed(&request) {
                match ask(&mut agent, &request).await {
                    Ok(answer) => answer,
                    Err(_) => return,
                }
            } else {
                vec![0, 0, 0, 1, SSH_AGENT_FAILURE]
            };
            if to_build
                .send(Ok(BytesMessage { data: answer }))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// Whether a build may make this request: list the keys, or sign.
fn allowed(request: &[u8]) -> bool {
    matches!(
        request.get(4),
        Some(&(SSH_AGENTC_REQUEST_IDENTITIES | SSH_AGENTC_SIGN_REQUEST))
    )
}

/// Sends one request to the agent and reads its one answer (whole, with
/// its length).
async fn ask(agent: &mut UnixStream, request: &[u8]) -> std::io::Result<Vec<u8>> {
    agent.write_all(request).await?;
    let mut head = [0u8; 4];
    agent.read_exact(&mut head).await?;
    let len = u32::from_be_bytes(head) as usize;
    if len > MAX_MESSAGE {
        return Err(std::io::Error::other("agent answer too long"));
    }
    let mut answer = vec![0u8; 4 + len];
    answer[..4].copy_from_slice(&head);
    agent.read_exact(&mut answer[4..]).await?;
    Ok(answer)
}

/// Agent messages as they arrive in pieces: a 4-byte big-endian length,
/// then that many bytes.
#[derive(Default)]
struct Frames {
    buf: Vec<u8>,
}

impl Frames {
    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole message (with its length), `None` until one has
    /// arrived, an error for an empty or overlong one.
    fn next(&mut self) -> Result<Option<Vec<u8>>, ()> {
        let Some(head) = self.buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*head) as usize;
        if len == 0 || len > MAX_MESSAGE {
            return Err(());
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        Ok(Some(self.buf.drain(..4 + len).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = ((body.len() + 1) as u32).to_be_bytes().to_vec();
        m.push(kind);
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn messages_are_framed_whatever_the_pieces() {
        let mut frames = Frames::default();
        let a = message(SSH_AGENTC_REQUEST_IDENTITIES, b"");
        let b = message(SSH_AGENTC_SIGN_REQUEST, b"key and data");
        let all: Vec<u8> = a.iter().chain(&b).copied().collect();
        let (first, rest) = all.split_at(3);
        frames.push(first);
        assert_eq!(frames.next(), Ok(None));
        frames.push(rest);
        assert_eq!(frames.next(), Ok(Some(a)));
        assert_eq!(frames.next(), Ok(Some(b)));
        assert_eq!(frames.next(), Ok(None));
        frames.push(&[0, 0xff, 0, 0, 1]);
        assert_eq!(frames.next(), Err(()));
    }

    #[tokio::test]
    async fn a_request_gets_the_agent_s_whole_answer() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        let made = std::process::Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "kiln-relay-key",
                "-f",
            ])
            .arg(&key)
            .status()
            .unwrap();
        assert!(made.success());
        let agent = super::super::keyagent::KeyAgent::start(
            "k",
            std::slice::from_ref(&key),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
        let mut conn = UnixStream::connect(agent.socket()).await.unwrap();
        let answer = ask(&mut conn, &message(SSH_AGENTC_REQUEST_IDENTITIES, b""))
            .await
            .unwrap();
        // SSH_AGENT_IDENTITIES_ANSWER, one key, its comment last.
        assert_eq!(answer[4], 12);
        assert_eq!(&answer[5..9], &[0, 0, 0, 1]);
        assert!(answer.ends_with(b"kiln-relay-key"));
        let len = u32::from_be_bytes(answer[..4].try_into().unwrap()) as usize;
        assert_eq!(answer.len(), 4 + len);
    }

    #[test]
    fn a_build_may_list_keys_and_sign_only() {
        assert!(allowed(&message(SSH_AGENTC_REQUEST_IDENTITIES, b"")));
        assert!(allowed(&message(SSH_AGENTC_SIGN_REQUEST, b"x")));
        // Add identity (17), remove all (19), lock (22), extension (27).
        for kind in [17, 19, 22, 27] {
            assert!(!allowed(&message(kind, b"x")), "{kind}");
        }
    }
}
