//! `/networks`: list, inspect, create, remove, prune, connect and disconnect.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::system::Json;
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

fn net_err(e: berth_network::NetError) -> ApiError {
    ApiError::from_classified(e)
}

/// `filters` query.
#[derive(Debug, Deserialize, Default)]
pub struct FilterQuery {
    filters: Option<String>,
}

fn container_name(st: &AppState) -> impl Fn(&str) -> Option<String> + '_ {
    move |id: &str| {
        st.containers
            .get(id)
            .ok()
            .map(|c| c.snapshot().short_name().to_string())
    }
}

fn selected(f: &berth_api::Filters, n: &berth_network::NetworkInfo) -> bool {
    let names = f.get("name");
    let by_name = names.is_empty() || names.iter().any(|x| n.name.contains(x));
    let typ = if n.is_user { "custom" } else { "builtin" };
    by_name
        && f.fuzzy_match("id", &n.id)
        && f.exact_match("driver", &n.driver)
        && f.exact_match("scope", &n.scope)
        && f.exact_match("type", typ)
        && f.match_label(&n.labels)
}

/// GET `/networks`.
pub async fn list(State(st): State<AppState>, Query(q): Query<FilterQuery>) -> ApiResult<Json> {
    let f = berth_api::Filters::parse(q.filters.as_deref())?;
    f.validate(&["dangling", "driver", "id", "label", "name", "scope", "type"])?;
    let dangling = f.get_bool("dangling")?;
    let names = container_name(&st);
    let mut out = Vec::new();
    for n in st.containers.net.list() {
        if !selected(&f, &n) {
            continue;
        }
        let mut v = st.containers.net.inspect_json(&n.id, &names);
        if let Some(d) = dangling {
            let used = v["Containers"].as_object().is_some_and(|m| !m.is_empty()) || !n.is_user;
            if d == used {
                continue;
            }
        }
        // dockerd's list leaves the endpoint map empty.
        v["Containers"] = json!({});
        out.push(v);
    }
    Ok(Json(Value::Array(out)))
}

/// GET `/networks/{id}`.
pub async fn inspect(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json> {
    let n = st.containers.net.get(&id).map_err(net_err)?;
    let names = container_name(&st);
    Ok(Json(st.containers.net.inspect_json(&n.id, &names)))
}

/// POST `/networks/create`.
pub async fn create(
    State(st): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json)> {
    let req: berth_network::NetworkCreate = super::decode_go_json(&body)?;
    let name = req.name.clone();
    let driver = if req.driver.is_empty() {
        "bridge".to_string()
    } else {
        req.driver.clone()
    };
    let (id, warning) = st.containers.net.create(req).await.map_err(net_err)?;
    st.events.publish(
        "network",
        "create",
        &id,
        [("name".to_string(), name), ("type".to_string(), driver)].into(),
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": id, "Warning": warning.unwrap_or_default()})),
    ))
}

/// DELETE `/networks/{id}`.
pub async fn remove(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let n = st.containers.net.get(&id).map_err(net_err)?;
    st.containers.net.remove(&n.id).await.map_err(net_err)?;
    st.events.publish(
        "network",
        "destroy",
        &n.id,
        [("name".to_string(), n.name), ("type".to_string(), n.driver)].into(),
    );
    Ok(StatusCode::NO_CONTENT)
}

/// POST `/networks/prune`.
pub async fn prune(State(st): State<AppState>, Query(q): Query<FilterQuery>) -> ApiResult<Json> {
    let f = berth_api::Filters::parse(q.filters.as_deref())?;
    f.validate(&["label", "label!", "until"])?;
    // Networks a (stopped) container is configured for are not pruned.
    let wanted: Vec<String> = st
        .containers
        .all()
        .iter()
        .flat_map(|c| {
            c.snapshot()
                .networks
                .values()
                .map(|e| e.network_id.clone())
                .collect::<Vec<_>>()
        })
        .collect();
    let names = st
        .containers
        .net
        .prune(&|n| !wanted.contains(&n.id) && f.match_label(&n.labels))
        .await
        .map_err(net_err)?;
    Ok(Json(json!({
        "NetworksDeleted": if names.is_empty() { Value::Null } else { json!(names) }
    })))
}

/// Body of connect.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConnectBody {
    container: String,
    endpoint_config: Option<berth_api::EndpointSettings>,
}

/// POST `/networks/{id}/connect`.
pub async fn connect(
    State(st): State<AppState>,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<ConnectBody>,
) -> ApiResult<StatusCode> {
    let n = st.containers.net.get(&id).map_err(net_err)?;
    st.containers
        .connect_network(
            &body.container,
            &n,
            body.endpoint_config.unwrap_or_default(),
        )
        .await?;
    st.events.publish(
        "network",
        "connect",
        &n.id,
        BTreeMap::from([("name".to_string(), n.name.clone())]),
    );
    Ok(StatusCode::OK)
}

/// Body of disconnect.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DisconnectBody {
    container: String,
    force: bool,
}

/// POST `/networks/{id}/disconnect`.
pub async fn disconnect(
    State(st): State<AppState>,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<DisconnectBody>,
) -> ApiResult<StatusCode> {
    let n = st.containers.net.get(&id).map_err(net_err)?;
    st.containers
        .disconnect_network(&body.container, &n, body.force)
        .await?;
    st.events.publish(
        "network",
        "disconnect",
        &n.id,
        BTreeMap::from([("name".to_string(), n.name.clone())]),
    );
    Ok(StatusCode::OK)
}
