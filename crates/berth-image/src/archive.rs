//! `docker save` / `docker load` archives.
//!
//! We write the layout Docker 25+ writes: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/...`) that also carries Docker's `manifest.json` and `repositories`, so both
//! `docker load` of any age and OCI tools can read it. We read that, the older Docker layout
//! (`<id>.json` + `<dir>/layer.tar`), and plain OCI layouts (compressed layers too).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use berth_core::{Digest, Reference};
use serde::Deserialize;
use serde_json::json;

use crate::content::decompress;
use crate::store::ImageStore;
use crate::{ImageError, LoadedImage, Result, io_err};

const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MT_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

fn add_bytes<W: Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(0);
    b.append_data(&mut h, name, data)
        .map_err(io_err(format!("writing {name}")))
}

fn add_dir<W: Write>(b: &mut tar::Builder<W>, name: &str) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(0);
    b.append_data(&mut h, name, std::io::empty())
        .map_err(io_err(format!("writing {name}")))
}

/// Writes the save archive for `(image id, familiar tags to record)` pairs.
pub(crate) fn write_save(
    store: &ImageStore,
    images: &[(Digest, Vec<String>)],
    out: &mut dyn Write,
) -> Result<()> {
    let content = &store.content;
    let mut b = tar::Builder::new(out);
    add_dir(&mut b, "blobs")?;
    add_dir(&mut b, "blobs/sha256")?;
    let mut written = std::collections::HashSet::new();
    let mut manifest_json = Vec::new();
    let mut index = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (id, tags) in images {
        let cfg_bytes = store.raw_config(id)?;
        let diff_ids = store.diff_ids(id)?;
        if written.insert(id.clone()) {
            add_bytes(&mut b, &format!("blobs/sha256/{}", id.hex()), &cfg_bytes)?;
        }
        let mut layers = Vec::new();
        for d in &diff_ids {
            let path = format!("blobs/sha256/{}", d.hex());
            if written.insert(d.clone()) {
                let f = content.open_blob(d)?;
                let len = f.metadata().map_err(io_err("stat layer"))?.len();
                let mut h = tar::Header::new_gnu();
                h.set_mode(0o644);
                h.set_size(len);
                h.set_mtime(0);
                b.append_data(&mut h, &path, f)
                    .map_err(io_err("writing layer"))?;
            }
            layers.push((
                path,
                d.clone(),
                content.path(d).metadata().map(|m| m.len()).unwrap_or(0),
            ));
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": id.to_string(), "size": cfg_bytes.len()},
            "layers": layers.iter().map(|(_, d, size)| json!({"mediaType": MT_LAYER, "digest": d.to_string(), "size": size})).collect::<Vec<_>>()
        });
        let mbytes =
            serde_json::to_vec(&manifest).map_err(|e| ImageError::Invalid(e.to_string()))?;
        let mdigest = Digest::of(&mbytes);
        if written.insert(mdigest.clone()) {
            add_bytes(&mut b, &format!("blobs/sha256/{}", mdigest.hex()), &mbytes)?;
        }
        let base =
            json!({"mediaType": MT_MANIFEST, "digest": mdigest.to_string(), "size": mbytes.len()});
        if tags.is_empty() {
            index.push(base.clone());
        }
        // One index entry per tag, annotated the way containerd and Docker 25+ name images.
        for t in tags {
            let Ok(r) = Reference::parse(t) else { continue };
            let r = r.with_default_tag();
            let tag_name = r.tag.clone().unwrap_or_else(|| "latest".into());
            let mut desc = base.clone();
            desc["annotations"] = json!({
                "io.containerd.image.name": r.to_string(),
                "org.opencontainers.image.ref.name": tag_name.clone()
            });
            index.push(desc);
            repositories
                .entry(r.familiar_repository())
                .or_default()
                .insert(tag_name, id.hex().to_string());
        }
        manifest_json.push(json!({
            "Config": format!("blobs/sha256/{}", id.hex()),
            "RepoTags": if tags.is_empty() { serde_json::Value::Null } else { json!(tags) },
            "Layers": layers.iter().map(|(p, _, _)| p.clone()).collect::<Vec<_>>()
        }));
    }
    add_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index});
    add_bytes(
        &mut b,
        "index.json",
        &serde_json::to_vec(&idx).map_err(|e| ImageError::Invalid(e.to_string()))?,
    )?;
    add_bytes(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest_json).map_err(|e| ImageError::Invalid(e.to_string()))?,
    )?;
    if !repositories.is_empty() {
        add_bytes(
            &mut b,
            "repositories",
            &serde_json::to_vec(&repositories).map_err(|e| ImageError::Invalid(e.to_string()))?,
        )?;
    }
    b.finish().map_err(io_err("finishing archive"))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize, Clone)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize, Clone)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

