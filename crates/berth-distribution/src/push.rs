//! `docker push`: gzip layers (cached), skip existing blobs, mount across repositories,
//! upload config, then the Docker schema2 manifest.

use std::path::PathBuf;
use std::sync::Arc;

use berth_core::{Digest, Reference};
use berth_image::{BlobMapping, ImageRecord, ImageStore};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::pull::{MT_DOCKER_MANIFEST, parse_reference};
use crate::session::{Session, registry_error_text};
use crate::{AuthConfig, Client, DistError, Progress};

const MT_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Layers uploaded at once.
const PARALLEL: usize = 3;
/// Attempts per blob upload (dockerd's maxUploadAttempts).
const MAX_UPLOAD_ATTEMPTS: u32 = 5;

fn id_status(status: &str, id: &str) -> Progress {
    Progress::IdStatus {
        status: status.to_string(),
        id: id.to_string(),
    }
}

/// What an upload sends.
#[derive(Clone)]
enum Body {
    File(PathBuf),
    Bytes(Vec<u8>),
}

struct PushCtx<'a> {
    sess: Session,
    r: Reference,
    /// Base pause between upload attempts (grows linearly).
    retry_delay: std::time::Duration,
    progress: &'a (dyn Fn(Progress) + Send + Sync),
}

impl PushCtx<'_> {
    async fn fail(&self, resp: reqwest::Response) -> DistError {
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        let text = registry_error_text(&body);
        match status {
            StatusCode::UNAUTHORIZED => DistError::Unauthorized(
                text.unwrap_or_else(|| "unauthorized: authentication required".into()),
            ),
            StatusCode::FORBIDDEN => DistError::Denied(
                text.unwrap_or_else(|| "denied: requested access to the resource is denied".into()),
            ),
            s => DistError::Protocol(text.unwrap_or_else(|| {
                format!(
                    "received unexpected HTTP status: {} {}",
                    s.as_u16(),
                    s.canonical_reason().unwrap_or("")
                )
            })),
        }
    }

    /// Whether the target repository already has the blob.
    async fn exists(&self, digest: &Digest) -> Result<bool, DistError> {
        let path = format!("/v2/{}/blobs/{digest}", self.r.path);
        let resp = self.sess.send(Method::HEAD, &path, |b| b).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.fail(resp).await),
        }
    }

    /// Tries a cross-repository mount; true when the registry mounted it.
    async fn mount(&self, digest: &Digest, from: &str) -> Result<bool, DistError> {
        let path = format!(
            "/v2/{}/blobs/uploads/?mount={digest}&from={from}",
            self.r.path
        );
        let resp = self.sess.send(Method::POST, &path, |b| b).await?;
        if resp.status() == StatusCode::CREATED {
            return Ok(true);
        }
        // 202 means the registry started a normal upload instead; abandon it.
        if resp.status() == StatusCode::ACCEPTED
            && let Some(loc) = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
        {
            let url = self.sess.absolute(loc);
            let _ = self.sess.send(Method::DELETE, &url, |b| b).await;
        }
        Ok(false)
    }

    /// Uploads a blob, restarting the upload session (a new POST) when an attempt fails in
    /// transit or the registry answers 5xx, up to [`MAX_UPLOAD_ATTEMPTS`] in all, like
    /// dockerd's layer upload retries. Refusals (auth, bad digest) are not retried.
    async fn upload(
        &self,
        digest: &Digest,
        size: u64,
        body: Body,
        id: Option<&str>,
    ) -> Result<(), DistError> {
        let mut attempt = 1u32;
        loop {
            match self.upload_once(digest, size, body.clone(), id).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < MAX_UPLOAD_ATTEMPTS && retryable(&e) => {
                    let wait = self.retry_delay * attempt;
                    if let Some(id) = id {
                        (self.progress)(id_status(
                            &format!(
                                "Retrying in {} second{}",
                                wait.as_secs(),
                                if wait.as_secs() == 1 { "" } else { "s" }
                            ),
                            id,
                        ));
                    }
                    tracing::info!(%digest, attempt, "blob upload failed, retrying: {e}");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One POST + monolithic PUT of a blob, reporting "Pushing" under `id`.
    async fn upload_once(
        &self,
        digest: &Digest,
        size: u64,
        body: Body,
        id: Option<&str>,
    ) -> Result<(), DistError> {
        let path = format!("/v2/{}/blobs/uploads/", self.r.path);
        let resp = self.sess.send(Method::POST, &path, |b| b).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.fail(resp).await);
        }
        let loc = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| DistError::Protocol("upload without Location".into()))?;
        let mut url = url::Url::parse(&self.sess.absolute(loc))
            .map_err(|e| DistError::Protocol(format!("bad upload location: {e}")))?;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        // The body stream must be 'static, so it reports byte counts over a channel that this
        // task drains into `progress` while the request runs.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let body = match body {
            Body::Bytes(b) => reqwest::Body::from(b),
            Body::File(p) => {
                let f = tokio::fs::File::open(&p)
                    .await
                    .map_err(|e| DistError::Io(format!("opening {}: {e}", p.display())))?;
                let mut sent = 0u64;
                let stream = file_stream(f).map(move |chunk| {
                    if let Ok(c) = &chunk {
                        sent += c.len() as u64;
                        let _ = tx.send(sent);
                    }
                    chunk
                });
                reqwest::Body::wrap_stream(stream)
            }
        };
        let send = self.sess.send(Method::PUT, url.as_str(), |b| {
            b.header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::CONTENT_LENGTH, size)
                .body(body)
        });
        tokio::pin!(send);
        let mut last = 0u64;
        let resp = loop {
            tokio::select! {
                r = &mut send => break r?,
                Some(n) = rx.recv() => {
                    if let Some(id) = id
                        && (n - last >= 512 * 1024 || n == size)
                    {
                        last = n;
                        (self.progress)(Progress::Bytes {
                            status: "Pushing".into(),
                            id: id.to_string(),
                            current: n,
                            total: Some(size),
                        });
                    }
                }
            }
        };
        if resp.status() != StatusCode::CREATED {
            let server_side = resp.status().is_server_error();
            let e = self.fail(resp).await;
            // A 5xx is worth another try; keep the registry's words for the last one.
            return Err(if server_side {
                DistError::Transport(e.to_string())
            } else {
                e
            });
        }
        Ok(())
    }
}

