//! Hijacked connections: `attach` and `exec start` turn the HTTP connection into a raw
//! bidirectional stream (HTTP 101 `Upgrade: tcp`) that we splice to the shim's stream.
//!
//! The shim already frames output (Docker's multiplexed format without a TTY), so berthd only
//! copies bytes, watching client input for the detach key sequence.

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::qbool;
use crate::containers::PendingAttach;
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

/// Query of attach.
#[derive(Debug, Deserialize, Default)]
pub struct AttachQuery {
    stream: Option<String>,
    stdin: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    logs: Option<String>,
    #[serde(rename = "detachKeys")]
    detach_keys: Option<String>,
}

/// Parses Docker's detach key spec (`ctrl-p,ctrl-q`, `a`, `ctrl-@`...) into bytes.
pub fn parse_detach_keys(spec: &str) -> ApiResult<Vec<u8>> {
    let mut out = Vec::new();
    for part in spec.split(',') {
        let p = part.trim();
        if let Some(k) = p.strip_prefix("ctrl-") {
            let b = match k.as_bytes() {
                [c @ b'a'..=b'z'] => c - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => {
                    return Err(ApiError::invalid(format!(
                        "Invalid escape keys ({spec}) provided"
                    )));
                }
            };
            out.push(b);
        } else if p.len() == 1 {
            out.push(p.as_bytes()[0]);
        } else {
            return Err(ApiError::invalid(format!(
                "Invalid escape keys ({spec}) provided"
            )));
        }
    }
    Ok(out)
}

fn upgrade_response(tty: bool) -> Response {
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let mut r = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

/// Copies client input to the shim until EOF or the detach sequence. Returns true on detach.
async fn pump_input<R, W>(mut from: R, mut to: W, detach: Vec<u8>) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 32 * 1024];
    let mut matched = 0usize;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return false;
            }
            Ok(n) => n,
        };
        if detach.is_empty() {
            if to.write_all(&buf[..n]).await.is_err() {
                return false;
            }
            continue;
        }
        // Hold back bytes that may start the detach sequence; flush them if it breaks off.
        let mut out = Vec::with_capacity(n);
        for &b in &buf[..n] {
            if b == detach[matched] {
                matched += 1;
                if matched == detach.len() {
                    let _ = to.write_all(&out).await;
                    return true;
                }
            } else {
                out.extend_from_slice(&detach[..matched]);
                matched = 0;
                if b == detach[0] {
                    matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        if to.write_all(&out).await.is_err() {
            return false;
        }
    }
}

/// Splices a client connection and a shim stream until output ends or the client detaches.
async fn splice<C>(client: C, shim: tokio::net::UnixStream, stdin: bool, detach: Vec<u8>)
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut sr, sw) = shim.into_split();
    let output = async {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    if stdin {
        let input = pump_input(&mut cr, sw, detach);
        tokio::select! {
            _ = output => {}
            detached = input => {
                if !detached {
                    // Client input ended: keep delivering output until the process ends.
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                }
                let _ = cw.shutdown().await;
            }
        }
    } else {
        // Hold the write half open; the shim reads EOF only when we drop it. Clients half-close
        // their side when they send no input, so only output decides when we are done.
        let _keep = sw;
        let _ = &mut cr;
        output.await;
    }
}

