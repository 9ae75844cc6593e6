//! `docker login` (credential check against `/v2/`) and `docker search` (`/v1/search`).

use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::session::{Challenge, Session, api_host, registry_error_text, transport_error};
use crate::{AuthConfig, Client, DistError, LoginStatus, SearchResult};

/// The registry host for a `docker login` server argument (empty / Hub spellings → Docker Hub).
pub(crate) fn login_host(server: &str) -> String {
    let s = server
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or("");
    match s {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => api_host("docker.io"),
        h => h.to_string(),
    }
}

impl Client {
    /// Checks credentials against `server` (`""` means Docker Hub).
    pub async fn login(&self, server: &str, auth: &AuthConfig) -> Result<LoginStatus, DistError> {
        let host = login_host(server);
        let mut sess = Session::open(self, &host, Some(auth)).await?;
        let ok = LoginStatus {
            status: "Login Succeeded".into(),
            identity_token: None,
        };
        match sess.challenge().clone() {
            Challenge::None => Ok(ok),
            Challenge::Basic => {
                sess.authorize(&[]).await?;
                let resp = sess.send(Method::GET, "/v2/", |b| b).await?;
                if resp.status().is_success() {
                    return Ok(ok);
                }
                let body = resp.bytes().await.unwrap_or_default();
                let msg = registry_error_text(&body)
                    .unwrap_or_else(|| "unauthorized: authentication required".into());
                Err(DistError::Unauthorized(format!(
                    "Get \"{}/v2/\": {msg}",
                    sess.base
                )))
            }
            Challenge::Bearer { .. } => {
                if auth.username.is_none() && auth.identity_token.is_none() {
                    return Err(DistError::Unauthorized(
                        "unauthorized: authentication required".into(),
                    ));
                }
                sess.authorize(&[]).await?;
                Ok(LoginStatus {
                    status: "Login Succeeded".into(),
                    identity_token: sess.refresh_token.clone(),
                })
            }
        }
    }

    /// Searches a registry's v1 search endpoint. `term` may carry a registry host
    /// (`localhost:5000/foo`); Docker Hub otherwise.
    pub async fn search(
        &self,
        term: &str,
        limit: Option<u32>,
        auth: Option<&AuthConfig>,
    ) -> Result<Vec<SearchResult>, DistError> {
        let (host, q) = match term.split_once('/') {
            Some((h, rest)) if h.contains('.') || h.contains(':') || h == "localhost" => {
                (login_host(h), rest.to_string())
            }
            _ => ("index.docker.io".to_string(), term.to_string()),
        };
        if let Some(l) = limit
            && !(1..=100).contains(&l)
        {
            return Err(DistError::Invalid(format!(
                "limit {l} is outside the range of [1, 100]"
            )));
        }
        let mut sess = Session::open(self, &host, auth).await?;
        sess.authorize(&[]).await?;
        let n = limit.unwrap_or(25).to_string();
        let url = format!("{}/v1/search", sess.base);
        let resp = sess
            .send(Method::GET, "/v1/search", |b| {
                b.query(&[("q", q.as_str()), ("n", n.as_str())])
            })
            .await?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport_error(&Method::GET, &url, &e))?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(DistError::Unauthorized(
                registry_error_text(&body)
                    .unwrap_or_else(|| "unauthorized: authentication required".into()),
            ));
        }
        if !status.is_success() {
            return Err(DistError::Protocol(format!(
                "Unexpected status code {}",
                status.as_u16()
            )));
        }
        #[derive(Deserialize)]
        struct Resp {
            #[serde(default)]
            results: Vec<SearchResult>,
        }
        let r: Resp = serde_json::from_slice(&body)
            .map_err(|e| DistError::Protocol(format!("search response: {e}")))?;
        let mut out = r.results;
        if let Some(l) = limit {
            out.truncate(l as usize);
        }
        Ok(out)
    }
}