/// Whether a failed upload attempt may succeed if started again.
fn retryable(e: &DistError) -> bool {
    matches!(e, DistError::Transport(_))
}

/// Reads a file as a stream of chunks (1 MiB).
fn file_stream(
    f: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    futures_util::stream::unfold(f, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    })
}

impl Client {
    /// Pushes the local image `reference` and returns the manifest digest string.
    /// Emits Docker's progress lines, ending with `<tag>: digest: sha256:... size: N` and the
    /// `aux` push result.
    pub async fn push(
        &self,
        store: &Arc<ImageStore>,
        reference: &str,
        auth: Option<&AuthConfig>,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<String, DistError> {
        let r = parse_reference(reference)?;
        let local = local_image(store, &r).await?;
        progress(Progress::Status(format!(
            "The push refers to repository [{}]",
            r.repository()
        )));
        self.push_tag(store, &r, &local, auth, progress).await
    }

    /// `docker push --all-tags` (and `POST /images/{name}/push` without `tag`): pushes every
    /// local tag of the repository `name`, in lexical order like dockerd, under one
    /// `The push refers to repository` line. A `name` with a tag or digest pushes just that.
    /// Returns `(familiar tagged reference, manifest digest)` per tag pushed.
    pub async fn push_all_tags(
        &self,
        store: &Arc<ImageStore>,
        name: &str,
        auth: Option<&AuthConfig>,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Vec<(String, String)>, DistError> {
        let raw = Reference::parse(name).map_err(|e| DistError::Invalid(e.to_string()))?;
        if raw.digest.is_some() {
            return Err(DistError::Invalid("cannot push a digest reference".into()));
        }
        if raw.tag.is_some() {
            let d = self.push(store, name, auth, progress).await?;
            return Ok(vec![(raw.familiar_string(), d)]);
        }
        let repo = raw.repository();
        let tags = {
            let st = store.clone();
            let repo = repo.clone();
            tokio::task::spawn_blocking(move || local_tags(&st, &repo))
                .await
                .map_err(|e| DistError::Io(e.to_string()))?
        };
        if tags.is_empty() {
            return Err(DistError::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                raw.familiar_repository()
            )));
        }
        progress(Progress::Status(format!(
            "The push refers to repository [{repo}]"
        )));
        let mut out = Vec::new();
        for (r, local) in tags {
            let d = self.push_tag(store, &r, &local, auth, progress).await?;
            out.push((r.familiar_string(), d));
        }
        Ok(out)
    }

