//! Store tests over a recording snapshotter double (no root, no mounts).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use berth_core::{Classify, Digest, ErrorKind, Reference};
use berth_snapshot::{AppliedLayer, Change, SnapshotError, Snapshotter};
use serde_json::json;

use crate::{CommitOptions, DeleteItem, ImageError, ImageStore, ImportOptions};

/// Records layers by chain id; checks parents exist on apply and have no children on remove.
#[derive(Default)]
struct FakeSnap {
    layers: Mutex<HashMap<Digest, Option<Digest>>>,
    applies: AtomicUsize,
    fail_apply: AtomicBool,
}

impl FakeSnap {
    fn count(&self) -> usize {
        self.layers.lock().map(|l| l.len()).unwrap_or(0)
    }
}

impl Snapshotter for FakeSnap {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn apply_layer(
        &self,
        parent: Option<&Digest>,
        layer: &mut dyn Read,
    ) -> Result<AppliedLayer, SnapshotError> {
        let mut data = Vec::new();
        layer
            .read_to_end(&mut data)
            .map_err(|e| SnapshotError::InvalidArchive(e.to_string()))?;
        if self.fail_apply.load(Ordering::SeqCst) {
            return Err(SnapshotError::InvalidArchive("injected failure".into()));
        }
        let mut size = 0;
        let mut ar = tar::Archive::new(data.as_slice());
        for e in ar
            .entries()
            .map_err(|e| SnapshotError::InvalidArchive(e.to_string()))?
        {
            size += e
                .map_err(|e| SnapshotError::InvalidArchive(e.to_string()))?
                .header()
                .size()
                .unwrap_or(0);
        }
        let mut layers = self
            .layers
            .lock()
            .map_err(|_| SnapshotError::InvalidArchive("poisoned".into()))?;
        if let Some(p) = parent
            && !layers.contains_key(p)
        {
            return Err(SnapshotError::LayerNotFound(p.to_string()));
        }
        let diff_id = Digest::of(&data);
        let chain_id = berth_snapshot::chain_id(parent, &diff_id);
        layers.insert(chain_id.clone(), parent.cloned());
        self.applies.fetch_add(1, Ordering::SeqCst);
        Ok(AppliedLayer {
            diff_id,
            chain_id,
            size,
        })
    }
    fn has_layer(&self, chain_id: &Digest) -> bool {
        self.layers
            .lock()
            .map(|l| l.contains_key(chain_id))
            .unwrap_or(false)
    }
    fn remove_layer(&self, chain_id: &Digest) -> Result<(), SnapshotError> {
        let mut layers = self
            .layers
            .lock()
            .map_err(|_| SnapshotError::InvalidArchive("poisoned".into()))?;
        assert!(
            !layers.values().any(|p| p.as_ref() == Some(chain_id)),
            "removing {chain_id} under a child layer"
        );
        layers
            .remove(chain_id)
            .map(|_| ())
            .ok_or_else(|| SnapshotError::LayerNotFound(chain_id.to_string()))
    }
    fn prepare(&self, _key: &str, _parent: Option<&Digest>) -> Result<(), SnapshotError> {
        Ok(())
    }
    fn mount(&self, _key: &str, _target: &Path) -> Result<(), SnapshotError> {
        Ok(())
    }
    fn unmount(&self, _target: &Path) -> Result<(), SnapshotError> {
        Ok(())
    }
    fn remove(&self, _key: &str) -> Result<(), SnapshotError> {
        Ok(())
    }
    fn changes(&self, _key: &str) -> Result<Vec<Change>, SnapshotError> {
        Ok(Vec::new())
    }
    fn diff_tar(&self, _key: &str, _out: &mut dyn Write) -> Result<(), SnapshotError> {
        Ok(())
    }
    fn usage(&self, _key: &str) -> Result<u64, SnapshotError> {
        Ok(0)
    }
}

struct Env {
    dir: tempfile::TempDir,
    snap: Arc<FakeSnap>,
    store: ImageStore,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(redb::Database::create(dir.path().join("berth.redb")).unwrap());
    let snap = Arc::new(FakeSnap::default());
    let store = ImageStore::open(dir.path(), db, snap.clone()).unwrap();
    Env { dir, snap, store }
}

impl Env {
    fn blob_count(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("content/blobs/sha256"))
            .unwrap()
            .count()
    }
    fn ingest_count(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("content/ingest"))
            .unwrap()
            .count()
    }
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn reference(s: &str) -> Option<Reference> {
    Some(Reference::parse(s).unwrap())
}

fn import(
    store: &ImageStore,
    tar: &[u8],
    tag: Option<&str>,
    changes: &[&str],
) -> crate::ImageRecord {
    let opts = ImportOptions {
        changes: changes.iter().map(|s| s.to_string()).collect(),
        reference: tag.and_then(reference),
        ..Default::default()
    };
    store.import(&mut &tar[..], opts).unwrap()
}

