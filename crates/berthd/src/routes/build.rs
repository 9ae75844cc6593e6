//! `POST /build` (the classic builder API the docker CLI uses without BuildKit) and
//! `/build/prune`, over `berth-build`. Output is Docker's `{"stream": ...}` JSON lines, with
//! `{"aux":{"ID":...}}` before `Successfully built`.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::json;

use super::system::Json;
use crate::error::{ApiError, ApiResult};
use crate::progress::ProgressSink;
use crate::server::AppState;

/// Sends the builder's text and image id into the response stream.
struct SinkOutput(ProgressSink);

impl berth_build::BuildOutput for SinkOutput {
    fn stream(&mut self, text: &str) {
        self.0.send(json!({ "stream": text }));
    }
    fn aux_id(&mut self, id: &berth_core::Digest) {
        self.0.send(json!({"aux": {"ID": id.to_string()}}));
    }
}

/// POST `/build`: the body is the context tar (optionally gzip-compressed).
pub async fn build(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let opts = berth_build::BuildOptions::from_query(&pairs).map_err(ApiError::from_classified)?;
    let backend = st.builder.clone();
    let events = st.events.clone();
    crate::progress::stream(
        move |sink| async move {
            let res = crate::archive::with_body_reader(body, move |r| {
                let mut out = SinkOutput(sink);
                match berth_build::build(&backend, r, &opts, &mut out) {
                    Ok(id) => Ok(Ok(id)),
                    // A failed RUN: dockerd's error line carries the exit code (clients such
                    // as docker-py read errorDetail.code).
                    Err(e) => match &e {
                        berth_build::BuildError::RunFailed { code, .. } => {
                            Ok(Err((*code, e.to_string())))
                        }
                        _ => Err(ApiError::from_classified(e)),
                    },
                }
            })
            .await?;
            if let Ok(id) = &res {
                events.publish("image", "build", &id.to_string(), Default::default());
            }
            Ok(res)
        },
        |res| match res {
            Ok(_) => Vec::new(),
            Err((code, message)) => vec![run_failed_line(code, &message)],
        },
    )
    .await
}

/// The final line of a build whose RUN step failed, as dockerd writes it.
fn run_failed_line(code: i32, message: &str) -> serde_json::Value {
    json!({"errorDetail": {"code": code, "message": message}, "error": message})
}

/// POST `/build/prune`: empties the build cache.
pub async fn prune(State(st): State<AppState>) -> ApiResult<Json> {
    let backend = st.builder.clone();
    let bytes = tokio::task::spawn_blocking(move || berth_build::prune_cache(&backend))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from_classified)?;
    Ok(Json(
        json!({"CachesDeleted": null, "SpaceReclaimed": bytes}),
    ))
}
