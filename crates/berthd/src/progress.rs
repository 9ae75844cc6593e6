//! Docker's JSON message streams (pull, push, build, load): one JSON object per line, sent as
//! the work goes. Like dockerd, an error that happens before anything was written is returned as
//! a plain HTTP error (so the CLI prints `Error response from daemon: ...`); an error after the
//! stream started becomes a final `{"errorDetail":{...},"error":...}` line.

use std::future::Future;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};

/// Where a long operation writes its progress lines.
#[derive(Clone)]
pub struct ProgressSink {
    tx: mpsc::UnboundedSender<Value>,
}

impl ProgressSink {
    /// Sends one message (dropped if the client went away; the work still completes).
    pub fn send(&self, v: Value) {
        let _ = self.tx.send(v);
    }
}

/// The error line of a JSON message stream.
pub fn error_line(message: &str) -> Value {
    json!({"errorDetail": {"message": message}, "error": message})
}

fn line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.extend_from_slice(b"\r\n");
    Bytes::from(b)
}

/// Runs `work` with a sink and answers with its message stream. `done` turns the work's result
/// into final lines (e.g. `Successfully built ...`), written after everything the work sent.
pub async fn stream<T, F, Fut>(
    work: F,
    done: impl FnOnce(T) -> Vec<Value> + Send + 'static,
) -> ApiResult<Response>
where
    T: Send + 'static,
    F: FnOnce(ProgressSink) -> Fut,
    Fut: Future<Output = ApiResult<T>> + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let mut task = tokio::spawn(work(ProgressSink { tx }));
    // Wait for the first message or the end, whichever comes first.
    let first = tokio::select! {
        biased;
        Some(msg) = rx.recv() => Some(msg),
        res = &mut task => {
            let res = res.map_err(|e| ApiError::internal(e.to_string()))?;
            // Finished: drain what may have raced in, then the final lines. An error with
            // nothing written yet is a plain HTTP error.
            let mut lines: Vec<Bytes> = Vec::new();
            while let Ok(m) = rx.try_recv() {
                lines.push(line(&m));
            }
            match res {
                Ok(value) => lines.extend(done(value).iter().map(line)),
                Err(e) if lines.is_empty() => return Err(e),
                Err(e) => lines.push(line(&error_line(&e.message))),
            }
            return Ok(respond(Body::from(lines.concat())));
        }
    };
    let (out_tx, out_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        if let Some(m) = first {
            let _ = out_tx.send(Ok(line(&m))).await;
        }
        while let Some(m) = rx.recv().await {
            let _ = out_tx.send(Ok(line(&m))).await;
        }
        let tail = match task.await {
            Ok(Ok(v)) => done(v),
            Ok(Err(e)) => vec![error_line(&e.message)],
            Err(e) => vec![error_line(&e.to_string())],
        };
        for m in tail {
            let _ = out_tx.send(Ok(line(&m))).await;
        }
    });
    Ok(respond(Body::from_stream(tokio_stream_from_receiver(
        out_rx,
    ))))
}

fn respond(body: Body) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn tokio_stream_from_receiver(
    mut rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_text(r: Response) -> String {
        let b = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8_lossy(&b).into_owned()
    }

    #[tokio::test]
    async fn early_error_is_an_http_error() {
        let r = stream(
            |_sink| async { Err::<(), _>(ApiError::not_found("manifest unknown")) },
            |_| vec![],
        )
        .await;
        let Err(e) = r else {
            panic!("an error, not a stream");
        };
        assert_eq!(e.message, "manifest unknown");
    }

    #[tokio::test]
    async fn late_error_ends_the_stream() {
        let r = stream(
            |sink| async move {
                sink.send(json!({"status": "Pulling fs layer", "id": "abc"}));
                tokio::task::yield_now().await;
                Err::<(), _>(ApiError::internal("digest mismatch"))
            },
            |_| vec![],
        )
        .await
        .expect("stream started");
        let text = body_text(r).await;
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["status"], "Pulling fs layer");
        assert_eq!(lines[1]["error"], "digest mismatch");
        assert_eq!(lines[1]["errorDetail"]["message"], "digest mismatch");
    }

    #[tokio::test]
    async fn success_appends_final_lines() {
        let r = stream(
            |sink| async move {
                sink.send(json!({"stream": "Step 1/1 : FROM scratch\n"}));
                Ok(7)
            },
            |n| vec![json!({"stream": format!("done {n}\n")})],
        )
        .await
        .expect("stream");
        let text = body_text(r).await;
        assert!(text.ends_with("{\"stream\":\"done 7\\n\"}\r\n"), "{text}");
        assert!(text.starts_with("{\"stream\":\"Step 1/1"), "{text}");
    }
}