fn nobody(_: &Digest) -> Option<(String, bool)> {
    None
}

const CID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn short(d: &Digest) -> &str {
    &d.hex()[..12]
}

#[test]
fn import_keeps_tar_and_config_and_shares_the_layer_across_compressions() {
    let e = env();
    let tar = tar_of(&[("bin/sh", b"#!fake"), ("etc/hostname", b"x\n")]);
    let rec = import(&e.store, &tar, Some("busybox"), &[r#"CMD ["sh"]"#]);
    let diff = Digest::of(&tar);
    assert_eq!(rec.repo_tags, vec!["busybox:latest"]);
    assert_eq!(rec.config.rootfs.kind, "layers");
    assert_eq!(rec.config.rootfs.diff_ids, vec![diff.clone()]);
    assert_eq!(rec.config.comment.as_deref(), Some("Imported from -"));
    assert_eq!(rec.config.history.len(), 1);
    assert_eq!(
        rec.config.config.as_ref().unwrap().cmd,
        Some(vec!["sh".to_string()])
    );
    assert_eq!(rec.size, 8);
    assert!(rec.last_tag_time.is_some());
    // Id = sha256 of the stored config bytes; the layer tar is kept verbatim.
    let raw = e.store.raw_config(&rec.id).unwrap();
    assert_eq!(Digest::of(&raw), rec.id);
    assert_eq!(
        std::fs::read(e.dir.path().join("content/blobs/sha256").join(diff.hex())).unwrap(),
        tar
    );
    assert_eq!(e.store.layer_chain(&rec.id).unwrap(), Some(diff.clone()));

    let gz = import(&e.store, &gzip(&tar), None, &["ENV A=1"]);
    let zs = zstd::encode_all(&tar[..], 3).unwrap();
    let zs = e
        .store
        .import(
            &mut &zs[..],
            ImportOptions {
                message: "hello".into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(gz.config.rootfs.diff_ids, vec![diff.clone()]);
    assert_eq!(zs.config.rootfs.diff_ids, vec![diff]);
    assert_eq!(zs.config.comment.as_deref(), Some("hello"));
    assert!(gz.repo_tags.is_empty());
    assert_eq!(
        e.snap.applies.load(Ordering::SeqCst),
        1,
        "one layer unpacked for three images"
    );
    assert_eq!(e.store.list().len(), 3);
    assert_eq!(e.ingest_count(), 0);
}

#[test]
fn lookup_follows_dockers_order_and_words() {
    let e = env();
    let rec = import(&e.store, &tar_of(&[("a", b"1")]), Some("busybox:1.36"), &[]);
    let hex = rec.id.hex().to_string();
    for name in [
        "busybox:1.36",
        "docker.io/library/busybox:1.36",
        &rec.id.to_string(),
        &hex,
        &hex[..5],
        &format!("sha256:{}", &hex[..8]),
    ] {
        assert_eq!(e.store.get(name).unwrap().id, rec.id, "{name}");
    }
    let err = e.store.get("busybox").unwrap_err();
    assert_eq!(err.to_string(), "No such image: busybox:latest");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let zero = format!("sha256:{}", "0".repeat(64));
    assert_eq!(
        e.store.get(&zero).unwrap_err().to_string(),
        format!("No such image: {zero}")
    );
    // A tag wins over an id prefix that happens to look the same.
    let other = import(&e.store, &tar_of(&[("b", b"2")]), None, &[]);
    let prefix = &other.id.hex()[..6];
    e.store
        .tag(&rec.id, &Reference::parse(prefix).unwrap())
        .unwrap();
    assert_eq!(e.store.get(prefix).unwrap().id, rec.id);
    let digest_ref = Reference::parse(&format!("busybox@{}", rec.id)).unwrap();
    assert_eq!(
        e.store.tag(&rec.id, &digest_ref).unwrap_err().to_string(),
        "refusing to create a tag with a digest reference"
    );
}

#[test]
fn failed_imports_leave_nothing_behind() {
    let e = env();
    let tar = tar_of(&[("a", b"1")]);
    let err = e
        .store
        .import(
            &mut &tar[..],
            ImportOptions {
                changes: vec!["RUN true".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "run is not a valid change command");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    e.snap.fail_apply.store(true, Ordering::SeqCst);
    assert!(
        e.store
            .import(
                &mut &tar[..],
                ImportOptions {
                    reference: reference("x"),
                    ..Default::default()
                }
            )
            .is_err()
    );
    e.snap.fail_apply.store(false, Ordering::SeqCst);
    // A reader that fails half way (a dropped upload).
    struct Broken(usize);
    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("connection reset"));
            }
            self.0 -= 1;
            buf[0] = 0;
            Ok(1)
        }
    }
    assert!(
        e.store
            .import(&mut Broken(100), ImportOptions::default())
            .is_err()
    );
    assert!(e.store.list().is_empty());
    assert!(e.store.get("x").is_err());
    assert_eq!(e.snap.count(), 0);
    assert_eq!(e.blob_count(), 0);
    assert_eq!(e.ingest_count(), 0);
}

#[test]
fn rmi_untags_then_deletes_with_dockers_conflicts() {
    let e = env();
    let rec = import(&e.store, &tar_of(&[("a", b"1")]), Some("a:1"), &[]);
    e.store
        .tag(&rec.id, &Reference::parse("b").unwrap())
        .unwrap();
    assert_eq!(
        e.store.get("a:1").unwrap().repo_tags,
        vec!["a:1", "b:latest"]
    );
    // By tag with another tag left: only untag.
    assert_eq!(
        e.store.remove("b", false, &nobody).unwrap(),
        vec![DeleteItem::Untagged("b:latest".into())]
    );
    e.store
        .tag(&rec.id, &Reference::parse("b").unwrap())
        .unwrap();
    // By id with two tags: must be forced.
    let err = e.store.remove(short(&rec.id), false, &nobody).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            short(&rec.id)
        )
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
    // Containers: by tag (last tag) must force; running by id can never be forced.
    e.store.remove("b", false, &nobody).unwrap();
    let stopped = |_: &Digest| Some((CID.to_string(), false));
    let running = |_: &Digest| Some((CID.to_string(), true));
    assert_eq!(
        e.store
            .remove("a:1", false, &stopped)
            .unwrap_err()
            .to_string(),
        format!(
            "conflict: unable to remove repository reference \"a:1\" (must force) - container 0123456789ab is using its referenced image {}",
            short(&rec.id)
        )
    );
    assert_eq!(
        e.store
            .remove(&rec.id.to_string(), true, &running)
            .unwrap_err()
            .to_string(),
        format!(
            "conflict: unable to delete {} (cannot be forced) - image is being used by running container 0123456789ab",
            short(&rec.id)
        )
    );
    assert_eq!(
        e.store
            .remove(&rec.id.to_string(), false, &stopped)
            .unwrap_err()
            .to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is being used by stopped container 0123456789ab",
            short(&rec.id)
        )
    );
    // Forced untag under a running container: untagged, image stays (dangling).
    assert_eq!(
        e.store.remove("a:1", true, &running).unwrap(),
        vec![DeleteItem::Untagged("a:1".into())]
    );
    assert!(
        e.store
            .get(&rec.id.to_string())
            .unwrap()
            .repo_tags
            .is_empty()
    );
    // Finally delete: the image and its (now unused) layer go.
    let chain = e.store.layer_chain(&rec.id).unwrap().unwrap();
    assert_eq!(
        e.store.remove(&rec.id.to_string(), false, &nobody).unwrap(),
        vec![
            DeleteItem::Deleted(rec.id.to_string()),
            DeleteItem::Deleted(chain.to_string())
        ]
    );
    assert!(e.store.list().is_empty());
    assert_eq!(e.snap.count(), 0);
    assert_eq!(e.blob_count(), 0);
    assert_eq!(
        e.store
            .remove("a:1", false, &nobody)
            .unwrap_err()
            .to_string(),
        "No such image: a:1"
    );
}

