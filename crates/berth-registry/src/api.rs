//! The HTTP edge: every request is parsed into one [`Route`], authorized once, then executed
//! against the [`Store`]. Errors become spec error bodies in `ApiError::into_response` only.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::Digest;
use bytes::Bytes;

use crate::auth::{Access, Authenticator};
use crate::error::{ApiError, Code};
use crate::storage::{Store, media, valid_repo_name, valid_tag};

/// Largest manifest accepted (distribution uses 4 MiB as well).
const MAX_MANIFEST: usize = 4 << 20;

/// Shared state of the HTTP handlers.
pub struct AppState {
    /// Storage.
    pub store: Store,
    /// Authentication scheme.
    pub auth: Authenticator,
    /// `storage.delete.enabled`.
    pub delete_enabled: bool,
    /// Whether connections are TLS (for the token realm URL).
    pub tls: bool,
}

/// One parsed request target.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v1/search`.
    Search,
    /// `/token` (built-in issuer).
    Token,
    /// `/v2/<name>/blobs/uploads/`.
    UploadStart(String),
    /// `/v2/<name>/blobs/uploads/<id>`.
    Upload(String, String),
    /// `/v2/<name>/blobs/<digest>`.
    Blob(String, String),
    /// `/v2/<name>/manifests/<reference>`.
    Manifest(String, String),
    /// `/v2/<name>/tags/list`.
    Tags(String),
    /// `/v2/<name>/referrers/<digest>`.
    Referrers(String, String),
}

impl Route {
    /// Parses a (percent-decoded) path; `None` when it is no registry endpoint.
    pub fn parse(path: &str) -> Option<Route> {
        match path {
            "/v2" | "/v2/" => return Some(Route::Base),
            "/v2/_catalog" => return Some(Route::Catalog),
            "/v1/search" => return Some(Route::Search),
            "/token" => return Some(Route::Token),
            _ => {}
        }
        let rest = path.strip_prefix("/v2/")?;
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return Some(Route::Tags(name.into()));
        }
        if let Some(name) = rest
            .strip_suffix("/blobs/uploads/")
            .or_else(|| rest.strip_suffix("/blobs/uploads"))
        {
            return Some(Route::UploadStart(name.into()));
        }
        for (sep, make) in [
            (
                "/blobs/uploads/",
                Route::Upload as fn(String, String) -> Route,
            ),
            ("/blobs/", Route::Blob),
            ("/manifests/", Route::Manifest),
            ("/referrers/", Route::Referrers),
        ] {
            if let Some(i) = rest.rfind(sep) {
                let (name, tail) = (&rest[..i], &rest[i + sep.len()..]);
                if tail.is_empty() || tail.contains('/') {
                    return None;
                }
                return Some(make(name.into(), tail.into()));
            }
        }
        None
    }

    fn name(&self) -> Option<&str> {
        match self {
            Route::UploadStart(n)
            | Route::Upload(n, _)
            | Route::Blob(n, _)
            | Route::Manifest(n, _)
            | Route::Tags(n)
            | Route::Referrers(n, _) => Some(n),
            _ => None,
        }
    }

    /// The permission a method on this route needs (`None`: any authenticated caller).
    fn access(&self, method: &Method) -> Option<Access> {
        match self {
            Route::Base | Route::Token => None,
            Route::Catalog | Route::Search => Some(Access::catalog()),
            _ => {
                let name = self.name()?;
                let action = match *method {
                    Method::GET | Method::HEAD => "pull",
                    Method::DELETE if !matches!(self, Route::Upload(..)) => "delete",
                    _ => "push",
                };
                Some(Access::repo(name, action))
            }
        }
    }
}

/// Builds the router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .fallback(dispatch)
        .layer(axum::middleware::map_response(add_api_version))
        .with_state(state)
}

async fn add_api_version(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

/// Decoded query parameters in order.
struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
    }
    fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

