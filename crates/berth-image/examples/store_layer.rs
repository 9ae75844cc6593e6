//! Times storing one large random-content layer: `import` (hash the whole tar into the content
//! store first, then unpack it from there) against `store_pulled` (unpack while hashing and
//! copying, one pass); the layer is gzipped with `gzip -1` like bench/. Usage: `store_layer [MiB] [rounds] [dir]` (defaults 200, 3, /tmp).

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use berth_core::Digest;
use berth_image::{ImageStore, ImportOptions};
use berth_snapshot::{OverlaySnapshotter, Snapshotter};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Deterministic incompressible bytes (xorshift), so the example needs no RNG crate.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn open_store(root: &Path) -> Res<ImageStore> {
    std::fs::create_dir_all(root)?;
    let db = Arc::new(redb::Database::create(root.join("berth.redb"))?);
    let snap: Arc<dyn Snapshotter> = Arc::new(OverlaySnapshotter::new(&root.join("overlay2"))?);
    Ok(ImageStore::open(root, db, snap)?)
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let mib: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(200);
    let rounds: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let base = args.get(3).map(String::as_str).unwrap_or("/tmp");
    let work = tempfile::tempdir_in(base)?;

    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size((mib << 20) as u64);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, "random.bin", &noise(mib << 20)[..])?;
    let tar = b.into_inner()?;
    let t = Instant::now();
    let diff_id = Digest::of(&tar);
    println!("sha256 only: {:.3} s", t.elapsed().as_secs_f64());
    let gz_path = work.path().join("layer.tar.gz");
    {
        // `gzip -1` as the bench's layer is made (stored blocks for random data; flate2's
        // fast level Huffman-codes them, which costs far more to inflate).
        let f = std::fs::File::create(&gz_path)?;
        let mut child = std::process::Command::new("gzip")
            .arg("-1")
            .stdin(std::process::Stdio::piped())
            .stdout(f)
            .spawn()?;
        child.stdin.take().ok_or("no stdin")?.write_all(&tar)?;
        if !child.wait()?.success() {
            return Err("gzip failed".into());
        }
    }
    drop(tar);
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    }))?;

    for _ in 0..2 {
        let t = Instant::now();
        let mut d = flate2::read::GzDecoder::new(std::fs::File::open(&gz_path)?);
        std::io::copy(&mut d, &mut std::io::sink())?;
        println!("gunzip only: {:.3} s", t.elapsed().as_secs_f64());
    }

    for round in 0..rounds {
        // STORE_LAYER_PULL_ONLY=1 skips the import side (to profile the pull path alone).
        let old = if std::env::var_os("STORE_LAYER_PULL_ONLY").is_some() {
            0.0
        } else {
            let root = work.path().join(format!("import{round}"));
            let store = open_store(&root)?;
            let t = Instant::now();
            store.import(
                &mut std::fs::File::open(&gz_path)?,
                ImportOptions::default(),
            )?;
            let old = t.elapsed().as_secs_f64();
            drop(store);
            std::fs::remove_dir_all(&root)?;
            old
        };

        let root = work.path().join(format!("pull{round}"));
        let store = open_store(&root)?;
        let t = Instant::now();
        let mut open = |_| -> berth_image::Result<Box<dyn Read>> {
            let f = std::fs::File::open(&gz_path).map_err(|e| berth_image::ImageError::Io {
                context: "layer".into(),
                source: e,
            })?;
            Ok(Box::new(f))
        };
        store.store_pulled(&cfg, &mut open, None, None)?;
        let new = t.elapsed().as_secs_f64();
        drop(store);
        std::fs::remove_dir_all(&root)?;
        println!(
            "round {round}: import (two-pass) {old:.3} s   store_pulled (one-pass) {new:.3} s"
        );
    }
    Ok(())
}