#[derive(Deserialize)]
struct OciIndex {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct OciManifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

fn safe_join(root: &Path, rel: &str) -> Result<PathBuf> {
    let mut p = root.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(s) => p.push(s),
            Component::CurDir => {}
            _ => {
                return Err(ImageError::Invalid(format!(
                    "invalid path in archive: {rel}"
                )));
            }
        }
    }
    Ok(p)
}

/// Resolves `rel` lexically (`..` allowed while it stays inside) below `root`.
fn resolve_inside(root: &Path, rel: &Path) -> Result<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s),
            Component::CurDir => {}
            Component::ParentDir if !parts.is_empty() => {
                parts.pop();
            }
            _ => {
                return Err(ImageError::Invalid(format!(
                    "invalid link in archive: {}",
                    rel.display()
                )));
            }
        }
    }
    Ok(parts.iter().fold(root.to_path_buf(), |p, s| p.join(s)))
}

fn bad_tar(e: impl std::fmt::Display) -> ImageError {
    ImageError::Invalid(format!("invalid tar archive: {e}"))
}

/// Extracts the archive's directories and regular files into `dir`; links between entries
/// (old `docker save` links duplicate layers) become copies once everything is extracted.
fn extract(archive: &mut dyn Read, dir: &Path) -> Result<()> {
    let mut rdr = decompress(Box::new(archive))?;
    let mut ar = tar::Archive::new(&mut rdr);
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    for entry in ar.entries().map_err(bad_tar)? {
        let mut e = entry.map_err(bad_tar)?;
        let path = e.path().map_err(bad_tar)?.into_owned();
        let dest = safe_join(dir, &path.to_string_lossy())?;
        let kind = e.header().entry_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&dest).map_err(io_err("mkdir"))?;
        } else if kind.is_file() {
            if let Some(p) = dest.parent() {
                std::fs::create_dir_all(p).map_err(io_err("mkdir"))?;
            }
            let mut f = std::fs::File::create(&dest).map_err(io_err("create"))?;
            std::io::copy(&mut e, &mut f).map_err(bad_tar)?;
        } else if kind.is_symlink() || kind.is_hard_link() {
            let Some(target) = e.link_name().map_err(bad_tar)? else {
                continue;
            };
            let src = if kind.is_symlink() {
                let parent = path.parent().unwrap_or(Path::new(""));
                resolve_inside(dir, &parent.join(&target))?
            } else {
                resolve_inside(dir, &target)?
            };
            links.push((dest, src));
        }
    }
    for (dest, src) in links {
        if let Some(p) = dest.parent() {
            std::fs::create_dir_all(p).map_err(io_err("mkdir"))?;
        }
        if src.is_file() {
            // A hard link is free; copy if the temp dir spans filesystems (it never should).
            if std::fs::hard_link(&src, &dest).is_err() {
                std::fs::copy(&src, &dest).map_err(io_err("copy link"))?;
            }
        }
    }
    Ok(())
}

/// Docker's `docker load` lines.
fn report(progress: &mut dyn FnMut(&str), id: &Digest, names: &[String]) {
    if names.is_empty() {
        progress(&format!("Loaded image ID: {id}"));
    }
    for n in names {
        progress(&format!("Loaded image: {n}"));
    }
}

