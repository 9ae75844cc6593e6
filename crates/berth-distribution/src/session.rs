//! One conversation with a registry: endpoint choice (https, then http for insecure
//! registries), the `/v2/` ping, and the Basic/Bearer challenge with a per-scope token cache.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;

use crate::{AuthConfig, Client, DistError};

/// The API host of Docker Hub.
const HUB_API: &str = "registry-1.docker.io";

/// Tokens by (realm, service, scopes, user), with their expiry.
pub(crate) type TokenCache = Arc<Mutex<HashMap<String, (String, Instant)>>>;

/// What `/v2/` answered with a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    None,
    Basic,
    Bearer { realm: String, service: String },
}

/// An authenticated endpoint of one registry.
pub(crate) struct Session {
    http: reqwest::Client,
    /// `https://host[:port]` or `http://...`.
    pub(crate) base: String,
    auth: Option<AuthConfig>,
    challenge: Challenge,
    authz: Option<String>,
    tokens: TokenCache,
    /// Identity token returned by the token server (login).
    pub(crate) refresh_token: Option<String>,
}

/// The host to talk to for a reference domain.
pub(crate) fn api_host(domain: &str) -> String {
    match domain {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => HUB_API.to_string(),
        d => d.to_string(),
    }
}

/// Whether `host[:port]` is reached over plain http / without certificate checks.
pub(crate) fn is_insecure(host: &str, insecure: &[String]) -> bool {
    let bare = strip_port(host);
    if bare == "localhost" {
        return true;
    }
    let ip = bare.trim_matches(['[', ']']).parse::<IpAddr>().ok();
    if let Some(ip) = ip
        && ip.is_loopback()
    {
        return true;
    }
    insecure.iter().any(|entry| {
        let e = entry
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        if e == host || e == bare {
            return true;
        }
        match (ip, e.split_once('/')) {
            (Some(ip), Some((net, len))) => cidr_contains(net, len, ip),
            _ => false,
        }
    })
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map_or(host, |h| &h[1..]);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

fn cidr_contains(net: &str, len: &str, ip: IpAddr) -> bool {
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if len <= 128 => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Parses a `WWW-Authenticate` header.
pub(crate) fn parse_challenge(h: &str) -> Challenge {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Challenge::Basic;
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::None;
    }
    let mut params = HashMap::new();
    let mut s = rest;
    while !s.is_empty() {
        s = s.trim_start_matches([' ', ',']);
        let Some((k, after)) = s.split_once('=') else {
            break;
        };
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(k.trim().to_ascii_lowercase(), v.to_string());
        s = next;
    }
    Challenge::Bearer {
        realm: params.remove("realm").unwrap_or_default(),
        service: params.remove("service").unwrap_or_default(),
    }
}

/// Docker's text for a registry error body: `code: message` of the first error.
pub(crate) fn registry_error_text(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct E {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    #[derive(Deserialize)]
    struct Es {
        #[serde(default)]
        errors: Vec<E>,
        #[serde(default)]
        details: Option<String>,
    }
    let es: Es = serde_json::from_slice(body).ok()?;
    if let Some(e) = es.errors.first() {
        let code = e.code.to_ascii_lowercase().replace('_', " ");
        return Some(if e.message.is_empty() {
            code
        } else {
            format!("{code}: {}", e.message)
        });
    }
    es.details
}

/// Go's method spelling in net/http errors (`Get "url": ...`).
fn go_method(m: &Method) -> String {
    let s = m.as_str();
    let mut out = s[..1].to_string();
    out.push_str(&s[1..].to_ascii_lowercase());
    out
}

/// A transport error in Docker's words.
pub(crate) fn transport_error(method: &Method, url: &str, e: &reqwest::Error) -> DistError {
    let mut chain = String::new();
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        chain.push_str(&s.to_string());
        chain.push(' ');
        src = s.source();
    }
    let host = url::Url::parse(url)
        .ok()
        .map(|u| {
            let h = u.host_str().unwrap_or("").to_string();
            format!("{h}:{}", u.port_or_known_default().unwrap_or(443))
        })
        .unwrap_or_default();
    let what = if chain.contains("Connection refused") {
        format!("dial tcp {host}: connect: connection refused")
    } else if chain.contains("UnknownIssuer") {
        "tls: failed to verify certificate: x509: certificate signed by unknown authority"
            .to_string()
    } else if e.is_timeout() {
        "net/http: request canceled (Client.Timeout exceeded while awaiting headers)".to_string()
    } else {
        chain.trim().to_string()
    };
    DistError::Transport(format!("{} \"{url}\": {what}", go_method(method)))
}

impl Session {
    /// Pings `/v2/` of `host` (https first; http too for insecure registries) and remembers
    /// the auth challenge.
    pub(crate) async fn open(
        client: &Client,
        host: &str,
        auth: Option<&AuthConfig>,
    ) -> Result<Session, DistError> {
        let insecure = is_insecure(host, &client.opts.insecure_registries);
        // As dockerd: certs.d applies to secure registries only; insecure ones skip checks.
        let http = if insecure {
            client.insecure.clone()
        } else {
            client.secure_client(host)?
        };
        let schemes: &[&str] = if insecure {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut last = None;
        for scheme in schemes {
            let base = format!("{scheme}://{host}");
            let url = format!("{base}/v2/");
            match http.get(&url).send().await {
                Ok(resp) => {
                    let challenge = if resp.status() == StatusCode::UNAUTHORIZED {
                        resp.headers()
                            .get(reqwest::header::WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .map(parse_challenge)
                            .unwrap_or(Challenge::Basic)
                    } else {
                        Challenge::None
                    };
                    return Ok(Session {
                        http,
                        base,
                        auth: auth.cloned(),
                        challenge,
                        authz: None,
                        tokens: client.tokens.clone(),
                        refresh_token: None,
                    });
                }
                Err(e) => last = Some(transport_error(&Method::GET, &url, &e)),
            }
        }
        Err(last.unwrap_or_else(|| DistError::Transport(format!("no endpoint for {host}"))))
    }

    /// Whether credentials were given.
    pub(crate) fn has_credentials(&self) -> bool {
        self.auth.as_ref().is_some_and(|a| {
            a.username.is_some() || a.identity_token.is_some() || a.registry_token.is_some()
        })
    }

    /// Whether the registry asked for authentication at all.
    pub(crate) fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    fn basic(&self) -> Option<String> {
        let a = self.auth.as_ref()?;
        let user = a.username.as_deref()?;
        let pass = a.password.as_deref().unwrap_or("");
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        ))
    }

    /// Obtains the Authorization header for `scopes` (e.g. `repository:x/y:pull,push`).
    pub(crate) async fn authorize(&mut self, scopes: &[String]) -> Result<(), DistError> {
        if let Some(t) = self.auth.as_ref().and_then(|a| a.registry_token.clone()) {
            self.authz = Some(format!("Bearer {t}"));
            return Ok(());
        }
        match self.challenge.clone() {
            Challenge::None => self.authz = None,
            Challenge::Basic => self.authz = self.basic(),
            Challenge::Bearer { realm, service } => {
                let token = self.token(&realm, &service, scopes).await?;
                self.authz = Some(format!("Bearer {token}"));
            }
        }
        Ok(())
    }

    async fn token(
        &mut self,
        realm: &str,
        service: &str,
        scopes: &[String],
    ) -> Result<String, DistError> {
        let user = self
            .auth
            .as_ref()
            .and_then(|a| a.username.clone())
            .unwrap_or_default();
        // The secret is part of the key (hashed) so other credentials never reuse a token.
        let secret = self
            .auth
            .as_ref()
            .map(|a| {
                let s = format!(
                    "{}|{}",
                    a.password.as_deref().unwrap_or(""),
                    a.identity_token.as_deref().unwrap_or("")
                );
                berth_core::Digest::of(s.as_bytes()).to_string()
            })
            .unwrap_or_default();
        let key = format!("{realm}|{service}|{}|{user}|{secret}", scopes.join(" "));
        if let Ok(cache) = self.tokens.lock()
            && let Some((t, exp)) = cache.get(&key)
            && *exp > Instant::now()
        {
            return Ok(t.clone());
        }
        let mut q: Vec<(&str, String)> = vec![("service", service.to_string())];
        for s in scopes {
            q.push(("scope", s.clone()));
        }
        let identity = self.auth.as_ref().and_then(|a| a.identity_token.clone());
        let req = if let Some(refresh) = identity {
            let mut form = q.clone();
            form.push(("grant_type", "refresh_token".into()));
            form.push(("refresh_token", refresh));
            form.push(("client_id", "berth".into()));
            self.http.post(realm).form(&form)
        } else {
            let mut r = self.http.get(realm).query(&q);
            if user.is_empty() {
                r = r.query(&[("client_id", "berth")]);
            } else {
                r = r.query(&[("account", user.as_str()), ("offline_token", "true")]);
            }
            if let Some(b) = self.basic() {
                r = r.header(reqwest::header::AUTHORIZATION, b);
            }
            r
        };
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error(&Method::GET, realm, &e))?;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let msg = registry_error_text(&body)
                .unwrap_or_else(|| "unauthorized: authentication required".into());
            let msg = if msg.starts_with("unauthorized") {
                msg
            } else {
                format!("unauthorized: {msg}")
            };
            return Err(DistError::Unauthorized(msg));
        }
        #[derive(Deserialize)]
        struct Tok {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            expires_in: Option<u64>,
            #[serde(default)]
            refresh_token: Option<String>,
        }
        let t: Tok = serde_json::from_slice(&body)
            .map_err(|e| DistError::Protocol(format!("token response: {e}")))?;
        let token = t
            .token
            .or(t.access_token)
            .ok_or_else(|| DistError::Protocol("token response without token".into()))?;
        if t.refresh_token.is_some() {
            self.refresh_token = t.refresh_token;
        }
        // Renew a little early so a token never expires mid-request.
        let ttl = t.expires_in.unwrap_or(60).max(10) - 5;
        if let Ok(mut cache) = self.tokens.lock() {
            cache.insert(
                key,
                (token.clone(), Instant::now() + Duration::from_secs(ttl)),
            );
        }
        Ok(token)
    }

    /// A request to `path` (relative to the base, or absolute) with the current credentials.
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut r = self.http.request(method, url);
        if let Some(a) = &self.authz {
            r = r.header(reqwest::header::AUTHORIZATION, a);
        }
        r
    }

    /// Sends a request, mapping transport errors to Docker's words.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        f: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, DistError> {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        f(self.request(method.clone(), path))
            .send()
            .await
            .map_err(|e| transport_error(&method, &url, &e))
    }

    /// Resolves a `Location` header against the base URL.
    pub(crate) fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_defaults() {
        assert!(is_insecure("localhost:5000", &[]));
        assert!(is_insecure("127.0.0.1:5000", &[]));
        assert!(is_insecure("127.3.4.5", &[]));
        assert!(!is_insecure("registry.example.com", &[]));
        assert!(is_insecure("reg.local:5000", &["reg.local:5000".into()]));
        assert!(is_insecure("10.1.2.3:5000", &["10.0.0.0/8".into()]));
        assert!(!is_insecure("11.1.2.3:5000", &["10.0.0.0/8".into()]));
    }

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#
            ),
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: "registry.docker.io".into()
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Challenge::Basic
        );
    }

    #[test]
    fn error_text() {
        let b =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            registry_error_text(b).as_deref(),
            Some("manifest unknown: manifest unknown")
        );
    }
}