    /// Pushes one tag of a local image (after the `The push refers to` line).
    async fn push_tag(
        &self,
        store: &Arc<ImageStore>,
        r: &Reference,
        local: &ImageRecord,
        auth: Option<&AuthConfig>,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<String, DistError> {
        let r = r.clone();
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let mut sess = Session::open(self, &crate::session::api_host(&r.domain), auth).await?;
        let host_repo = |path: &str| format!("{}/{path}", r.domain);
        // Sources on the same registry we may mount from need pull access too.
        let diff_ids = local.config.rootfs.diff_ids.clone();
        let mut mounts: Vec<Option<String>> = Vec::new();
        let mut scopes = vec![format!("repository:{}:pull,push", r.path)];
        for d in &diff_ids {
            let from = store.blob_mapping(d).and_then(|m| {
                m.sources.iter().find_map(|s| {
                    let (host, path) = s.split_once('/')?;
                    (host == r.domain && path != r.path).then(|| path.to_string())
                })
            });
            if let Some(f) = &from {
                let s = format!("repository:{f}:pull");
                if !scopes.contains(&s) {
                    scopes.push(s);
                }
            }
            mounts.push(from);
        }
        sess.authorize(&scopes).await?;
        let ctx = PushCtx {
            sess,
            retry_delay: self.retry_delay,
            r: r.clone(),
            progress,
        };

        // Docker lists layers top first.
        let order: Vec<usize> = (0..diff_ids.len()).rev().collect();
        for &i in &order {
            progress(id_status("Preparing", &short(&diff_ids[i])));
        }
        for &i in order.iter().skip(PARALLEL) {
            progress(id_status("Waiting", &short(&diff_ids[i])));
        }
        let ctx_ref = &ctx;
        let results: Vec<Result<(usize, BlobMapping), DistError>> =
            futures_util::stream::iter(order.iter().copied())
                .map(|i| {
                    let diff = diff_ids[i].clone();
                    let from = mounts[i].clone();
                    let st = store.clone();
                    async move {
                        let id = short(&diff);
                        // A compressed form known from an earlier pull or push may already be
                        // in the registry, or mountable, without having the blob locally.
                        let known = st.blob_mapping(&diff);
                        if let Some(k) = &known {
                            if ctx_ref.exists(&k.digest).await? {
                                (ctx_ref.progress)(id_status("Layer already exists", &id));
                                return Ok((i, k.clone()));
                            }
                            if let Some(from) = from.as_deref()
                                && ctx_ref.mount(&k.digest, from).await?
                            {
                                (ctx_ref.progress)(id_status(&format!("Mounted from {from}"), &id));
                                return Ok((i, k.clone()));
                            }
                        }
                        let d2 = diff.clone();
                        let (m, path) =
                            tokio::task::spawn_blocking(move || st.compressed_layer(&d2))
                                .await
                                .map_err(|e| DistError::Io(e.to_string()))??;
                        let checked = known.as_ref().is_some_and(|k| k.digest == m.digest);
                        if !checked && ctx_ref.exists(&m.digest).await? {
                            (ctx_ref.progress)(id_status("Layer already exists", &id));
                        } else {
                            ctx_ref
                                .upload(&m.digest, m.size, Body::File(path), Some(&id))
                                .await?;
                            (ctx_ref.progress)(id_status("Pushed", &id));
                        }
                        Ok((i, m))
                    }
                })
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
        let mut layers: Vec<Option<BlobMapping>> = vec![None; diff_ids.len()];
        for res in results {
            let (i, m) = res?;
            layers[i] = Some(m);
        }
        let layers: Vec<BlobMapping> = layers.into_iter().flatten().collect();
        // Remember where each blob now lives, for mounts from this repository later.
        {
            let st = store.clone();
            let repo = host_repo(&r.path);
            let pairs: Vec<(Digest, BlobMapping)> = diff_ids
                .iter()
                .cloned()
                .zip(layers.iter().cloned())
                .collect();
            let _ = tokio::task::spawn_blocking(move || {
                for (d, mut m) in pairs {
                    if !m.sources.contains(&repo) {
                        m.sources.push(repo.clone());
                    }
                    let _ = st.record_blob_mapping(&d, m);
                }
            })
            .await;
        }

        let cfg_bytes = {
            let st = store.clone();
            let id = local.id.clone();
            tokio::task::spawn_blocking(move || st.raw_config(&id))
                .await
                .map_err(|e| DistError::Io(e.to_string()))??
        };
        let cfg_digest = Digest::of(&cfg_bytes);
        if !ctx.exists(&cfg_digest).await? {
            ctx.upload(
                &cfg_digest,
                cfg_bytes.len() as u64,
                Body::Bytes(cfg_bytes.clone()),
                None,
            )
            .await?;
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MT_DOCKER_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "size": cfg_bytes.len(), "digest": cfg_digest.to_string()},
            "layers": layers.iter().map(|m| json!({"mediaType": m.media_type, "size": m.size, "digest": m.digest.to_string()})).collect::<Vec<_>>(),
        });
        let body =
            serde_json::to_vec_pretty(&manifest).map_err(|e| DistError::Protocol(e.to_string()))?;
        let digest = Digest::of(&body);
        let size = body.len();
        let path = format!("/v2/{}/manifests/{tag}", r.path);
        let resp = ctx
            .sess
            .send(Method::PUT, &path, |b| {
                b.header(reqwest::header::CONTENT_TYPE, MT_DOCKER_MANIFEST)
                    .body(body)
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(ctx.fail(resp).await);
        }
        {
            let st = store.clone();
            let id = local.id.clone();
            let rd = format!("{}@{digest}", r.familiar_repository());
            let _ = tokio::task::spawn_blocking(move || st.add_repo_digest(&id, &rd)).await;
        }
        progress(Progress::Status(format!(
            "{tag}: digest: {digest} size: {size}"
        )));
        progress(Progress::PushResult {
            tag,
            digest: digest.to_string(),
            size: size as u64,
        });
        Ok(digest.to_string())
    }
}

