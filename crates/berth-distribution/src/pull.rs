//! `docker pull`: manifest (list) resolution, parallel verified layer downloads, one store write.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use berth_core::{Digest, Reference};
use berth_image::{ImageConfig, ImageRecord, ImageStore};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::session::{Session, api_host, registry_error_text};
use crate::{AuthConfig, Client, DistError, Progress};

pub(crate) const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MT_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const MT_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Manifests bigger than this are refused (as containerd does).
const MAX_MANIFEST: usize = 4 << 20;
/// Layers downloaded at once (Docker's default).
const PARALLEL: usize = 3;

/// A content descriptor.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub(crate) media_type: String,
    pub(crate) digest: String,
    #[serde(default)]
    pub(crate) size: u64,
    #[serde(default)]
    pub(crate) platform: Option<Platform>,
}

/// Platform of a manifest list entry.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ManifestDoc {
    #[serde(rename = "schemaVersion", default)]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

fn short(d: &str) -> String {
    let h = d.strip_prefix("sha256:").unwrap_or(d);
    h.chars().take(12).collect()
}

fn id_status(status: &str, id: &str) -> Progress {
    Progress::IdStatus {
        status: status.to_string(),
        id: id.to_string(),
    }
}

/// `(os, arch, variant)` wanted: `--platform` or this host.
fn wanted_platform(p: Option<&str>) -> Result<(String, String, Option<String>), DistError> {
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    };
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok(("linux".into(), host_arch.into(), None));
    };
    let parts: Vec<&str> = p.split('/').collect();
    match parts.as_slice() {
        [os] => Ok(((*os).into(), host_arch.into(), None)),
        [os, a] => Ok(((*os).into(), (*a).into(), None)),
        [os, a, v] => Ok(((*os).into(), (*a).into(), Some((*v).into()))),
        _ => Err(DistError::Invalid(format!(
            "\"{p}\": unknown operating system or architecture: invalid argument"
        ))),
    }
}

/// Picks the manifest for a platform from a list/index.
fn select(
    entries: &[Descriptor],
    want: &(String, String, Option<String>),
) -> Result<Descriptor, DistError> {
    let (os, arch, variant) = want;
    let matches = |d: &&Descriptor| {
        d.platform.as_ref().is_some_and(|p| {
            p.os == *os
                && p.architecture == *arch
                && match variant {
                    Some(v) => p.variant.as_deref() == Some(v.as_str()),
                    None => true,
                }
        })
    };
    // Prefer the arm64 v8 / no-variant entry when no variant was asked for.
    let mut hits: Vec<&Descriptor> = entries.iter().filter(matches).collect();
    hits.sort_by_key(|d| {
        d.platform
            .as_ref()
            .and_then(|p| p.variant.clone())
            .map_or(0, |v| if v == "v8" { 1 } else { 2 })
    });
    hits.first().map(|d| (*d).clone()).ok_or_else(|| {
        let shown = match variant {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        };
        DistError::NotFound(format!(
            "no matching manifest for {shown} in the manifest list entries"
        ))
    })
}

/// Progress sink shared by concurrent downloads.
type Sink<'a> = &'a (dyn Fn(Progress) + Send + Sync);

struct PullCtx<'a> {
    sess: Session,
    r: Reference,
    /// How Docker names the image in errors (`host/name:tag` / `busybox:latest`).
    shown: String,
    progress: Sink<'a>,
    has_creds: bool,
}