fn commit_over(
    store: &ImageStore,
    parent: &Digest,
    tar: &[u8],
    tag: Option<&str>,
) -> crate::ImageRecord {
    let config = crate::RunConfig {
        cmd: Some(vec!["sh".into(), "-c".into(), "echo hi".into()]),
        ..Default::default()
    };
    let opts = CommitOptions {
        parent: Some(parent.clone()),
        config,
        changes: vec!["ENV X=1".into()],
        author: "me".into(),
        comment: "snap".into(),
        container_id: CID.into(),
        container_config: Some(crate::RunConfig {
            image: Some("base:1".into()),
            ..Default::default()
        }),
        reference: tag.and_then(reference),
    };
    store.commit(&mut &tar[..], opts).unwrap()
}

#[test]
fn commit_stacks_a_layer_and_rmi_prunes_the_parent_chain() {
    let e = env();
    let base_tar = tar_of(&[("a", b"1")]);
    let base = import(&e.store, &base_tar, Some("base"), &[]);
    let empty = tar::Builder::new(Vec::new()).into_inner().unwrap();
    let child = commit_over(&e.store, &base.id, &empty, Some("child:v1"));
    let d1 = Digest::of(&base_tar);
    let d2 = Digest::of(&empty);
    assert_eq!(
        child.config.rootfs.diff_ids,
        vec![d1.clone(), d2.clone()],
        "an empty diff still adds a layer"
    );
    assert_eq!(child.parent.as_ref(), Some(&base.id));
    assert_eq!(child.config.author.as_deref(), Some("me"));
    assert_eq!(child.config.container.as_deref(), Some(CID));
    assert_eq!(
        child.config.container_config.as_ref().unwrap()["Image"],
        "base:1",
        "the container's own config is kept"
    );
    assert_eq!(
        child.config.config.as_ref().unwrap().env,
        Some(vec!["X=1".to_string()])
    );
    let c1 = berth_snapshot::chain_id(None, &d1);
    let c2 = berth_snapshot::chain_id(Some(&c1), &d2);
    assert_eq!(e.store.layer_chain(&child.id).unwrap(), Some(c2.clone()));
    assert!(e.store.is_parent(&base.id));

    let hist = e.store.history(&child.id).unwrap();
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[0].id, child.id.to_string());
    assert_eq!(hist[0].tags, Some(vec!["child:v1".to_string()]));
    assert_eq!(hist[0].created_by, "sh -c echo hi");
    assert_eq!(hist[0].comment, "snap");
    assert_eq!(hist[1].id, "<missing>");
    assert_eq!(hist[1].comment, "Imported from -");
    assert_eq!(hist[1].size, 1);

    let err = e
        .store
        .remove(&base.id.to_string(), true, &nobody)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
            short(&base.id)
        )
    );
    // By tag: untag only, the parent stays for its child.
    assert_eq!(
        e.store.remove("base", false, &nobody).unwrap(),
        vec![DeleteItem::Untagged("base:latest".into())]
    );
    assert_eq!(e.store.list().len(), 2);
    // Deleting the child takes the untagged parent and both layers with it.
    assert_eq!(
        e.store.remove("child:v1", false, &nobody).unwrap(),
        vec![
            DeleteItem::Untagged("child:v1".into()),
            DeleteItem::Deleted(child.id.to_string()),
            DeleteItem::Deleted(c2.to_string()),
            DeleteItem::Deleted(base.id.to_string()),
            DeleteItem::Deleted(c1.to_string()),
        ]
    );
    assert!(e.store.list().is_empty());
    assert_eq!(e.snap.count(), 0);
    assert_eq!(e.blob_count(), 0);
}

