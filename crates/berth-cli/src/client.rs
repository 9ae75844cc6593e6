//! Engine API client: HTTP/1.1 over a unix or tcp socket, API version negotiation, JSON helpers,
//! streamed bodies and hijacked (upgraded) connections for attach/exec.
//!
//! Every request opens its own connection: the CLI makes a handful of calls per command, and a
//! fresh connection keeps the hijack path (which consumes the connection) uniform.

use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::io::{ReaderStream, StreamReader};

use crate::error::{CliError, Result};

/// Default daemon address.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// Newest API version this client speaks.
pub const MAX_API_VERSION: &str = "1.50";

/// Request body type used for every call.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A byte stream readable by the CLI (response bodies, hijacked connections).
pub type Reader = Pin<Box<dyn AsyncRead + Send>>;
/// The writable half of a hijacked connection.
pub type Writer = Pin<Box<dyn AsyncWrite + Send>>;

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A unix socket path.
    Unix(PathBuf),
    /// `host:port` of a plain TCP endpoint.
    Tcp(String),
}

impl Host {
    /// Parses `unix:///path`, `tcp://host:port`, `fd://`-less plain paths are rejected as Docker does.
    pub fn parse(s: &str) -> Result<Host> {
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                return Err(CliError::invalid(format!(
                    "invalid bind address ({s}): empty"
                )));
            }
            return Ok(Host::Unix(PathBuf::from(p)));
        }
        if let Some(rest) = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
        {
            let hostport = rest.trim_end_matches('/');
            if hostport.is_empty() {
                return Err(CliError::invalid(format!(
                    "invalid bind address ({s}): empty"
                )));
            }
            let hp = if hostport
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            {
                hostport.to_string()
            } else {
                format!("{hostport}:2375")
            };
            return Ok(Host::Tcp(hp));
        }
        Err(CliError::invalid(format!(
            "unable to parse docker host `{s}`"
        )))
    }
}

/// A connected-on-demand Engine API client.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    host_url: String,
    version: String,
}

/// A hijacked stream: read the container's output, optionally write its stdin.
pub struct Hijacked {
    /// Output from the daemon.
    pub reader: Reader,
    /// Input to the daemon; `None` when the server answered without upgrading.
    pub writer: Option<Writer>,
}

const PATH_ESCAPE: &AsciiSet = &CONTROLS.add(b' ').add(b'?').add(b'#').add(b'%').add(b'"');

/// Escapes a name for use as one path segment (keeps `/` and `:` as Docker's client does).
pub fn esc(s: &str) -> String {
    utf8_percent_encode(s, PATH_ESCAPE).to_string()
}

/// Builds `?k=v&...` from pairs (empty string when there are none).
pub fn query(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    format!("?{}", ser.finish())
}

/// Parses `1.41` into a comparable pair.
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The version to use given the server's advertised one: min(server, ours).
pub fn negotiate(server: Option<&str>) -> String {
    let ours = parse_version(MAX_API_VERSION).unwrap_or((1, 50));
    match server.and_then(parse_version) {
        Some(s) if s < ours => format!("{}.{}", s.0, s.1),
        _ => MAX_API_VERSION.to_string(),
    }
}

/// Wraps a JSON value as a request body.
pub fn json_body(v: &Value) -> Body {
    full_body(Bytes::from(v.to_string()))
}

/// Wraps bytes as a request body.
pub fn full_body(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed()
}

/// An empty request body.
pub fn empty_body() -> Body {
    full_body(Bytes::new())
}

/// Streams any reader as a request body.
pub fn reader_body<R: AsyncRead + Send + Sync + 'static>(r: R) -> Body {
    let stream = ReaderStream::new(r).map_ok(Frame::data);
    BodyExt::boxed(StreamBody::new(stream))
}

/// Turns a response body into an `AsyncRead`.
pub fn body_reader(body: Incoming) -> Reader {
    let stream = body
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()));
    Box::pin(StreamReader::new(stream))
}