impl PullCtx<'_> {
    /// Maps a failed manifest/blob response to Docker's error.
    async fn fail(&self, resp: reqwest::Response, what_not_found: &str) -> DistError {
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        let text = registry_error_text(&body);
        match status {
            StatusCode::NOT_FOUND => DistError::NotFound(format!(
                "{what_not_found}: {}",
                text.unwrap_or_else(|| "manifest unknown: manifest unknown".into())
            )),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if self.has_creds => {
                DistError::Unauthorized(
                    text.unwrap_or_else(|| "unauthorized: authentication required".into()),
                )
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let mut m = format!(
                    "pull access denied for {}, repository does not exist or may require 'docker login'",
                    self.r.familiar_repository()
                );
                if let Some(t) = text {
                    m.push_str(": ");
                    m.push_str(&t);
                }
                DistError::Unauthorized(m)
            }
            s => DistError::Protocol(format!(
                "received unexpected HTTP status: {} {}{}",
                s.as_u16(),
                s.canonical_reason().unwrap_or(""),
                text.map(|t| format!(": {t}")).unwrap_or_default()
            )),
        }
    }

    /// GETs a manifest by tag or digest; returns (bytes, digest, media type).
    async fn manifest(&self, tag_or_digest: &str) -> Result<(Vec<u8>, Digest, String), DistError> {
        let path = format!("/v2/{}/manifests/{tag_or_digest}", self.r.path);
        let accept = [
            MT_DOCKER_MANIFEST,
            MT_DOCKER_LIST,
            MT_OCI_MANIFEST,
            MT_OCI_INDEX,
            MT_SCHEMA1_SIGNED,
        ]
        .join(", ");
        let resp = self
            .sess
            .send(Method::GET, &path, |r| r.header("Accept", accept))
            .await?;
        if !resp.status().is_success() {
            let nf = format!("manifest for {} not found", self.shown);
            return Err(self.fail(resp, &nf).await);
        }
        let ct = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let body = read_limited(resp, MAX_MANIFEST).await?;
        let digest = Digest::of(&body);
        if let Ok(want) = tag_or_digest.parse::<Digest>()
            && want != digest
        {
            return Err(DistError::Protocol(format!(
                "manifest verification failed for digest {want}"
            )));
        }
        Ok((body, digest, ct))
    }

    /// Downloads a blob into `out`, verifying its digest; reports bytes under `id` if given.
    async fn blob_to(
        &self,
        digest: &str,
        size: Option<u64>,
        out: &mut std::fs::File,
        id: Option<&str>,
    ) -> Result<u64, DistError> {
        let want: Digest = digest
            .parse()
            .map_err(|_| DistError::Protocol(format!("invalid digest {digest}")))?;
        let path = format!("/v2/{}/blobs/{digest}", self.r.path);
        let resp = self.sess.send(Method::GET, &path, |r| r).await?;
        if !resp.status().is_success() {
            let nf = format!("blob {digest} not found");
            return Err(self.fail(resp, &nf).await);
        }
        let total = size.filter(|s| *s > 0).or(resp.content_length());
        let mut hasher = Sha256::new();
        let mut done = 0u64;
        let mut last_report = 0u64;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                DistError::Transport(format!("error pulling image configuration: {e}"))
            })?;
            hasher.update(&chunk);
            out.write_all(&chunk)
                .map_err(|e| DistError::Io(format!("writing download: {e}")))?;
            done += chunk.len() as u64;
            if let Some(id) = id
                && (done - last_report >= 512 * 1024 || Some(done) == total)
            {
                last_report = done;
                (self.progress)(Progress::Bytes {
                    status: "Downloading".into(),
                    id: id.to_string(),
                    current: done,
                    total,
                });
            }
        }
        if let Some(id) = id {
            (self.progress)(id_status("Verifying Checksum", id));
        }
        let got = Digest::from_hasher(hasher);
        if got != want {
            return Err(DistError::Protocol(format!(
                "filesystem layer verification failed for digest {want}"
            )));
        }
        Ok(done)
    }
}