#[test]
fn shared_layers_outlive_one_of_their_images() {
    let e = env();
    let tar = tar_of(&[("a", b"1")]);
    let one = import(&e.store, &tar, Some("one"), &["ENV A=1"]);
    let two = import(&e.store, &tar, Some("two"), &["ENV A=2"]);
    assert_ne!(one.id, two.id);
    assert_eq!(
        e.store.remove("one", false, &nobody).unwrap(),
        vec![
            DeleteItem::Untagged("one:latest".into()),
            DeleteItem::Deleted(one.id.to_string())
        ]
    );
    assert_eq!(e.snap.count(), 1);
    assert!(
        e.dir
            .path()
            .join("content/blobs/sha256")
            .join(Digest::of(&tar).hex())
            .exists()
    );
    assert_eq!(e.store.get("two").unwrap().id, two.id);
    e.store.remove("two", false, &nobody).unwrap();
    assert_eq!(e.snap.count(), 0);
    assert_eq!(e.blob_count(), 0);
}

#[test]
fn forced_rmi_under_a_stopped_container_keeps_layers_until_gc() {
    let e = env();
    let rec = import(&e.store, &tar_of(&[("a", b"12345")]), Some("img"), &[]);
    let chain = e.store.layer_chain(&rec.id).unwrap().unwrap();
    let stopped = |_: &Digest| Some((CID.to_string(), false));
    assert_eq!(
        e.store.remove(short(&rec.id), true, &stopped).unwrap(),
        vec![
            DeleteItem::Untagged("img:latest".into()),
            DeleteItem::Deleted(rec.id.to_string())
        ]
    );
    assert!(e.store.list().is_empty());
    assert!(e.snap.has_layer(&chain), "the container still sits on it");
    assert_eq!(e.store.gc_layers(std::slice::from_ref(&chain)).unwrap(), 0);
    assert!(e.snap.has_layer(&chain));
    assert_eq!(e.store.gc_layers(&[]).unwrap(), 5);
    assert_eq!(e.snap.count(), 0);
    assert_eq!(e.blob_count(), 0);
}