/// Reads a blob of an OCI layout and checks it against its digest.
fn read_verified(dir: &Path, digest: &str) -> Result<Vec<u8>> {
    let bytes =
        std::fs::read(blob_path(dir, digest)?).map_err(io_err(format!("reading blob {digest}")))?;
    let actual = Digest::of(&bytes);
    if actual.to_string() != digest {
        return Err(ImageError::DigestMismatch {
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(bytes)
}

/// Go's name for this machine's architecture.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// From a multi-platform index keep this host's entries; entries without a platform all stay.
fn select_platform(descs: Vec<Descriptor>) -> Vec<Descriptor> {
    if descs.iter().all(|d| d.platform.is_none()) {
        return descs;
    }
    descs
        .into_iter()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_none_or(|p| p.os == "linux" && p.architecture == host_arch())
        })
        .collect()
}

fn blob_path(root: &Path, digest: &str) -> Result<PathBuf> {
    let d: Digest = digest
        .parse()
        .map_err(|_| ImageError::Invalid(format!("invalid digest {digest}")))?;
    Ok(root.join("blobs/sha256").join(d.hex()))
}

/// Extracts the archive into `dir` (plain files only) and imports every image in it.
pub(crate) fn read_load(
    store: &ImageStore,
    archive: &mut dyn Read,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<LoadedImage>> {
    extract(archive, dir)?;
    let mut loaded = Vec::new();
    if dir.join("manifest.json").exists() {
        let bytes = std::fs::read(dir.join("manifest.json")).map_err(io_err("manifest.json"))?;
        let entries: Vec<DockerManifestEntry> = serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::Invalid(format!("invalid manifest.json: {e}")))?;
        for ent in entries {
            let cfg_path = safe_join(dir, &ent.config)?;
            let cfg_bytes =
                std::fs::read(&cfg_path).map_err(io_err(format!("reading {}", ent.config)))?;
            // The config file is named by its digest; hold it to that.
            let name = cfg_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let hex = name.trim_end_matches(".json");
            let actual = Digest::of(&cfg_bytes);
            if hex.len() == 64 && actual.hex() != hex {
                return Err(ImageError::DigestMismatch {
                    expected: format!("sha256:{hex}"),
                    actual: actual.to_string(),
                });
            }
            let layer_paths: Vec<PathBuf> = ent
                .layers
                .iter()
                .map(|l| safe_join(dir, l))
                .collect::<Result<_>>()?;
            let tags: Vec<Reference> = ent
                .repo_tags
                .clone()
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    Reference::parse(t)
                        .map(|r| r.with_default_tag())
                        .map_err(|e| ImageError::Invalid(e.to_string()))
                })
                .collect::<Result<_>>()?;
            let mut open = |i: usize| -> Result<Box<dyn Read>> {
                let p = layer_paths.get(i).ok_or_else(|| {
                    ImageError::Invalid("manifest lists fewer layers than the config".into())
                })?;
                let f = std::fs::File::open(p).map_err(io_err(p.display().to_string()))?;
                decompress(Box::new(f))
            };
            let id = store.add_image(&cfg_bytes, &mut open, &tags, &[])?;
            let names: Vec<String> = tags.iter().map(|r| r.familiar_string()).collect();
            report(progress, &id, &names);
            loaded.push(LoadedImage { id, tags: names });
        }
        return Ok(loaded);
    }
    if dir.join("index.json").exists() {
        let bytes = std::fs::read(dir.join("index.json")).map_err(io_err("index.json"))?;
        let idx: OciIndex = serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::Invalid(format!("invalid index.json: {e}")))?;
        let mut queue: std::collections::VecDeque<(Descriptor, BTreeMap<String, String>)> =
            select_platform(idx.manifests)
                .into_iter()
                .map(|d| (d.clone(), d.annotations))
                .collect();
        while let Some((desc, ann)) = queue.pop_front() {
            let mbytes = read_verified(dir, &desc.digest)?;
            if desc.media_type.contains("index") || desc.media_type.contains("manifest.list") {
                let inner: OciIndex = serde_json::from_slice(&mbytes)
                    .map_err(|e| ImageError::Invalid(format!("invalid index: {e}")))?;
                for d in select_platform(inner.manifests) {
                    queue.push_back((d, ann.clone()));
                }
                continue;
            }
            let m: OciManifest = serde_json::from_slice(&mbytes)
                .map_err(|e| ImageError::Invalid(format!("invalid manifest: {e}")))?;
            let cfg_bytes = read_verified(dir, &m.config.digest)?;
            let layer_paths: Vec<PathBuf> = m
                .layers
                .iter()
                .map(|l| blob_path(dir, &l.digest))
                .collect::<Result<_>>()?;
            let mut tags = Vec::new();
            if let Some(name) = ann.get("io.containerd.image.name") {
                tags.push(
                    Reference::parse(name)
                        .map_err(|e| ImageError::Invalid(e.to_string()))?
                        .with_default_tag(),
                );
            } else if let Some(name) = ann.get("org.opencontainers.image.ref.name")
                // A bare tag (`1.0`) names no repository; only a full reference is a name.
                && (name.contains(':') || name.contains('/'))
                && let Ok(r) = Reference::parse(name)
            {
                tags.push(r.with_default_tag());
            }
            let mut open = |i: usize| -> Result<Box<dyn Read>> {
                let p = layer_paths.get(i).ok_or_else(|| {
                    ImageError::Invalid("manifest lists fewer layers than the config".into())
                })?;
                let f = std::fs::File::open(p).map_err(io_err(p.display().to_string()))?;
                decompress(Box::new(f))
            };
            let id = store.add_image(&cfg_bytes, &mut open, &tags, &[])?;
            let names: Vec<String> = tags.iter().map(|r| r.familiar_string()).collect();
            report(progress, &id, &names);
            loaded.push(LoadedImage { id, tags: names });
        }
        return Ok(loaded);
    }
    Err(ImageError::Invalid(
        "unrecognized image archive: no manifest.json or index.json".into(),
    ))
}
