//! Images over the wire: pull (`POST /images/create?fromImage=`), push, `/auth` and
//! `/images/search`, over `berth-distribution`'s registry client. Progress is streamed as
//! Docker's JSON messages.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use berth_distribution::{AuthConfig, Progress, progress_json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::system::Json;
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

/// The `X-Registry-Auth` header, when the client sent one.
pub fn registry_auth(headers: &HeaderMap) -> Option<AuthConfig> {
    headers
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(AuthConfig::from_x_registry_auth)
}

/// `fromImage` + `tag` as one reference (`tag` may be a digest).
pub fn pull_reference(from: &str, tag: Option<&str>) -> String {
    match tag.filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from.to_string(),
    }
}

/// `POST /images/create?fromImage=...`: pulls, streaming progress.
pub async fn pull(
    st: AppState,
    reference: String,
    platform: Option<String>,
    auth: Option<AuthConfig>,
) -> ApiResult<Response> {
    let client = st.registry.clone();
    let images = st.images.clone();
    let events = st.events.clone();
    crate::progress::stream(
        move |sink| async move {
            let cb = move |p: Progress| sink.send(progress_json(&p));
            let rec = client
                .pull(
                    &images,
                    &reference,
                    platform.as_deref().filter(|p| !p.is_empty()),
                    auth.as_ref(),
                    &cb,
                )
                .await
                .map_err(ApiError::from_classified)?;
            let mut a = BTreeMap::new();
            a.insert("name".to_string(), reference.clone());
            events.publish("image", "pull", &reference, a);
            Ok(rec.id.to_string())
        },
        |_| vec![],
    )
    .await
}

/// GET `/distribution/{name}/json`: the registry's manifest descriptor and platforms for an
/// image reference (`name` may hold slashes and a port).
pub async fn inspect(
    State(st): State<AppState>,
    axum::extract::Path(rest): axum::extract::Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json> {
    let Some(name) = rest.strip_suffix("/json").filter(|n| !n.is_empty()) else {
        return Err(ApiError::not_found(format!(
            "page not found: /distribution/{rest}"
        )));
    };
    let auth = registry_auth(&headers);
    let v = st
        .registry
        .inspect_distribution(name, auth.as_ref())
        .await
        .map_err(ApiError::from_classified)?;
    Ok(Json(v))
}

/// `POST /images/{name}/push?tag=`. Without `tag` (`docker push --all-tags`, older clients)
/// every local tag of the repository is pushed, as dockerd does.
pub async fn push(
    st: AppState,
    name: String,
    tag: Option<String>,
    auth: Option<AuthConfig>,
) -> ApiResult<Response> {
    let tag = tag.filter(|t| !t.is_empty());
    let client = st.registry.clone();
    let images = st.images.clone();
    let events = st.events.clone();
    crate::progress::stream(
        move |sink| async move {
            let cb = move |p: Progress| sink.send(progress_json(&p));
            let pushed: Vec<(String, String)> = match tag {
                Some(t) => {
                    let reference = format!("{name}:{t}");
                    let digest = client
                        .push(&images, &reference, auth.as_ref(), &cb)
                        .await
                        .map_err(ApiError::from_classified)?;
                    vec![(reference, digest)]
                }
                None => client
                    .push_all_tags(&images, &name, auth.as_ref(), &cb)
                    .await
                    .map_err(ApiError::from_classified)?,
            };
            for (reference, _) in &pushed {
                let mut a = BTreeMap::new();
                a.insert("name".to_string(), reference.clone());
                events.publish("image", "push", reference, a);
            }
            Ok(pushed.into_iter().map(|(_, d)| d).collect::<Vec<_>>())
        },
        |_| vec![],
    )
    .await
}

/// POST `/auth`: checks credentials against the registry (`docker login`).
pub async fn auth(State(st): State<AppState>, body: axum::body::Bytes) -> ApiResult<Json> {
    let cfg: AuthConfig =
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid(e.to_string()))?;
    let server = cfg
        .server_address
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "https://index.docker.io/v1/".into());
    let status = st
        .registry
        .login(&server, &cfg)
        .await
        .map_err(ApiError::from_classified)?;
    Ok(Json(json!({
        "Status": status.status,
        "IdentityToken": status.identity_token.unwrap_or_default(),
    })))
}

/// Query of `GET /images/search`.
#[derive(Debug, Deserialize, Default)]
pub struct SearchQuery {
    term: Option<String>,
    limit: Option<u32>,
    filters: Option<String>,
}

/// GET `/images/search`.
pub async fn search(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json> {
    let term = q.term.unwrap_or_default();
    let f = berth_api::Filters::parse(q.filters.as_deref())?;
    f.validate(&["is-automated", "is-official", "stars"])?;
    let auth = registry_auth(&headers);
    let results = st
        .registry
        .search(&term, q.limit, auth.as_ref())
        .await
        .map_err(ApiError::from_classified)?;
    let official = f.get_bool("is-official")?;
    let automated = f.get_bool("is-automated")?;
    let stars: u64 = f
        .get("stars")
        .first()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let out: Vec<Value> = results
        .into_iter()
        .filter(|r| official.is_none_or(|o| r.is_official == o))
        .filter(|r| automated.is_none_or(|a| r.is_automated == a))
        .filter(|r| r.star_count >= stars)
        .map(|r| serde_json::to_value(&r).unwrap_or(Value::Null))
        .collect();
    Ok(Json(Value::Array(out)))
}
