//! Swarm-mode endpoints. berthd never joins a swarm, so it answers them as a dockerd that is not
//! part of one does: 503 with dockerd's messages (clients such as docker-py treat a 503 from
//! `swarm/leave?force=1` as "nothing to leave").

use axum::Router;
use axum::routing::{any, post};
use berth_core::ErrorKind;

use crate::error::ApiError;

const NOT_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

async fn leave() -> ApiError {
    ApiError::new(ErrorKind::Unavailable, "This node is not part of a swarm")
}

async fn unsupported() -> ApiError {
    ApiError::new(ErrorKind::Unavailable, "berthd does not support swarm mode")
}

async fn not_manager() -> ApiError {
    ApiError::new(ErrorKind::Unavailable, NOT_MANAGER)
}

/// The swarm, node, service, task, secret and config routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new()
        .route("/swarm/leave", post(leave))
        .route("/swarm/init", post(unsupported))
        .route("/swarm/join", post(unsupported));
    for base in [
        "/swarm",
        "/nodes",
        "/services",
        "/tasks",
        "/secrets",
        "/configs",
    ] {
        r = r
            .route(base, any(not_manager))
            .route(&format!("{base}/{{*rest}}"), any(not_manager));
    }
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    async fn call(method: &str, path: &str) -> (StatusCode, String) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let resp = router::<()>().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn swarm_endpoints_answer_like_a_node_outside_a_swarm() {
        let (s, b) = call("POST", "/swarm/leave?force=1").await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert!(b.contains("This node is not part of a swarm"), "{b}");
        let (s, b) = call("GET", "/swarm").await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert!(b.contains("not a swarm manager"), "{b}");
        for (m, p) in [
            ("GET", "/services"),
            ("GET", "/nodes/x"),
            ("DELETE", "/secrets/a"),
        ] {
            assert_eq!(
                call(m, p).await.0,
                StatusCode::SERVICE_UNAVAILABLE,
                "{m} {p}"
            );
        }
    }
}