async fn read_limited(resp: reqwest::Response, max: usize) -> Result<Vec<u8>, DistError> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| DistError::Transport(e.to_string()))?;
        if out.len() + chunk.len() > max {
            return Err(DistError::Protocol("manifest too large".into()));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Parses a user's reference (`busybox`, `host:5000/x:tag`, `x@sha256:..`).
pub(crate) fn parse_reference(s: &str) -> Result<Reference, DistError> {
    Reference::parse(s)
        .map(Reference::with_default_tag)
        .map_err(|e| DistError::Invalid(e.to_string()))
}

impl Client {
    /// Pulls `reference` into `store`, reporting progress; nothing is stored on failure.
    /// Emits Docker's final `Digest: ...` and `Status: ...` lines itself.
    pub async fn pull(
        &self,
        store: &Arc<ImageStore>,
        reference: &str,
        platform: Option<&str>,
        auth: Option<&AuthConfig>,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<ImageRecord, DistError> {
        let r = parse_reference(reference)?;
        let want = wanted_platform(platform)?;
        let shown = if r.domain == "docker.io" {
            r.familiar_string()
        } else {
            r.to_string()
        };
        let tag_id = match (&r.tag, &r.digest) {
            (_, Some(d)) => d.to_string(),
            (Some(t), None) => t.clone(),
            (None, None) => "latest".into(),
        };
        let mut sess = self.open_for(&r, auth).await?;
        let has_creds = sess.has_credentials();
        match sess
            .authorize(&[format!("repository:{}:pull", r.path)])
            .await
        {
            Err(DistError::Unauthorized(m)) if !has_creds => {
                return Err(DistError::Unauthorized(format!(
                    "pull access denied for {}, repository does not exist or may require 'docker login': {m}",
                    r.familiar_repository()
                )));
            }
            res => res?,
        }
        let ctx = PullCtx {
            sess,
            r: r.clone(),
            shown,
            progress,
            has_creds,
        };

        let (body, top_digest, ct) = ctx.manifest(&tag_id).await?;
        // Like dockerd, say "Pulling from" only once the manifest exists, so a missing one is
        // a plain error response rather than a half-started stream.
        progress(id_status(&format!("Pulling from {}", r.path), &tag_id));
        let doc: ManifestDoc = serde_json::from_slice(&body)
            .map_err(|e| DistError::Protocol(format!("invalid manifest: {e}")))?;
        let mt = doc.media_type.clone().unwrap_or(ct);
        let is_index = mt == MT_DOCKER_LIST || mt == MT_OCI_INDEX || !doc.manifests.is_empty();
        let doc = if is_index {
            let d = select(&doc.manifests, &want)?;
            let (b, _, _) = ctx.manifest(&d.digest).await?;
            serde_json::from_slice::<ManifestDoc>(&b)
                .map_err(|e| DistError::Protocol(format!("invalid manifest: {e}")))?
        } else {
            doc
        };
        if doc.schema_version == 1 || mt == MT_SCHEMA1 || mt == MT_SCHEMA1_SIGNED {
            return Err(DistError::Protocol(format!(
                "[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of {} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2.",
                r.familiar_string()
            )));
        }
        let cfg_desc = doc
            .config
            .clone()
            .ok_or_else(|| DistError::Protocol("manifest has no config".into()))?;

        // Config first: its diff ids tell which layers the store already has.
        let mut cfg_file = tempfile::tempfile_in(store.tmp_dir())
            .map_err(|e| DistError::Io(format!("temp file: {e}")))?;
        ctx.blob_to(&cfg_desc.digest, Some(cfg_desc.size), &mut cfg_file, None)
            .await
            .map_err(|e| match e {
                DistError::Protocol(m) if m.starts_with("filesystem") => {
                    DistError::Protocol(format!(
                        "image config verification failed for digest {}",
                        cfg_desc.digest
                    ))
                }
                e => e,
            })?;
        let cfg_bytes = read_file(&mut cfg_file)?;
        let cfg: ImageConfig = serde_json::from_slice(&cfg_bytes)
            .map_err(|e| DistError::Protocol(format!("invalid image config: {e}")))?;
        if cfg.rootfs.diff_ids.len() != doc.layers.len() {
            return Err(DistError::Protocol(
                "layers from manifest don't match image configuration".into(),
            ));
        }
        let image_id = Digest::of(&cfg_bytes);
        let repo_digest = format!("{}@{top_digest}", r.familiar_repository());
        let tagged = Reference {
            digest: None,
            ..r.clone()
        };

        // Up to date: the tag (or, by digest, the image) already is this image.
        let up_to_date = match &r.tag {
            Some(_) => store.tag_target(&tagged) == Some(image_id.clone()),
            None => store.get(&image_id.to_string()).is_ok(),
        };
        if up_to_date {
            let st = store.clone();
            let (id, rd) = (image_id.clone(), repo_digest.clone());
            let rec = tokio::task::spawn_blocking(move || {
                st.add_repo_digest(&id, &rd)?;
                st.get(&id.to_string())
            })
            .await
            .map_err(|e| DistError::Io(e.to_string()))??;
            progress(Progress::Status(format!("Digest: {top_digest}")));
            progress(Progress::Status(format!(
                "Status: Image is up to date for {}",
                r.familiar_string()
            )));
            return Ok(rec);
        }

        // Which layers to fetch.
        let mut chain: Option<Digest> = None;
        let mut needed: Vec<bool> = Vec::new();
        for (i, d) in cfg.rootfs.diff_ids.iter().enumerate() {
            let c = berth_snapshot::chain_id(chain.as_ref(), d);
            let have = store.has_layer(&c, d);
            needed.push(!have);
            let id = short(&doc.layers[i].digest);
            if have {
                progress(id_status("Already exists", &id));
            }
            chain = Some(c);
        }
        let mut to_fetch: Vec<Descriptor> = Vec::new();
        for (i, l) in doc.layers.iter().enumerate() {
            if needed[i] && !to_fetch.iter().any(|d| d.digest == l.digest) {
                to_fetch.push(l.clone());
            }
        }
        for l in &to_fetch {
            progress(id_status("Pulling fs layer", &short(&l.digest)));
        }
        for l in to_fetch.iter().skip(PARALLEL) {
            progress(id_status("Waiting", &short(&l.digest)));
        }
        let tmp = store.tmp_dir().to_path_buf();
        let ctx_ref = &ctx;
        let results: Vec<Result<(String, tempfile::NamedTempFile), DistError>> =
            futures_util::stream::iter(to_fetch.iter().cloned())
                .map(|l| {
                    let tmp = tmp.clone();
                    async move {
                        let mut f = tempfile::NamedTempFile::new_in(&tmp)
                            .map_err(|e| DistError::Io(format!("temp file: {e}")))?;
                        let id = short(&l.digest);
                        ctx_ref
                            .blob_to(&l.digest, Some(l.size), f.as_file_mut(), Some(&id))
                            .await?;
                        (ctx_ref.progress)(id_status("Download complete", &id));
                        Ok((l.digest.clone(), f))
                    }
                })
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
        let mut files: HashMap<String, tempfile::NamedTempFile> = HashMap::new();
        for res in results {
            let (d, f) = res?;
            files.insert(d, f);
        }

        // Apply in a blocking thread; its progress comes back over a channel.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
        let st = store.clone();
        let layers = doc.layers.clone();
        let rd = repo_digest.clone();
        let tag_ref = r.tag.as_ref().map(|_| tagged.clone());
        let source = r.repository();
        let job = tokio::task::spawn_blocking(move || {
            let mut last: Option<String> = None;
            let mut open = |i: usize| -> berth_image::Result<Box<dyn std::io::Read>> {
                let l = layers.get(i).ok_or_else(|| {
                    berth_image::ImageError::Invalid(format!("no layer {i} in manifest"))
                })?;
                let id = short(&l.digest);
                if let Some(prev) = last.replace(id.clone()) {
                    let _ = tx.send(id_status("Pull complete", &prev));
                }
                let f = files.get(&l.digest).ok_or_else(|| {
                    berth_image::ImageError::Invalid(format!(
                        "layer {} was not downloaded",
                        l.digest
                    ))
                })?;
                let size = f.as_file().metadata().map(|m| m.len()).unwrap_or(l.size);
                let _ = tx.send(Progress::Bytes {
                    status: "Extracting".into(),
                    id,
                    current: size,
                    total: Some(size),
                });
                let file = f.reopen().map_err(|e| berth_image::ImageError::Io {
                    context: "reopening download".into(),
                    source: e,
                })?;
                Ok(Box::new(file))
            };
            let rec = st.store_pulled(&cfg_bytes, &mut open, tag_ref.as_ref(), Some(&rd));
            if let Ok(rec) = &rec {
                // Remember each layer's compressed form and where it lives, so a later push
                // can skip or mount it instead of recompressing.
                for (diff, l) in rec.config.rootfs.diff_ids.iter().zip(&layers) {
                    let Ok(digest) = l.digest.parse::<Digest>() else {
                        continue;
                    };
                    if st.blob_mapping(diff).is_some_and(|m| m.digest != digest) {
                        continue;
                    }
                    let _ = st.record_blob_mapping(
                        diff,
                        berth_image::BlobMapping {
                            digest,
                            size: l.size,
                            media_type: l.media_type.clone(),
                            sources: vec![source.clone()],
                        },
                    );
                }
            }
            if rec.is_ok()
                && let Some(prev) = last
            {
                let _ = tx.send(id_status("Pull complete", &prev));
            }
            // Downloads are removed here whatever the outcome.
            drop(files);
            rec
        });
        while let Some(ev) = rx.recv().await {
            progress(ev);
        }
        let rec = job.await.map_err(|e| DistError::Io(e.to_string()))??;
        progress(Progress::Status(format!("Digest: {top_digest}")));
        progress(Progress::Status(format!(
            "Status: Downloaded newer image for {}",
            r.familiar_string()
        )));
        Ok(rec)
    }

    /// `docker pull -a`: every tag of the repository.
    pub async fn pull_all_tags(
        &self,
        store: &Arc<ImageStore>,
        reference: &str,
        platform: Option<&str>,
        auth: Option<&AuthConfig>,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Vec<ImageRecord>, DistError> {
        let raw = Reference::parse(reference).map_err(|e| DistError::Invalid(e.to_string()))?;
        let r = parse_reference(reference)?;
        if raw.digest.is_some() || raw.tag.is_some() {
            return Err(DistError::Invalid(
                "tag can't be used with --all-tags/-a".into(),
            ));
        }
        let tags = self.tags(&r, auth).await?;
        let mut out = Vec::new();
        for t in tags {
            let one = format!("{}:{t}", r.repository());
            out.push(self.pull(store, &one, platform, auth, progress).await?);
        }
        Ok(out)
    }

    /// Lists a repository's tags (`GET /v2/<name>/tags/list`).
    pub async fn tags(
        &self,
        r: &Reference,
        auth: Option<&AuthConfig>,
    ) -> Result<Vec<String>, DistError> {
        let mut sess = self.open_for(r, auth).await?;
        sess.authorize(&[format!("repository:{}:pull", r.path)])
            .await?;
        let resp = sess
            .send(Method::GET, &format!("/v2/{}/tags/list", r.path), |b| b)
            .await?;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let t = registry_error_text(&body).unwrap_or_else(|| status.to_string());
            return Err(if status == StatusCode::NOT_FOUND {
                DistError::NotFound(t)
            } else {
                DistError::Unauthorized(t)
            });
        }
        #[derive(Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let t: Tags = serde_json::from_slice(&body)
            .map_err(|e| DistError::Protocol(format!("tags list: {e}")))?;
        Ok(t.tags.unwrap_or_default())
    }

    /// Opens a session to the registry of `r` (mirrors first for Docker Hub).
    pub(crate) async fn open_for(
        &self,
        r: &Reference,
        auth: Option<&AuthConfig>,
    ) -> Result<Session, DistError> {
        if r.domain == "docker.io" {
            for m in &self.opts.mirrors {
                let host = m
                    .trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .trim_end_matches('/');
                if let Ok(s) = Session::open(self, host, None).await {
                    return Ok(s);
                }
            }
        }
        Session::open(self, &api_host(&r.domain), auth).await
    }
}

fn read_file(f: &mut std::fs::File) -> Result<Vec<u8>, DistError> {
    use std::io::{Read, Seek};
    let mut v = Vec::new();
    f.seek(std::io::SeekFrom::Start(0))
        .and_then(|_| f.read_to_end(&mut v))
        .map_err(|e| DistError::Io(format!("reading download: {e}")))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_platform() {
        let entries: Vec<Descriptor> = serde_json::from_str(
            r#"[{"digest":"sha256:a","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
                {"digest":"sha256:b","platform":{"os":"linux","architecture":"amd64"}}]"#,
        )
        .unwrap_or_default();
        let want = ("linux".to_string(), "amd64".to_string(), None);
        assert_eq!(
            select(&entries, &want).map(|d| d.digest).ok().as_deref(),
            Some("sha256:b")
        );
        let want = ("linux".to_string(), "s390x".to_string(), None);
        assert_eq!(
            select(&entries, &want)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("no matching manifest for linux/s390x in the manifest list entries")
        );
    }
}