/// Extracts the daemon's error message from an error body.
pub fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body)
        && let Some(m) = v.get("message").and_then(Value::as_str)
    {
        return m.to_string();
    }
    String::from_utf8_lossy(body).trim().to_string()
}

impl Client {
    /// A client for `host` (`unix://...` or `tcp://...`) that has not talked to the daemon yet.
    pub fn new(host_url: &str) -> Result<Client> {
        Ok(Client {
            host: Host::parse(host_url)?,
            host_url: host_url.to_string(),
            version: MAX_API_VERSION.to_string(),
        })
    }

    /// The negotiated API version (e.g. `1.41`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The host URL as given.
    pub fn host_url(&self) -> &str {
        &self.host_url
    }

    async fn connect(&self) -> Result<Box<dyn Io>> {
        let io: Box<dyn Io> = match &self.host {
            Host::Unix(p) => Box::new(tokio::net::UnixStream::connect(p).await.map_err(|_| {
                CliError::Connect {
                    host: self.host_url.clone(),
                }
            })?),
            Host::Tcp(hp) => Box::new(tokio::net::TcpStream::connect(hp).await.map_err(|_| {
                CliError::Connect {
                    host: self.host_url.clone(),
                }
            })?),
        };
        Ok(io)
    }

    /// Pings the daemon and adopts min(server API version, ours). Returns the ping headers.
    pub async fn negotiate(&mut self) -> Result<http::HeaderMap> {
        let resp = self
            .raw(Method::GET, "/_ping", empty_body(), None, false, false)
            .await?;
        let headers = resp.headers().clone();
        let server = headers.get("api-version").and_then(|v| v.to_str().ok());
        self.version = negotiate(server);
        Ok(headers)
    }

    /// Sends one request. `path` is relative to the version prefix unless `unversioned`.
    async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
        upgrade: bool,
        versioned: bool,
    ) -> Result<Response<Incoming>> {
        self.raw_with(method, path, body, content_type, upgrade, versioned, &[])
            .await
    }

    /// [`raw`](Self::raw) with extra request headers (e.g. `X-Registry-Auth`).
    #[allow(clippy::too_many_arguments)]
    async fn raw_with(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
        upgrade: bool,
        versioned: bool,
        extra: &[(&str, String)],
    ) -> Result<Response<Incoming>> {
        let io = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| CliError::Protocol(e.to_string()))?;
        tokio::spawn(async move {
            // Errors here surface on the request future too; nothing else to do with them.
            let _ = conn.with_upgrades().await;
        });
        let uri = if versioned {
            format!("/v{}{}", self.version, path)
        } else {
            path.to_string()
        };
        let host_header = match &self.host {
            Host::Unix(_) => "api.moby.localhost".to_string(),
            Host::Tcp(hp) => hp.clone(),
        };
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, host_header)
            .header(header::USER_AGENT, "Docker-Client/28.2.2 (linux)");
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        for (k, v) in extra {
            req = req.header(*k, v.as_str());
        }
        if upgrade {
            req = req
                .header(header::CONNECTION, "Upgrade")
                .header(header::UPGRADE, "tcp");
        }
        let req = req
            .body(body)
            .map_err(|e| CliError::Protocol(e.to_string()))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| CliError::Protocol(e.to_string()))
    }

    /// Sends a request and turns an error status into [`CliError::Daemon`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
    ) -> Result<Response<Incoming>> {
        let resp = self
            .raw(method, path, body, content_type, false, true)
            .await?;
        check(resp).await
    }

    async fn json_call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let (b, ct) = match body {
            Some(v) => (json_body(v), Some("application/json")),
            None => (empty_body(), None),
        };
        let resp = self.request(method, path, b, ct).await?;
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| CliError::Protocol(e.to_string()))?
            .to_bytes();
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::Protocol(format!("invalid JSON from daemon: {e}")))
    }

    /// GET returning JSON.
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.json_call(Method::GET, path, None).await
    }

    /// POST with an optional JSON body, returning JSON (`Null` for an empty answer).
    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        self.json_call(Method::POST, path, body).await
    }

    /// DELETE returning JSON (`Null` for an empty answer).
    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.json_call(Method::DELETE, path, None).await
    }

    /// A request whose (successful) response body is read as a stream.
    pub async fn stream(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
    ) -> Result<Reader> {
        let resp = self.request(method, path, body, content_type).await?;
        Ok(body_reader(resp.into_body()))
    }

    /// Like [`stream`](Self::stream) with extra request headers (e.g. `X-Registry-Auth`).
    pub async fn stream_with(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
        headers: &[(&str, String)],
    ) -> Result<Reader> {
        let resp = self
            .raw_with(method, path, body, content_type, false, true, headers)
            .await?;
        let resp = check(resp).await?;
        Ok(body_reader(resp.into_body()))
    }

    /// POST with extra headers and a JSON body, returning JSON (`Null` for an empty answer).
    pub async fn post_with(
        &self,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> Result<Value> {
        let (b, ct) = match body {
            Some(v) => (json_body(v), Some("application/json")),
            None => (empty_body(), None),
        };
        let reader = self.stream_with(Method::POST, path, b, ct, headers).await?;
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut Box::pin(reader), &mut bytes).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::Protocol(format!("invalid JSON from daemon: {e}")))
    }

    /// Like [`stream`](Self::stream) but also returns the response headers.
    pub async fn stream_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<(http::HeaderMap, Reader)> {
        let resp = self.request(method, path, body, None).await?;
        let headers = resp.headers().clone();
        Ok((headers, body_reader(resp.into_body())))
    }

    /// POSTs `path` asking for a connection upgrade (attach, exec start).
    pub async fn hijack(&self, path: &str, body: Option<&Value>) -> Result<Hijacked> {
        let (b, ct) = match body {
            Some(v) => (json_body(v), Some("application/json")),
            None => (empty_body(), None),
        };
        let resp = self.raw(Method::POST, path, b, ct, true, true).await?;
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let upgraded = hyper::upgrade::on(resp)
                .await
                .map_err(|e| CliError::Protocol(e.to_string()))?;
            let (r, w) = tokio::io::split(TokioIo::new(upgraded));
            return Ok(Hijacked {
                reader: Box::pin(r),
                writer: Some(Box::pin(w)),
            });
        }
        let resp = check(resp).await?;
        Ok(Hijacked {
            reader: body_reader(resp.into_body()),
            writer: None,
        })
    }
}

