//! The stdio transport: client bytes go through [`crate::framing::Reader`] and only checked
//! messages reach tower-lsp (over an in-memory pipe); tower-lsp's output and the error replies
//! reach stdout through one writer, whole messages at a time. `exit` ends the server at once
//! (exit code 0 after `shutdown`, 1 without, as LSP says).

use crate::framing::{self, Framer, Incoming, Reader};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tower_lsp::Server;

/// Capacity of the in-memory pipes to and from tower-lsp.
const PIPE: usize = 64 * 1024;
/// How long, after `exit` or end of input, tower-lsp and the writer get to finish.
const GRACE: Duration = Duration::from_secs(2);

/// How the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `exit`; `shutdown` came first or not.
    Exit { after_shutdown: bool },
    /// The client closed its end (or reading failed).
    InputClosed,
}

impl End {
    /// The process exit code: 1 only for `exit` without `shutdown`.
    pub fn code(self) -> u8 {
        match self {
            End::Exit {
                after_shutdown: false,
            } => 1,
            _ => 0,
        }
    }
}

/// Serves LSP on stdin/stdout until `exit` or the end of stdin.
pub async fn run_stdio() -> End {
    serve(tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serves LSP on any byte streams (stdio, or pipes in tests).
pub async fn serve(
    mut input: impl AsyncRead + Unpin,
    output: impl AsyncWrite + Unpin + Send + 'static,
) -> End {
    let (service, socket) = super::service();
    let (mut to_server, server_in) = tokio::io::duplex(PIPE);
    let (server_out, from_server) = tokio::io::duplex(PIPE);
    let server = tokio::spawn(Server::new(server_in, server_out, socket).serve(service));
    let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(write_all(out_rx, output));
    let relay = tokio::spawn(relay(from_server, out_tx.clone()));

    let mut reader = Reader::default();
    let mut after_shutdown = false;
    let mut chunk = vec![0u8; PIPE];
    let end = 'read: loop {
        let n = match input.read(&mut chunk).await {
            Ok(0) => break End::InputClosed,
            Ok(n) => n,
            Err(e) => {
                tracing::error!("reading stdin: {e}");
                break End::InputClosed;
            }
        };
        reader.push(&chunk[..n]);
        for incoming in reader.by_ref() {
            match incoming {
                Incoming::Message(m) => {
                    let method = m.method.as_deref();
                    if method == Some("shutdown") && m.is_request {
                        after_shutdown = true;
                    }
                    if let Err(e) = to_server
                        .write_all(&framing::frame(m.body.as_bytes()))
                        .await
                    {
                        tracing::error!("the server stopped reading: {e}");
                        break 'read End::InputClosed;
                    }
                    if method == Some("exit") {
                        break 'read End::Exit { after_shutdown };
                    }
                }
                Incoming::Rejected(r) => {
                    let answered = if r.reply.is_some() {
                        ""
                    } else {
                        " (not answered)"
                    };
                    tracing::warn!("bad message from the client{answered}: {}", r.why);
                    if let Some(reply) = r.reply {
                        if out_tx.send(reply).await.is_err() {
                            break 'read End::InputClosed;
                        }
                    }
                }
            }
        }
    };
    if let End::Exit { after_shutdown } = end {
        tracing::info!("exit (after shutdown: {after_shutdown})");
    } else {
        tracing::info!("stdin closed, stopping");
    }

    // tower-lsp stops at the end of its input; its output then ends, and the writer with it.
    drop(to_server);
    drop(out_tx);
    if tokio::time::timeout(GRACE, server).await.is_err() {
        tracing::warn!("the server did not stop in time");
    }
    if tokio::time::timeout(GRACE, relay).await.is_err() {
        tracing::warn!("the server's output did not end in time");
    }
    if tokio::time::timeout(GRACE, writer).await.is_err() {
        tracing::warn!("stdout did not take the last messages in time");
    }
    end
}

/// Copies tower-lsp's output to the writer, one whole message at a time.
async fn relay(mut from_server: DuplexStream, out: mpsc::Sender<Vec<u8>>) {
    let mut framer = Framer::new(usize::MAX);
    let mut chunk = vec![0u8; PIPE];
    loop {
        match from_server.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => framer.push(&chunk[..n]),
        }
        while let Some(frame) = framer.next_frame() {
            match frame {
                Ok(body) => {
                    if out.send(framing::frame(&body)).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::error!("unreadable output from tower-lsp: {e}"),
            }
        }
    }
}

/// The only writer of stdout.
async fn write_all(mut rx: mpsc::Receiver<Vec<u8>>, mut output: impl AsyncWrite + Unpin) {
    while let Some(message) = rx.recv().await {
        let written = async {
            output.write_all(&message).await?;
            output.flush().await
        };
        if let Err(e) = written.await {
            tracing::error!("writing stdout: {e}");
            return;
        }
    }
}