fn entries_of(archive: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    let mut ar = tar::Archive::new(archive);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

#[test]
fn save_then_load_round_trips_exactly() {
    let src = env();
    let base = import(&src.store, &tar_of(&[("a", b"1")]), Some("base:1"), &[]);
    let child = commit_over(
        &src.store,
        &base.id,
        &tar_of(&[("b", b"22")]),
        Some("example.com:5000/ns/child:v2"),
    );
    src.store
        .tag(&child.id, &Reference::parse("alias").unwrap())
        .unwrap();
    let mut archive = Vec::new();
    src.store
        .save(
            &["example.com:5000/ns/child:v2".into(), base.id.to_string()],
            &mut archive,
        )
        .unwrap();

    let files = entries_of(&archive);
    assert!(files.contains_key("oci-layout"));
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(
        manifest[0]["Config"],
        json!(format!("blobs/sha256/{}", child.id.hex()))
    );
    assert_eq!(
        manifest[0]["RepoTags"],
        json!(["example.com:5000/ns/child:v2"])
    );
    assert_eq!(manifest[0]["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(manifest[1]["RepoTags"], json!(["base:1"]));
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        json!("example.com:5000/ns/child:v2")
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        json!("v2")
    );
    let repos: serde_json::Value = serde_json::from_slice(&files["repositories"]).unwrap();
    assert_eq!(repos["base"]["1"], json!(base.id.hex()));
    // Blobs are content addressed.
    for (name, data) in &files {
        if let Some(hex) = name.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
            assert_eq!(Digest::of(data).hex(), hex);
        }
    }

    let dst = env();
    let mut lines = Vec::new();
    let loaded = dst
        .store
        .load(&mut &archive[..], &mut |l| lines.push(l.to_string()))
        .unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].id, child.id);
    assert_eq!(loaded[0].tags, vec!["example.com:5000/ns/child:v2"]);
    assert_eq!(loaded[1].id, base.id);
    assert_eq!(
        lines,
        vec![
            "Loaded image: example.com:5000/ns/child:v2",
            "Loaded image: base:1"
        ]
    );
    assert_eq!(
        dst.store.raw_config(&child.id).unwrap(),
        src.store.raw_config(&child.id).unwrap()
    );
    assert_eq!(
        dst.store.layer_chain(&child.id).unwrap(),
        src.store.layer_chain(&child.id).unwrap()
    );
    assert_eq!(dst.store.get("base:1").unwrap().size, base.size);
    assert_eq!(
        dst.snap.applies.load(Ordering::SeqCst),
        2,
        "the shared base layer is unpacked once"
    );
    // Loading again changes nothing.
    dst.store
        .load(&mut &gzip(&archive)[..], &mut |_| {})
        .unwrap();
    assert_eq!(dst.snap.applies.load(Ordering::SeqCst), 2);
    assert_eq!(dst.store.list().len(), 2);
    assert_eq!(dst.ingest_count(), 0);
}

/// A pre-25 `docker save` archive: `<id>.json`, `<dir>/layer.tar` (a duplicate as a symlink).
fn legacy_archive(layer: &[u8], env_value: &str, tag: &str) -> (Vec<u8>, Digest) {
    let diff = Digest::of(layer);
    let cfg = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": [format!("V={env_value}")], "Cmd": ["sh"]},
        "created": "2024-01-02T03:04:05Z",
        "rootfs": {"type": "layers", "diff_ids": [diff, diff]},
        "history": [{"created": "2024-01-02T03:04:05Z", "created_by": "ADD file"}, {"created": "2024-01-02T03:04:05Z", "created_by": "ADD again"}]
    }))
    .unwrap();
    let id = Digest::of(&cfg);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
    };
    add(&format!("{}.json", id.hex()), &cfg);
    add("l1/layer.tar", layer);
    add("l1/VERSION", b"1.0");
    let manifest = json!([{"Config": format!("{}.json", id.hex()), "RepoTags": [tag], "Layers": ["l1/layer.tar", "l2/layer.tar"]}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "l2/layer.tar", "../l1/layer.tar")
        .unwrap();
    (b.into_inner().unwrap(), id)
}

#[test]
fn loads_a_legacy_docker_save_and_moves_its_tag_on_reload() {
    let e = env();
    let layer = tar_of(&[("etc/os-release", b"ID=test\n")]);
    let (archive, id) = legacy_archive(&layer, "1", "legacy:v1");
    let loaded = e.store.load(&mut &archive[..], &mut |_| {}).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, id);
    assert_eq!(loaded[0].tags, vec!["legacy:v1"]);
    let rec = e.store.get("legacy:v1").unwrap();
    assert_eq!(rec.created, "2024-01-02T03:04:05Z");
    assert_eq!(
        rec.config.config.as_ref().unwrap().cmd,
        Some(vec!["sh".to_string()])
    );
    assert_eq!(e.store.history(&id).unwrap()[0].created_by, "ADD again");

    let (archive2, id2) = legacy_archive(&layer, "2", "legacy:v1");
    e.store.load(&mut &archive2[..], &mut |_| {}).unwrap();
    assert_eq!(e.store.get("legacy:v1").unwrap().id, id2);
    assert!(
        e.store.get(&id.to_string()).unwrap().repo_tags.is_empty(),
        "the old image is now dangling"
    );
    assert_eq!(e.snap.count(), 2);
}