async fn dispatch(State(st): State<Arc<AppState>>, req: Request) -> Response {
    match handle(&st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn not_found() -> ApiError {
    ApiError::new(Code::Unsupported)
        .message("no such endpoint")
        .status(StatusCode::NOT_FOUND)
}

fn method_not_allowed() -> ApiError {
    ApiError::new(Code::Unsupported)
}

async fn handle(st: &AppState, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let path = percent_encoding::percent_decode_str(parts.uri.path())
        .decode_utf8()
        .map_err(|_| not_found())?
        .into_owned();
    let route = Route::parse(&path).ok_or_else(not_found)?;
    if let Some(name) = route.name()
        && !valid_repo_name(name)
    {
        return Err(ApiError::new(Code::NameInvalid).detail(serde_json::json!({"name": name})));
    }
    let query = Query(
        url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
    );
    let method = parts.method.clone();
    let headers = parts.headers;
    if route != Route::Token {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let origin = format!("{}://{host}", if st.tls { "https" } else { "http" });
        st.auth
            .check(&headers, route.access(&method).as_ref(), &origin)?;
    }
    match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => Ok(json_response(StatusCode::OK, "{}")),
        (Route::Catalog, Method::GET) => catalog(st, &query).await,
        (Route::Search, Method::GET) => search(st, &query).await,
        (Route::Token, Method::GET) => {
            let issuer = st.auth.builtin_issuer().ok_or_else(not_found)?;
            let tok = issuer.issue(&headers, &query.all("scope"))?;
            Ok(json_response(StatusCode::OK, tok.to_string()))
        }
        (Route::Token, Method::POST) => {
            let issuer = st.auth.builtin_issuer().ok_or_else(not_found)?;
            let form = axum::body::to_bytes(body, 64 * 1024)
                .await
                .map_err(|_| ApiError::new(Code::Unsupported).status(StatusCode::BAD_REQUEST))?;
            let form = Query(url::form_urlencoded::parse(&form).into_owned().collect());
            if form.get("grant_type") != Some("password") {
                return Err(ApiError::new(Code::Unsupported)
                    .message("only grant_type=password is supported")
                    .status(StatusCode::BAD_REQUEST));
            }
            let creds = match (form.get("username"), form.get("password")) {
                (Some(u), Some(p)) => Some((u.to_string(), p.to_string())),
                _ => None,
            };
            // OAuth2 sends scopes space-separated in one field.
            let scopes: Vec<String> = form
                .all("scope")
                .iter()
                .flat_map(|s| s.split(' ').map(str::to_string).collect::<Vec<_>>())
                .filter(|s| !s.is_empty())
                .collect();
            let tok = issuer.issue_for(creds, &scopes)?;
            Ok(json_response(StatusCode::OK, tok.to_string()))
        }
        (Route::Tags(n), Method::GET) => tags(st, &n, &query).await,
        (Route::Blob(n, d), m @ (Method::GET | Method::HEAD)) => {
            get_blob(st, &n, &d, &headers, m == Method::HEAD).await
        }
        (Route::Blob(n, d), Method::DELETE) => delete_blob(st, &n, &d).await,
        (Route::UploadStart(n), Method::POST) => start_upload(st, &n, &query, body).await,
        (Route::Upload(n, id), Method::GET) => {
            let size = st.store.upload_size(&n, &id).await?;
            Ok(upload_progress(StatusCode::NO_CONTENT, &n, &id, size))
        }
        (Route::Upload(n, id), Method::PATCH) => {
            let start = content_range_start(&headers)?;
            let size = st
                .store
                .append_upload(&n, &id, start, body.into_data_stream())
                .await?;
            Ok(upload_progress(StatusCode::ACCEPTED, &n, &id, size))
        }
        (Route::Upload(n, id), Method::PUT) => {
            let digest = query_digest(&query)?;
            st.store
                .append_upload(&n, &id, None, body.into_data_stream())
                .await?;
            st.store.finish_upload(&n, &id, &digest).await?;
            Ok(blob_created(&n, &digest))
        }
        (Route::Upload(n, id), Method::DELETE) => {
            st.store.cancel_upload(&n, &id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Route::Manifest(n, r), m @ (Method::GET | Method::HEAD)) => {
            get_manifest(st, &n, &r, m == Method::HEAD).await
        }
        (Route::Manifest(n, r), Method::PUT) => put_manifest(st, &n, &r, &headers, body).await,
        (Route::Manifest(n, r), Method::DELETE) => delete_manifest(st, &n, &r).await,
        (Route::Referrers(n, d), Method::GET) => referrers(st, &n, &d, &query).await,
        _ => Err(method_not_allowed()),
    }
}

fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.into(),
    )
        .into_response()
}