/// Returns the response if its status is a success, else the daemon's error.
async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>> {
    let status = resp.status();
    if status.is_success() || status.is_informational() {
        return Ok(resp);
    }
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let mut message = error_message(&bytes);
    if message.is_empty() {
        message = status
            .canonical_reason()
            .unwrap_or("unknown error")
            .to_string();
    }
    Err(CliError::Daemon {
        status: status.as_u16(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            Host::parse("unix:///run/berth/berth.sock").ok(),
            Some(Host::Unix("/run/berth/berth.sock".into()))
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2375").ok(),
            Some(Host::Tcp("127.0.0.1:2375".into()))
        );
        assert_eq!(
            Host::parse("tcp://localhost").ok(),
            Some(Host::Tcp("localhost:2375".into()))
        );
        assert!(Host::parse("/tmp/x").is_err());
    }

    #[test]
    fn version_negotiation() {
        assert_eq!(negotiate(Some("1.41")), "1.41");
        assert_eq!(negotiate(Some("1.51")), "1.50");
        assert_eq!(negotiate(Some("1.50")), "1.50");
        assert_eq!(negotiate(None), "1.50");
        assert_eq!(negotiate(Some("garbage")), "1.50");
    }

    #[test]
    fn queries_and_errors() {
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[("name", "a b".into()), ("x", "1".into())]),
            "?name=a+b&x=1"
        );
        assert_eq!(
            error_message(br#"{"message":"No such container: x"}"#),
            "No such container: x"
        );
        assert_eq!(error_message(b"page not found\n"), "page not found");
        assert_eq!(esc("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000/a/b:1");
        assert_eq!(esc("a b"), "a%20b");
    }
}
