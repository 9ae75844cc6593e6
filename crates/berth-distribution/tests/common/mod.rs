//! Shared by the client tests: a temp image store, tar and import helpers, a progress
//! recorder, and an in-process berth-registry.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_distribution::{Progress, progress_json};
use berth_image::{ImageStore, ImportOptions};

/// A fresh image store in a temp dir (vfs snapshotter: no mounts to clean up).
pub struct Store {
    pub _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub store: Arc<ImageStore>,
}

pub fn new_store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let db = Arc::new(redb::Database::create(root.join("berth.redb")).unwrap());
    let snap = Arc::new(berth_snapshot::VfsSnapshotter::new(&root.join("vfs")).unwrap());
    let store = Arc::new(ImageStore::open(&root, db, snap).unwrap());
    Store {
        _dir: dir,
        root,
        store,
    }
}

impl Store {
    pub fn blob_count(&self) -> usize {
        std::fs::read_dir(self.root.join("content/blobs/sha256"))
            .map(|r| r.count())
            .unwrap_or(0)
    }
    pub fn tmp_empty(&self) -> bool {
        std::fs::read_dir(self.root.join("tmp"))
            .map(|r| r.count() == 0)
            .unwrap_or(true)
    }
}

pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn import(s: &Store, files: &[(&str, &[u8])], name: &str) -> berth_image::ImageRecord {
    let tar = tar_of(files);
    s.store
        .import(
            &mut tar.as_slice(),
            ImportOptions {
                reference: Some(berth_core::Reference::parse(name).unwrap()),
                ..Default::default()
            },
        )
        .unwrap()
}

/// Collects progress lines as JSON strings.
#[derive(Default, Clone)]
pub struct Log(pub Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn sink(&self) -> impl Fn(Progress) + Send + Sync + 'static {
        let l = self.0.clone();
        move |p| l.lock().unwrap().push(progress_json(&p).to_string())
    }
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    pub fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }
}

pub async fn berth_registry(dir: &Path) -> SocketAddr {
    let cfg = berth_registry::RegistryConfig::filesystem(dir, "127.0.0.1:0");
    let (addr, fut) = berth_registry::bind(cfg).await.unwrap();
    tokio::spawn(fut);
    addr
}