#[test]
fn load_rejects_tampered_content_without_leaving_anything() {
    let e = env();
    let layer = tar_of(&[("a", b"1")]);
    let (archive, _) = legacy_archive(&layer, "1", "bad:1");
    // Swap the layer for another of the same length: the diff id no longer matches.
    let files = entries_of(&archive);
    let evil = tar_of(&[("a", b"2")]);
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in &files {
        if name == "l2/layer.tar" {
            continue;
        }
        let data: &[u8] = if name == "l1/layer.tar" { &evil } else { data };
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
    }
    let tampered = b.into_inner().unwrap();
    let err = e.store.load(&mut &tampered[..], &mut |_| {}).unwrap_err();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    assert!(e.store.list().is_empty());
    assert_eq!(e.snap.count(), 0);
    assert_eq!(e.blob_count(), 0);
    assert_eq!(e.ingest_count(), 0);
    let err = e
        .store
        .load(&mut &b"not a tar at all, really"[..], &mut |_| {})
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn loads_an_oci_layout_with_gzip_layers_for_this_platform() {
    let e = env();
    let layer = tar_of(&[("hello", b"world")]);
    let gz = gzip(&layer);
    let diff = Digest::of(&layer);
    let cfg = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff]}})).unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(&cfg), "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": Digest::of(&gz), "size": gz.len()}]
    }))
    .unwrap();
    let other_manifest = b"{\"not\": \"loaded\"}".to_vec();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let inner = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": Digest::of(&other_manifest), "size": 1, "platform": {"os": "linux", "architecture": "s390x"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": Digest::of(&manifest), "size": manifest.len(), "platform": {"os": "linux", "architecture": arch}}
        ]
    }))
    .unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": Digest::of(&inner), "size": inner.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "registry.local/app:2"}}]
    }))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".to_string(), index),
        (
            format!("blobs/sha256/{}", Digest::of(&inner).hex()),
            inner.clone(),
        ),
        (
            format!("blobs/sha256/{}", Digest::of(&manifest).hex()),
            manifest.clone(),
        ),
        (
            format!("blobs/sha256/{}", Digest::of(&other_manifest).hex()),
            other_manifest.clone(),
        ),
        (
            format!("blobs/sha256/{}", Digest::of(&cfg).hex()),
            cfg.clone(),
        ),
        (
            format!("blobs/sha256/{}", Digest::of(&gz).hex()),
            gz.clone(),
        ),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, &name, data.as_slice()).unwrap();
    }
    let archive = b.into_inner().unwrap();
    let mut lines = Vec::new();
    let loaded = e
        .store
        .load(&mut &archive[..], &mut |l| lines.push(l.to_string()))
        .unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, Digest::of(&cfg));
    assert_eq!(loaded[0].tags, vec!["registry.local/app:2"]);
    assert_eq!(lines, vec!["Loaded image: registry.local/app:2"]);
    assert_eq!(
        e.store.layer_chain(&loaded[0].id).unwrap(),
        Some(diff.clone())
    );
    // The uncompressed tar is what the store keeps (so `save` is exact).
    assert_eq!(
        std::fs::read(e.dir.path().join("content/blobs/sha256").join(diff.hex())).unwrap(),
        layer
    );
}

#[test]
fn prune_removes_dangling_then_all_unused() {
    let e = env();
    let dangling = import(&e.store, &tar_of(&[("d", b"123")]), None, &[]);
    let used = import(&e.store, &tar_of(&[("u", b"1")]), Some("used"), &[]);
    let tagged = import(&e.store, &tar_of(&[("t", b"12")]), Some("tagged"), &[]);
    let uses = |id: &Digest| (*id == used.id).then(|| (CID.to_string(), false));
    let (items, reclaimed) = e.store.prune(false, &uses).unwrap();
    let chain = e.store.layer_chain(&tagged.id).unwrap();
    assert_eq!(
        items,
        vec![
            DeleteItem::Deleted(dangling.id.to_string()),
            DeleteItem::Deleted(Digest::of(&tar_of(&[("d", b"123")])).to_string())
        ]
    );
    assert_eq!(reclaimed, 3);
    let (items, reclaimed) = e.store.prune(true, &uses).unwrap();
    assert_eq!(
        items,
        vec![
            DeleteItem::Untagged("tagged:latest".into()),
            DeleteItem::Deleted(tagged.id.to_string()),
            DeleteItem::Deleted(chain.unwrap().to_string())
        ]
    );
    assert_eq!(reclaimed, 2);
    assert_eq!(e.store.list().len(), 1);
    assert_eq!(e.store.prune(true, &uses).unwrap(), (Vec::new(), 0));
}

