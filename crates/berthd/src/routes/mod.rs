//! The Engine API routers, one module per resource, assembled in one place.

pub mod build;
pub mod containers;
pub mod distribution;
pub mod hijack;
pub mod images;
pub mod networks;
pub mod swarm;
pub mod system;
pub mod volumes;

use axum::Router;
use axum::routing::{get, post};

use crate::server::AppState;

/// Docker's boolean query values: `1`/`true`/`True` are true, everything else false.
pub fn qbool(v: &Option<String>) -> bool {
    matches!(
        v.as_deref(),
        Some("1") | Some("true") | Some("True") | Some("TRUE") | Some("yes")
    )
}

/// Decodes a request body as dockerd's Go decoder does: a `null` member means "unset" (the zero
/// value), so nulls inside objects are dropped before decoding. Clients such as docker-py send
/// `"Gateway": null` for options they leave out.
pub fn decode_go_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> crate::error::ApiResult<T> {
    decode_go_json_keys(body, &[])
}

/// `decode_go_json`, also matching the top-level member names against `fields` without regard
/// to case, as Go's decoder does (docker-py sends an exec's `detachKeys` in camel case).
pub fn decode_go_json_keys<T: serde::de::DeserializeOwned>(
    body: &[u8],
    fields: &[&str],
) -> crate::error::ApiResult<T> {
    fn drop_nulls(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|_, x| !x.is_null());
                m.values_mut().for_each(drop_nulls);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(drop_nulls),
            _ => {}
        }
    }
    let mut v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| crate::error::ApiError::invalid(e.to_string()))?;
    drop_nulls(&mut v);
    if let serde_json::Value::Object(m) = &mut v {
        let keys: Vec<String> = m.keys().cloned().collect();
        for k in keys {
            if let Some(canon) = fields
                .iter()
                .find(|f| f.eq_ignore_ascii_case(&k) && **f != k)
                && !m.contains_key(*canon)
                && let Some(val) = m.remove(&k)
            {
                m.insert((*canon).to_string(), val);
            }
        }
    }
    serde_json::from_value(v).map_err(|e| crate::error::ApiError::invalid(e.to_string()))
}

/// Every route berthd serves.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(system::events))
        .route("/system/df", get(system::system_df))
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}/json", get(containers::inspect))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .route(
            "/containers/{id}/{link}",
            axum::routing::delete(containers::remove_link),
        )
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/attach", post(hijack::attach))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/stats", get(containers::stats))
        .route("/containers/{id}/update", post(containers::update))
        .route("/containers/{id}/changes", get(containers::changes))
        .route("/containers/{id}/export", get(containers::export))
        .route(
            "/containers/{id}/archive",
            get(containers::archive_get)
                .head(containers::archive_head)
                .put(containers::archive_put),
        )
        .route("/containers/{id}/exec", post(containers::exec_create))
        .route("/exec/{id}/start", post(hijack::exec_start))
        .route("/exec/{id}/resize", post(containers::exec_resize))
        .route("/exec/{id}/json", get(containers::exec_inspect))
        .route("/commit", post(images::commit))
        .route("/images/json", get(images::list))
        .route("/images/search", get(distribution::search))
        .route("/auth", post(distribution::auth))
        .route("/distribution/{*rest}", get(distribution::inspect))
        .route("/images/create", post(images::create))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::save_many))
        .route("/images/prune", post(images::prune))
        .route(
            "/images/{*name}",
            get(images::by_name)
                .delete(images::remove)
                .post(images::by_name_post),
        )
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .merge(swarm::router())
        .fallback(not_found)
        .layer(axum::middleware::from_fn(crate::server::common_headers))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> crate::error::ApiError {
    crate::error::ApiError::not_found(format!("page not found: {}", uri.path()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn null_members_decode_as_unset() {
        let body = br#"{"Name": "n", "Driver": null, "IPAM": {"Driver": "default", "Options": null,
            "Config": [{"Subnet": "10.9.0.0/16", "IPRange": null, "Gateway": null,
                        "AuxiliaryAddresses": null}]}, "Labels": null}"#;
        let req: berth_network::NetworkCreate = decode_go_json(body).unwrap();
        assert_eq!(req.name, "n");
        assert_eq!(req.driver, "");
        let pools = req.ipam.unwrap().config.unwrap();
        assert_eq!(pools[0].subnet, "10.9.0.0/16");
        assert!(decode_go_json::<berth_network::NetworkCreate>(b"{").is_err());
        let exec: berth_api::ExecCreateRequest = decode_go_json_keys(
            br#"{"Cmd": ["cat"], "detachKeys": "ctrl-p", "tty": true}"#,
            &["Cmd", "DetachKeys", "Tty"],
        )
        .unwrap();
        assert_eq!(exec.detach_keys.as_deref(), Some("ctrl-p"));
        assert_eq!(exec.tty, Some(true));
    }
}