fn hv(s: &str) -> HeaderValue {
    // Values are built from validated names, digests and numbers, so they are always legal.
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    s.parse::<Digest>().map_err(|_| {
        ApiError::new(Code::DigestInvalid)
            .message("invalid digest")
            .detail(serde_json::json!({"digest": s}))
    })
}

fn query_digest(q: &Query) -> Result<Digest, ApiError> {
    match q.get("digest") {
        Some(d) => parse_digest(d),
        None => Err(ApiError::new(Code::DigestInvalid).message("digest parameter missing")),
    }
}

fn blob_created(name: &str, d: &Digest) -> Response {
    let mut r = StatusCode::CREATED.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, hv(&format!("/v2/{name}/blobs/{d}")));
    h.insert("docker-content-digest", hv(&d.to_string()));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

fn upload_progress(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    let mut r = status.into_response();
    let h = r.headers_mut();
    h.insert(
        header::LOCATION,
        hv(&format!("/v2/{name}/blobs/uploads/{id}")),
    );
    h.insert(header::RANGE, hv(&format!("0-{}", size.saturating_sub(1))));
    h.insert("docker-upload-uuid", hv(id));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

/// `Content-Range: <start>-<end>` (also tolerating a `bytes ` prefix and `/total` suffix).
fn content_range_start(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(Code::RangeInvalid)
            .detail(serde_json::json!({"content-range": v.to_str().unwrap_or("")}))
    };
    let s = v.to_str().map_err(|_| bad())?;
    let s = s.trim_start_matches("bytes").trim_start_matches([' ', '=']);
    let s = s.split('/').next().unwrap_or("");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if b < a {
        return Err(bad());
    }
    Ok(Some(a))
}

async fn start_upload(
    st: &AppState,
    name: &str,
    q: &Query,
    body: Body,
) -> Result<Response, ApiError> {
    if let (Some(mount), Some(from)) = (q.get("mount"), q.get("from")) {
        let d = parse_digest(mount)?;
        if valid_repo_name(from) && st.store.repo_blob_size(from, &d).await?.is_some() {
            st.store.link_blob(name, &d).await?;
            return Ok(blob_created(name, &d));
        }
        // Not mountable: the spec says to fall back to starting an ordinary upload.
    }
    if q.get("mount").is_none()
        && let Some(d) = q.get("digest")
    {
        let d = parse_digest(d)?;
        let id = st.store.start_upload(name).await?;
        if let Err(e) = st
            .store
            .append_upload(name, &id, None, body.into_data_stream())
            .await
        {
            let _ = st.store.cancel_upload(name, &id).await;
            return Err(e);
        }
        st.store.finish_upload(name, &id, &d).await?;
        return Ok(blob_created(name, &d));
    }
    let id = st.store.start_upload(name).await?;
    Ok(upload_progress(StatusCode::ACCEPTED, name, &id, 0))
}