#[test]
fn reopening_the_store_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let snap = Arc::new(FakeSnap::default());
    let id = {
        let db = Arc::new(redb::Database::create(dir.path().join("berth.redb")).unwrap());
        let store = ImageStore::open(dir.path(), db, snap.clone()).unwrap();
        import(&store, &tar_of(&[("a", b"1")]), Some("keep"), &[]).id
    };
    let db = Arc::new(redb::Database::create(dir.path().join("berth.redb")).unwrap());
    let store = ImageStore::open(dir.path(), db, snap).unwrap();
    let rec = store.get("keep").unwrap();
    assert_eq!(rec.id, id);
    assert_eq!(rec.size, 1);
    assert_eq!(
        store.tag_refs(&id).unwrap(),
        vec!["docker.io/library/keep:latest"]
    );
}

#[test]
fn noprune_keeps_untagged_parents() {
    let e = env();
    let base = import(&e.store, &tar_of(&[("a", b"1")]), None, &[]);
    let child = commit_over(&e.store, &base.id, &tar_of(&[("b", b"2")]), Some("child"));
    let items = e.store.remove_with("child", false, true, &nobody).unwrap();
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[1], DeleteItem::Deleted(child.id.to_string()));
    assert_eq!(e.store.list().len(), 1);
    assert_eq!(e.snap.count(), 1);
    // Now dangling and childless: prune takes it.
    let (items, reclaimed) = e.store.prune(false, &nobody).unwrap();
    assert_eq!(items[0], DeleteItem::Deleted(base.id.to_string()));
    assert_eq!(reclaimed, 1);
    assert_eq!(e.snap.count(), 0);
}

