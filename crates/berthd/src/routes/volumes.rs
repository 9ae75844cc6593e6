//! `/volumes`: list, create, inspect, remove and prune volumes of the local driver.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::qbool;
use super::system::Json;
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

/// `filters` query.
#[derive(Debug, Deserialize, Default)]
pub struct FilterQuery {
    filters: Option<String>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, berth_volumes::VolumeError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from_classified)
}

/// Whether a volume passes `name`, `driver`, `label` and `dangling` filters.
fn selected(f: &berth_api::Filters, v: &berth_volumes::Volume, used: bool) -> ApiResult<bool> {
    if let Some(d) = f.get_bool("dangling")?
        && d == used
    {
        return Ok(false);
    }
    let names = f.get("name");
    let by_name = names.is_empty() || names.iter().any(|n| v.name.contains(n));
    Ok(by_name && f.exact_match("driver", &v.driver) && f.match_label(&v.labels))
}

/// GET `/volumes`.
pub async fn list(State(st): State<AppState>, Query(q): Query<FilterQuery>) -> ApiResult<Json> {
    let f = berth_api::Filters::parse(q.filters.as_deref())?;
    f.validate(&["dangling", "driver", "label", "name"])?;
    let mut out = Vec::new();
    for v in st.containers.volumes.list() {
        let used = !st.containers.users_of_volume(&v.name).is_empty();
        if selected(&f, &v, used)? {
            out.push(v.to_api_json(None));
        }
    }
    Ok(Json(json!({"Volumes": out, "Warnings": null})))
}

/// Body of `POST /volumes/create`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    name: Option<String>,
    driver: Option<String>,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// POST `/volumes/create`.
pub async fn create(
    State(st): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json)> {
    let b: CreateBody = if body.is_empty() {
        CreateBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid(e.to_string()))?
    };
    let store = st.containers.volumes.clone();
    let v = blocking(move || {
        store.create_from_api(
            b.name.as_deref(),
            b.driver.as_deref().unwrap_or("local"),
            b.driver_opts.as_ref(),
            b.labels.as_ref(),
        )
    })
    .await?;
    st.events.publish(
        "volume",
        "create",
        &v.name,
        [("driver".to_string(), v.driver.clone())].into(),
    );
    Ok((StatusCode::CREATED, Json(v.to_api_json(None))))
}

/// GET `/volumes/{name}`.
pub async fn inspect(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<Json> {
    let store = st.containers.volumes.clone();
    let v = blocking(move || store.get(&name)).await?;
    Ok(Json(v.to_api_json(None)))
}

/// `force` query of DELETE.
#[derive(Debug, Deserialize, Default)]
pub struct RemoveQuery {
    force: Option<String>,
}

/// DELETE `/volumes/{name}`.
pub async fn remove(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> ApiResult<StatusCode> {
    let users = st.containers.users_of_volume(&name);
    let store = st.containers.volumes.clone();
    let n = name.clone();
    let res = blocking(move || store.remove(&n, &users)).await;
    match res {
        // `-f` makes a missing volume not an error.
        Err(e) if qbool(&q.force) && e.status == StatusCode::NOT_FOUND => {}
        Err(e) => return Err(e),
        Ok(()) => st
            .events
            .publish("volume", "destroy", &name, BTreeMap::new()),
    }
    Ok(StatusCode::NO_CONTENT)
}

/// POST `/volumes/prune`: removes every unused volume (API 1.41 semantics; `all=false` in the
/// filters keeps named volumes, as newer engines do by default).
pub async fn prune(State(st): State<AppState>, Query(q): Query<FilterQuery>) -> ApiResult<Json> {
    let f = berth_api::Filters::parse(q.filters.as_deref())?;
    f.validate(&["label", "label!", "all"])?;
    let all = f.get_bool("all")?.unwrap_or(true);
    let svc = st.containers.clone();
    let f2 = f.clone();
    let (names, bytes) = blocking(move || {
        svc.volumes
            .prune(all, &|n| !svc.users_of_volume(n).is_empty(), &|v| {
                f2.match_label(&v.labels)
                    && !f2.get("label!").iter().any(|l| match l.split_once('=') {
                        Some((k, val)) => v.labels.get(k).is_some_and(|x| x == val),
                        None => v.labels.contains_key(*l),
                    })
            })
    })
    .await?;
    for n in &names {
        st.events.publish("volume", "destroy", n, BTreeMap::new());
    }
    Ok(Json(
        json!({"VolumesDeleted": names, "SpaceReclaimed": bytes}),
    ))
}

/// Volumes for `system df`.
pub fn df_json(st: &AppState) -> Value {
    Value::Array(
        st.containers
            .volumes
            .list()
            .iter()
            .map(|v| {
                let refs = st.containers.users_of_volume(&v.name).len() as i64;
                v.to_api_json(Some((st.containers.volumes.size(v) as i64, refs)))
            })
            .collect(),
    )
}