/// Parses a single `Range: bytes=a-b | a- | -n` against `size`; `Err` when unsatisfiable.
fn parse_range(v: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Multipart ranges are optional; serve the whole blob instead.
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end: u64 = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if start >= size || end < start {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn get_blob(
    st: &AppState,
    name: &str,
    d: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, ApiError> {
    let d = parse_digest(d)?;
    let Some(size) = st.store.repo_blob_size(name, &d).await? else {
        return Err(
            ApiError::new(Code::BlobUnknown).detail(serde_json::json!({"digest": d.to_string()}))
        );
    };
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) => match parse_range(v, size) {
            Ok(r) => r,
            Err(()) => {
                let mut e = ApiError::new(Code::RangeInvalid);
                e = e.header(header::CONTENT_RANGE, hv(&format!("bytes */{size}")));
                return Err(e);
            }
        },
        None => None,
    };
    let (status, start, len) = match range {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        None => (StatusCode::OK, 0, size),
    };
    let body = if head {
        Body::empty()
    } else {
        Body::from_stream(st.store.blob_stream(&d, start, len).await?)
    };
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, hv(&len.to_string()));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert("docker-content-digest", hv(&d.to_string()));
    h.insert(header::ETAG, hv(&format!("\"{d}\"")));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            hv(&format!("bytes {start}-{}/{size}", start + len - 1)),
        );
    }
    Ok(r)
}

async fn delete_blob(st: &AppState, name: &str, d: &str) -> Result<Response, ApiError> {
    if !st.delete_enabled {
        return Err(ApiError::new(Code::Unsupported));
    }
    let d = parse_digest(d)?;
    if !st.store.unlink_blob(name, &d).await? {
        return Err(
            ApiError::new(Code::BlobUnknown).detail(serde_json::json!({"digest": d.to_string()}))
        );
    }
    let mut r = StatusCode::ACCEPTED.into_response();
    r.headers_mut()
        .insert("docker-content-digest", hv(&d.to_string()));
    Ok(r)
}

fn manifest_unknown(name: &str, reference: &str) -> ApiError {
    ApiError::new(Code::ManifestUnknown)
        .detail(serde_json::json!({"name": name, "reference": reference}))
}

async fn get_manifest(
    st: &AppState,
    name: &str,
    reference: &str,
    head: bool,
) -> Result<Response, ApiError> {
    if reference.contains(':') {
        parse_digest(reference)?;
    } else if !valid_tag(reference) {
        return Err(
            ApiError::new(Code::ManifestUnknown).detail(serde_json::json!({"tag": reference}))
        );
    }
    let Some(m) = st.store.get_manifest(name, reference).await? else {
        return Err(manifest_unknown(name, reference));
    };
    let len = m.bytes.len();
    let body = if head {
        Body::empty()
    } else {
        Body::from(m.bytes)
    };
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, hv(&m.media_type));
    h.insert(header::CONTENT_LENGTH, hv(&len.to_string()));
    h.insert("docker-content-digest", hv(&m.digest.to_string()));
    h.insert(header::ETAG, hv(&format!("\"{}\"", m.digest)));
    Ok(r)
}

fn invalid_manifest(msg: impl Into<String>) -> ApiError {
    ApiError::new(Code::ManifestInvalid).detail(serde_json::Value::String(msg.into()))
}

fn descriptor_digest(v: &serde_json::Value) -> Result<Digest, ApiError> {
    let s = v
        .get("digest")
        .and_then(|d| d.as_str())
        .ok_or_else(|| invalid_manifest("descriptor without digest"))?;
    s.parse::<Digest>()
        .map_err(|_| invalid_manifest(format!("invalid descriptor digest {s}")))
}