#[test]
fn store_pulled_verifies_records_repo_digest_and_rolls_back() {
    let src = env();
    let rec = import(&src.store, &tar_of(&[("a", b"pulled")]), Some("x:1"), &[]);
    let cfg = src.store.raw_config(&rec.id).unwrap();
    let layer = gzip(&tar_of(&[("a", b"pulled")]));
    let dst = env();
    // Wrong layer content: nothing stored.
    let bad = gzip(&tar_of(&[("a", b"tampered")]));
    let r = Reference::parse("h:5000/x:1").unwrap();
    let err = dst
        .store
        .store_pulled(
            &cfg,
            &mut |_| Ok(Box::new(std::io::Cursor::new(bad.clone()))),
            Some(&r),
            Some(
                "h:5000/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ),
        )
        .unwrap_err();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    assert_eq!(dst.blob_count(), 0);
    assert!(dst.store.list().is_empty());
    let d1 = format!("h:5000/x@{}", Digest::of(b"one"));
    let got = dst
        .store
        .store_pulled(
            &cfg,
            &mut |_| Ok(Box::new(std::io::Cursor::new(layer.clone()))),
            Some(&r),
            Some(&d1),
        )
        .unwrap();
    assert_eq!(got.id, rec.id);
    assert_eq!(got.repo_tags, vec!["h:5000/x:1".to_string()]);
    assert_eq!(got.repo_digests, vec![d1]);
    // Present layers are not opened again; a new digest of the same repo replaces the old.
    let d2 = format!("h:5000/x@{}", Digest::of(b"two"));
    let got = dst
        .store
        .store_pulled(
            &cfg,
            &mut |_| Err(ImageError::Invalid("must not be called".into())),
            Some(&r),
            Some(&d2),
        )
        .unwrap();
    assert_eq!(got.repo_digests, vec![d2.clone()]);
    let other = format!("other/x@{}", Digest::of(b"3"));
    dst.store.add_repo_digest(&rec.id, &other).unwrap();
    assert!(
        dst.store
            .get("h:5000/x@sha256:0000000000000000000000000000000000000000000000000000000000000000")
            .is_err()
    );
    assert_eq!(
        dst.store.get(&rec.id.to_string()).unwrap().repo_digests,
        vec![d2, other]
    );
    let chain = dst.store.layer_chain(&rec.id).unwrap().unwrap();
    assert!(dst.store.has_layer(&chain, &rec.config.rootfs.diff_ids[0]));
}

#[test]
fn compressed_layer_is_cached_and_dropped_with_the_image() {
    let e = env();
    let rec = import(&e.store, &tar_of(&[("a", b"zip me")]), Some("z:1"), &[]);
    let diff = &rec.config.rootfs.diff_ids[0];
    assert!(e.store.blob_mapping(diff).is_none());
    let (m1, p1) = e.store.compressed_layer(diff).unwrap();
    assert_eq!(m1.media_type, crate::MEDIA_TYPE_LAYER_GZIP);
    assert_eq!(Digest::of(&std::fs::read(&p1).unwrap()), m1.digest);
    let mut m = m1.clone();
    m.sources = vec!["h/x".into()];
    e.store.record_blob_mapping(diff, m).unwrap();
    let (m2, _) = e.store.compressed_layer(diff).unwrap();
    assert_eq!(m2.digest, m1.digest);
    assert_eq!(m2.sources, vec!["h/x".to_string()]);
    e.store.remove("z:1", false, &nobody).unwrap();
    assert!(!p1.exists());
    assert_eq!(e.blob_count(), 0);
}

/// A two-layer image config (diff ids of `tars`) for the streaming-store tests.
fn two_layer_config(tars: &[Vec<u8>]) -> Vec<u8> {
    let diff_ids: Vec<String> = tars.iter().map(|t| Digest::of(t).to_string()).collect();
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

/// Fails every read after `left` bytes, like a connection dropped mid-layer.
struct Broken {
    data: std::io::Cursor<Vec<u8>>,
    left: usize,
}

impl Read for Broken {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("connection reset"));
        }
        let n = buf.len().min(self.left);
        let n = self.data.read(&mut buf[..n])?;
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn streamed_layer_with_wrong_diff_id_stores_nothing() {
    let e = env();
    let l1 = tar_of(&[("a", b"one")]);
    let l2 = tar_of(&[("b", b"two")]);
    let tampered = tar_of(&[("b", b"evil")]);
    // An unrelated image already holds the tampered content as its own layer: the failed pull
    // must not touch it.
    let other = import(&e.store, &tampered, Some("other:1"), &[]);
    let (blobs, layers) = (e.blob_count(), e.snap.count());
    let cfg = two_layer_config(&[l1.clone(), l2]);
    let layers_in = [gzip(&l1), gzip(&tampered)];
    let err = e
        .store
        .store_pulled(
            &cfg,
            &mut |i| Ok(Box::new(std::io::Cursor::new(layers_in[i].clone()))),
            reference("h/x:1").as_ref(),
            None,
        )
        .unwrap_err();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    // The first (good) layer was rolled back with the rest.
    assert_eq!(e.blob_count(), blobs);
    assert_eq!(e.snap.count(), layers);
    assert_eq!(e.ingest_count(), 0);
    assert!(!e.store.content.has(&Digest::of(&l1)));
    assert_eq!(e.store.list().len(), 1);
    let chain = e.store.layer_chain(&other.id).unwrap().unwrap();
    assert!(e.store.has_layer(&chain, &Digest::of(&tampered)));
}

#[test]
fn streamed_layer_cut_off_mid_stream_stores_nothing() {
    let e = env();
    let l1 = tar_of(&[("big", &[7u8; 64 * 1024][..])]);
    let cfg = two_layer_config(std::slice::from_ref(&l1));
    let err = e
        .store
        .store_pulled(
            &cfg,
            &mut |_| {
                Ok(Box::new(Broken {
                    data: std::io::Cursor::new(l1.clone()),
                    left: 10_000,
                }))
            },
            reference("h/x:1").as_ref(),
            None,
        )
        .unwrap_err();
    assert!(!matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    assert_eq!(
        (e.blob_count(), e.snap.count(), e.ingest_count()),
        (0, 0, 0)
    );
    assert!(e.store.list().is_empty());
}

#[test]
fn streamed_layer_is_read_once_and_kept_as_its_tar() {
    let e = env();
    let l1 = tar_of(&[("a", b"one")]);
    let l2 = tar_of(&[("b", &[3u8; 300 * 1024][..])]);
    let cfg = two_layer_config(&[l1.clone(), l2.clone()]);
    let opens = AtomicUsize::new(0);
    let ins = [gzip(&l1), l2.clone()];
    let rec = e
        .store
        .store_pulled(
            &cfg,
            &mut |i| {
                opens.fetch_add(1, Ordering::SeqCst);
                Ok(Box::new(std::io::Cursor::new(ins[i].clone())))
            },
            reference("h/x:1").as_ref(),
            None,
        )
        .unwrap();
    assert_eq!(opens.load(Ordering::SeqCst), 2);
    assert_eq!(e.snap.applies.load(Ordering::SeqCst), 2);
    assert_eq!(e.ingest_count(), 0);
    for t in [&l1, &l2] {
        let mut got = Vec::new();
        e.store
            .layer_tar(&Digest::of(t))
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(&got, t);
    }
    assert_eq!(
        rec.config.rootfs.diff_ids,
        vec![Digest::of(&l1), Digest::of(&l2)]
    );
    let chain = e.store.layer_chain(&rec.id).unwrap().unwrap();
    assert!(e.store.has_layer(&chain, &Digest::of(&l2)));
    // A layer whose chain exists but whose tar blob went missing is re-hashed and re-stored.
    e.store.content.delete(&Digest::of(&l2));
    let again = e
        .store
        .store_pulled(
            &cfg,
            &mut |i| Ok(Box::new(std::io::Cursor::new(ins[i].clone()))),
            None,
            None,
        )
        .unwrap();
    assert_eq!(again.id, rec.id);
    assert!(e.store.content.has(&Digest::of(&l2)));
    assert_eq!(e.snap.applies.load(Ordering::SeqCst), 2);
}