/// One stdout frame of Docker's multiplexed stream around `payload`.
fn stdout_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 8);
    f.extend_from_slice(&[1, 0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A client connection whose writes are wrapped in stdout frames (reads pass through): the
/// output side of an exec whose raw TTY output must reach the client multiplexed.
struct StdoutFramer<C> {
    inner: C,
    /// The frame being written and how much of it is out.
    pending: Vec<u8>,
    sent: usize,
    /// Payload bytes `pending` stands for, reported once the whole frame is out.
    payload_len: usize,
}

impl<C> StdoutFramer<C> {
    fn new(inner: C) -> Self {
        StdoutFramer {
            inner,
            pending: Vec::new(),
            sent: 0,
            payload_len: 0,
        }
    }
}

impl<C: AsyncRead + Unpin> AsyncRead for StdoutFramer<C> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<C: AsyncWrite + Unpin> AsyncWrite for StdoutFramer<C> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = &mut *self;
        if this.pending.is_empty() {
            this.pending = stdout_frame(buf);
            this.sent = 0;
            this.payload_len = buf.len();
        }
        // A frame is written whole before its payload counts as written, so a caller retrying
        // with the same bytes never produces a second header.
        while this.sent < this.pending.len() {
            match std::pin::Pin::new(&mut this.inner).poll_write(cx, &this.pending[this.sent..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => this.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        this.pending.clear();
        Poll::Ready(Ok(this.payload_len))
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// POST `/containers/{id}/attach`.
pub async fn attach(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<AttachQuery>,
    mut req: Request,
) -> ApiResult<Response> {
    let c = st.containers.get(&id)?;
    let r = c.snapshot();
    let tty = r.config.tty.unwrap_or(false);
    let (stdin, stdout, stderr) = (qbool(&q.stdin), qbool(&q.stdout), qbool(&q.stderr));
    let stdin = stdin && r.config.open_stdin.unwrap_or(false);
    let detach = parse_detach_keys(
        q.detach_keys
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("ctrl-p,ctrl-q"),
    )?;
    // `stream=0` (the API's default) means no live attach: dockerd sends the logs asked for
    // and closes the connection.
    let live = qbool(&q.stream);
    let replay_logs = qbool(&q.logs);
    if !live {
        let wants_upgrade = req.headers().get(header::UPGRADE).is_some();
        let on_upgrade = hyper::upgrade::on(&mut req);
        let logs = if replay_logs && !r.log_path.is_empty() {
            let opts = crate::logs::LogOptions {
                stdout,
                stderr,
                tty,
                ..Default::default()
            };
            Some(crate::logs::stream(
                c.clone(),
                r.log_path.clone().into(),
                opts,
            ))
        } else {
            None
        };
        if wants_upgrade {
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                let mut io = TokioIo::new(upgraded);
                if let Some(mut s) = logs {
                    while let Some(Ok(chunk)) = s.next().await {
                        if io.write_all(&chunk).await.is_err() {
                            return;
                        }
                    }
                }
                let _ = io.shutdown().await;
            });
            return Ok(upgrade_response(tty));
        }
        let body = match logs {
            Some(s) => Body::from_stream(s),
            None => Body::empty(),
        };
        return Ok(body.into_response());
    }
    // Register (or connect) now, before answering, so a following `start` finds us.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let running_shim = c.shim().filter(|_| r.state.running);
    match running_shim {
        Some(shim) => {
            let res = shim
                .attach(stdin, stdout, stderr)
                .await
                .map_err(|e| ApiError::internal(e.to_string()));
            let _ = tx.send(res);
        }
        None => crate::containers::lock(&c.pending).push(PendingAttach {
            stdin,
            stdout,
            stderr,
            tx,
        }),
    }
    let wants_upgrade = req.headers().get(header::UPGRADE).is_some();
    let on_upgrade = hyper::upgrade::on(&mut req);
    let log_path = r.log_path.clone();
    let c2 = c.clone();
    if wants_upgrade {
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let mut io = TokioIo::new(upgraded);
            if replay_logs && !log_path.is_empty() {
                let opts = crate::logs::LogOptions {
                    stdout,
                    stderr,
                    tty,
                    ..Default::default()
                };
                let mut s = crate::logs::stream(c2, log_path.into(), opts);
                use futures_util::StreamExt as _;
                while let Some(Ok(chunk)) = s.next().await {
                    if io.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            }
            match rx.await {
                Ok(Ok(shim_stream)) => splice(io, shim_stream, stdin, detach).await,
                _ => {
                    let _ = io.shutdown().await;
                }
            }
        });
        return Ok(upgrade_response(tty));
    }
    // No upgrade requested: stream output as the response body.
    let body = futures_util::stream::once(rx)
        .filter_map(|r| async move { r.ok().and_then(|r| r.ok()) })
        .flat_map(tokio_util::io::ReaderStream::new);
    use futures_util::StreamExt as _;
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(([(header::CONTENT_TYPE, ctype)], Body::from_stream(body)).into_response())
}

/// Body of `POST /exec/{id}/start`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ExecStartBody {
    #[serde(default)]
    detach: bool,
    #[serde(default)]
    tty: Option<bool>,
}

/// POST `/exec/{id}/start`.
pub async fn exec_start(
    State(st): State<AppState>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let wants_upgrade = req.headers().get(header::UPGRADE).is_some();
    let on_upgrade = hyper::upgrade::on(&mut req);
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let body: ExecStartBody = if bytes.is_empty() {
        ExecStartBody::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))?
    };
    let inst = st.containers.exec_get(&id)?;
    // As in dockerd, the start request's Tty alone decides whether output is framed: an exec
    // created with a TTY but started with `Tty: false` (docker-py's default) gets its raw TTY
    // output wrapped in stdout frames.
    let tty = body.tty.unwrap_or(false);
    let frame_tty_output = inst.spec.tty && !tty;
    let stdin = inst.spec.attach_stdin;
    let detach_keys = parse_detach_keys(if inst.spec.detach_keys.is_empty() {
        "ctrl-p,ctrl-q"
    } else {
        &inst.spec.detach_keys
    })?;
    if body.detach {
        st.containers.exec_start(&id, true, body.tty).await?;
        return Ok(StatusCode::OK.into_response());
    }
    if wants_upgrade {
        // Like dockerd: answer 101 first and start the process only then. Output that exists
        // before the client has read the response headers could share a read with them, and
        // clients that go on reading the raw socket (docker-py) would lose it.
        if crate::containers::lock(&inst.run).started {
            return Err(ApiError::conflict(format!(
                "Error: Exec command {id} has already run"
            )));
        }
        let c = st.containers.get(&inst.container_id)?;
        if !c.snapshot().state.running {
            return Err(ApiError::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let svc = st.containers.clone();
        let start_tty = body.tty;
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let mut io = TokioIo::new(upgraded);
            match svc.exec_start(&id, false, start_tty).await {
                Ok(Some(stream)) => {
                    if frame_tty_output {
                        splice(StdoutFramer::new(io), stream, stdin, detach_keys).await;
                    } else {
                        splice(io, stream, stdin, detach_keys).await;
                    }
                    svc.exec_finish(&inst).await;
                }
                Ok(None) => {}
                // The process did not start: as dockerd does, the error goes to the client's
                // stdout; the client then reads the exit code (126/127) from the exec's inspect.
                Err(e) => {
                    let msg = format!("{}\r\n", e.message).into_bytes();
                    let out = if tty { msg } else { stdout_frame(&msg) };
                    let _ = io.write_all(&out).await;
                    let _ = io.shutdown().await;
                }
            }
        });
        return Ok(upgrade_response(tty));
    }
    let Some(stream) = st.containers.exec_start(&id, false, body.tty).await? else {
        return Ok(StatusCode::OK.into_response());
    };
    let s = tokio_util::io::ReaderStream::new(stream).map(move |chunk| {
        chunk.map(|b| {
            if frame_tty_output {
                bytes::Bytes::from(stdout_frame(&b))
            } else {
                b
            }
        })
    });
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(([(header::CONTENT_TYPE, ctype)], Body::from_stream(s)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-pp").is_err());
    }

    #[tokio::test]
    async fn input_pump_stops_at_detach_sequence_and_forwards_the_rest() {
        let (mut client, server) = tokio::io::duplex(1024);
        let (shim_w, mut shim_r) = tokio::io::duplex(1024);
        let pump = tokio::spawn(pump_input(server, shim_w, vec![16, 17]));
        client.write_all(b"ab\x10c\x10\x11zz").await.unwrap();
        assert!(pump.await.unwrap());
        let mut got = Vec::new();
        shim_r.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ab\x10c");
    }

    #[tokio::test]
    async fn tty_output_is_wrapped_in_stdout_frames() {
        let (client, mut peer) = tokio::io::duplex(4);
        let mut framed = StdoutFramer::new(client);
        let writer = tokio::spawn(async move {
            framed.write_all(b"hello").await.unwrap();
            framed.write_all(b"!").await.unwrap();
            framed.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got, b"\x01\0\0\0\0\0\0\x05hello\x01\0\0\0\0\0\0\x01!");
    }
}