async fn put_manifest(
    st: &AppState,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let tag = if reference.contains(':') {
        None
    } else if valid_tag(reference) {
        Some(reference)
    } else {
        return Err(ApiError::new(Code::TagInvalid)
            .message("invalid tag")
            .detail(serde_json::json!({"tag": reference})));
    };
    let bytes: Bytes = axum::body::to_bytes(body, MAX_MANIFEST)
        .await
        .map_err(|_| invalid_manifest("manifest too large or unreadable"))?;
    let digest = Digest::of(&bytes);
    if tag.is_none() {
        let want = parse_digest(reference)?;
        if want != digest {
            return Err(ApiError::new(Code::DigestInvalid).detail(
                serde_json::json!({"expected": want.to_string(), "actual": digest.to_string()}),
            ));
        }
    }
    let doc: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| invalid_manifest(format!("invalid JSON: {e}")))?;
    if !doc.is_object() {
        return Err(invalid_manifest("manifest is not a JSON object"));
    }
    if doc.get("schemaVersion").and_then(|v| v.as_u64()) != Some(2) {
        return Err(invalid_manifest(
            "only schemaVersion 2 manifests are supported",
        ));
    }
    let header_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .filter(|v| !v.is_empty() && v != "application/octet-stream");
    let body_type = doc
        .get("mediaType")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    if let (Some(h), Some(b)) = (&header_type, &body_type)
        && h != b
    {
        return Err(invalid_manifest(format!(
            "Content-Type {h} does not match mediaType {b}"
        )));
    }
    let is_index = doc.get("manifests").is_some();
    let media_type = header_type.or(body_type).unwrap_or_else(|| {
        if is_index {
            media::OCI_INDEX.to_string()
        } else {
            media::OCI_MANIFEST.to_string()
        }
    });
    let missing = |d: &Digest| {
        ApiError::new(Code::ManifestBlobUnknown)
            .detail(serde_json::json!({"digest": d.to_string()}))
    };
    if is_index {
        let list = doc["manifests"]
            .as_array()
            .ok_or_else(|| invalid_manifest("manifests is not an array"))?;
        for m in list {
            let d = descriptor_digest(m)?;
            if st.store.resolve(name, &d.to_string()).await?.is_none() {
                return Err(missing(&d));
            }
        }
    } else {
        let config = doc
            .get("config")
            .ok_or_else(|| invalid_manifest("image manifest without config"))?;
        let mut needed = vec![descriptor_digest(config)?];
        for l in doc
            .get("layers")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            // Foreign (non-distributable) layers live elsewhere and are not required here.
            if l.get("urls")
                .and_then(|u| u.as_array())
                .is_some_and(|u| !u.is_empty())
            {
                continue;
            }
            needed.push(descriptor_digest(l)?);
        }
        for d in needed {
            if st.store.repo_blob_size(name, &d).await?.is_none() {
                return Err(missing(&d));
            }
        }
    }
    st.store
        .put_manifest(name, &digest, &media_type, &bytes, tag)
        .await?;
    let mut r = StatusCode::CREATED.into_response();
    if let Some(subject) = doc.get("subject") {
        let sd = descriptor_digest(subject)?;
        let artifact_type = doc
            .get("artifactType")
            .cloned()
            .or_else(|| doc.get("config").and_then(|c| c.get("mediaType")).cloned())
            .unwrap_or(serde_json::Value::Null);
        let mut desc = serde_json::json!({
            "mediaType": media_type,
            "digest": digest.to_string(),
            "size": bytes.len(),
        });
        if !artifact_type.is_null() {
            desc["artifactType"] = artifact_type;
        }
        if let Some(a) = doc.get("annotations") {
            desc["annotations"] = a.clone();
        }
        st.store.add_referrer(name, &sd, &digest, &desc).await?;
        r.headers_mut().insert("oci-subject", hv(&sd.to_string()));
    }
    let h = r.headers_mut();
    h.insert(
        header::LOCATION,
        hv(&format!("/v2/{name}/manifests/{digest}")),
    );
    h.insert("docker-content-digest", hv(&digest.to_string()));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    Ok(r)
}