/// The local image a push names (`An image does not exist locally with the tag: x`).
async fn local_image(store: &Arc<ImageStore>, r: &Reference) -> Result<ImageRecord, DistError> {
    let st = store.clone();
    let name = Reference {
        digest: None,
        ..r.clone()
    }
    .to_string();
    let shown = r.familiar_repository();
    tokio::task::spawn_blocking(move || st.get(&name))
        .await
        .map_err(|e| DistError::Io(e.to_string()))?
        .map_err(|_| {
            DistError::NotFound(format!(
                "An image does not exist locally with the tag: {shown}"
            ))
        })
}

/// Every local tag of repository `repo` (normalized `host/path`), sorted by tag.
fn local_tags(store: &ImageStore, repo: &str) -> Vec<(Reference, ImageRecord)> {
    let mut out: Vec<(Reference, ImageRecord)> = Vec::new();
    for rec in store.list() {
        for t in &rec.repo_tags {
            let Ok(r) = Reference::parse(t) else {
                continue;
            };
            if r.tag.is_some() && r.repository() == repo {
                out.push((r, rec.clone()));
            }
        }
    }
    out.sort_by(|a, b| a.0.tag.cmp(&b.0.tag));
    out
}

fn short(d: &Digest) -> String {
    d.hex().chars().take(12).collect()
}