async fn delete_manifest(st: &AppState, name: &str, reference: &str) -> Result<Response, ApiError> {
    if !st.delete_enabled {
        return Err(ApiError::new(Code::Unsupported));
    }
    let found = if reference.contains(':') {
        let d = parse_digest(reference)?;
        st.store.delete_manifest(name, &d).await?
    } else {
        valid_tag(reference) && st.store.delete_tag(name, reference).await?
    };
    if !found {
        return Err(manifest_unknown(name, reference));
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Applies `n`/`last` pagination; returns the page and whether more entries follow.
fn paginate(all: Vec<String>, q: &Query) -> Result<(Vec<String>, bool, Option<usize>), ApiError> {
    let n = match q.get("n") {
        Some(s) => Some(s.parse::<usize>().map_err(|_| {
            ApiError::new(Code::Unsupported)
                .message("invalid n")
                .status(StatusCode::BAD_REQUEST)
        })?),
        None => None,
    };
    let mut items: Vec<String> = match q.get("last") {
        Some(last) => all.into_iter().filter(|t| t.as_str() > last).collect(),
        None => all,
    };
    let more = n.is_some_and(|n| items.len() > n);
    if let Some(n) = n {
        items.truncate(n);
    }
    Ok((items, more, n))
}

fn link_header(r: &mut Response, base: &str, n: Option<usize>, last: Option<&String>) {
    if let (Some(n), Some(last)) = (n, last) {
        let enc: String = url::form_urlencoded::byte_serialize(last.as_bytes()).collect();
        r.headers_mut().insert(
            header::LINK,
            hv(&format!("<{base}?n={n}&last={enc}>; rel=\"next\"")),
        );
    }
}

async fn tags(st: &AppState, name: &str, q: &Query) -> Result<Response, ApiError> {
    if !st.store.repo_exists(name).await? {
        return Err(ApiError::new(Code::NameUnknown).detail(serde_json::json!({"name": name})));
    }
    let (page, more, n) = paginate(st.store.tags(name).await?, q)?;
    let body = serde_json::json!({"name": name, "tags": page});
    let mut r = json_response(StatusCode::OK, body.to_string());
    if more {
        link_header(&mut r, &format!("/v2/{name}/tags/list"), n, page.last());
    }
    Ok(r)
}

async fn catalog(st: &AppState, q: &Query) -> Result<Response, ApiError> {
    let (page, more, n) = paginate(st.store.repositories().await?, q)?;
    let body = serde_json::json!({"repositories": page});
    let mut r = json_response(StatusCode::OK, body.to_string());
    if more {
        link_header(&mut r, "/v2/_catalog", n, page.last());
    }
    Ok(r)
}

async fn referrers(st: &AppState, name: &str, d: &str, q: &Query) -> Result<Response, ApiError> {
    let subject = parse_digest(d)?;
    let mut list = st.store.referrers(name, &subject).await?;
    let filter = q.get("artifactType");
    if let Some(t) = filter {
        list.retain(|desc| desc.get("artifactType").and_then(|v| v.as_str()) == Some(t));
    }
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": list,
    });
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, media::OCI_INDEX)],
        body.to_string(),
    )
        .into_response();
    if filter.is_some() {
        r.headers_mut().insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(r)
}

async fn search(st: &AppState, q: &Query) -> Result<Response, ApiError> {
    let n = q
        .get("n")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(25)
        .clamp(1, 100);
    let body = crate::search::search(&st.store, q.get("q").unwrap_or(""), n).await?;
    Ok(json_response(StatusCode::OK, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::parse("/v2/"), Some(Route::Base));
        assert_eq!(
            Route::parse("/v2/a/b/blobs/uploads/"),
            Some(Route::UploadStart("a/b".into()))
        );
        assert_eq!(
            Route::parse("/v2/a/blobs/uploads/abc"),
            Some(Route::Upload("a".into(), "abc".into()))
        );
        assert_eq!(
            Route::parse("/v2/x/manifests/y/blobs/sha256:1"),
            Some(Route::Blob("x/manifests/y".into(), "sha256:1".into()))
        );
        assert_eq!(
            Route::parse("/v2/a/b/manifests/latest"),
            Some(Route::Manifest("a/b".into(), "latest".into()))
        );
        assert_eq!(
            Route::parse("/v2/a/tags/list"),
            Some(Route::Tags("a".into()))
        );
        assert_eq!(Route::parse("/v3/a"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("items=1-2", 100), Ok(None));
    }
}
