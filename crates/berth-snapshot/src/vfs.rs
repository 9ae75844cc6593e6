//! The vfs snapshotter: every layer and container is a full copy of its parent. Slow and
//! disk-hungry, but works on any filesystem; used where overlayfs cannot mount. Copies shell
//! out to `cp -a` (GNU coreutils preserves ownership, modes, xattrs and hard links, which a
//! hand-written copy would have to reimplement); this driver is never on a fast path.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_core::Digest;
use nix::mount::{MntFlags, MsFlags};

use crate::unpack::{LayerWriter, WhiteoutMode, unpack};
use crate::{
    AppliedLayer, Change, ChangeKind, Result, SnapshotError, Snapshotter, chain_id, dir_usage,
    io_err,
};

/// vfs snapshotter.
pub struct VfsSnapshotter {
    root: PathBuf,
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .map_err(io_err("running cp"))?;
    if !status.success() {
        return Err(SnapshotError::Io {
            context: format!("copying {} to {}", from.display(), to.display()),
            source: std::io::Error::other("cp failed"),
        });
    }
    Ok(())
}

impl VfsSnapshotter {
    /// Opens (creating) a store rooted at `root`.
    pub fn new(root: &Path) -> Result<Self> {
        for sub in ["layers", "containers", "tmp"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(io_err(p.display().to_string()))?;
        }
        if let Ok(rd) = std::fs::read_dir(root.join("tmp")) {
            for e in rd.flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok(VfsSnapshotter {
            root: root.to_path_buf(),
        })
    }

    fn layer_fs(&self, chain: &Digest) -> PathBuf {
        self.root.join("layers").join(chain.hex()).join("fs")
    }

    fn parent_fs(&self, key: &str) -> Option<PathBuf> {
        let s =
            std::fs::read_to_string(self.root.join("containers").join(key).join("parent")).ok()?;
        let d: Digest = s.trim().parse().ok()?;
        Some(self.layer_fs(&d))
    }
}

impl VfsSnapshotter {
    /// Unpacks a layer into a temp dir and commits it by rename, unless its digest is not
    /// `expected`.
    fn apply(
        &self,
        parent: Option<&Digest>,
        layer: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<AppliedLayer> {
        let tmp = tempfile::Builder::new()
            .prefix("unpack")
            .tempdir_in(self.root.join("tmp"))
            .map_err(io_err("tmp"))?;
        let fs = tmp.path().join("fs");
        std::fs::create_dir(&fs).map_err(io_err("mkdir"))?;
        let before = match parent {
            Some(p) => {
                let pfs = self.layer_fs(p);
                if !pfs.is_dir() {
                    return Err(SnapshotError::LayerNotFound(p.to_string()));
                }
                copy_tree(&pfs, &fs)?;
                dir_usage(&fs)
            }
            None => 0,
        };
        let diff_id = unpack(layer, &fs, WhiteoutMode::Apply)?;
        // Before the commit below, so a mismatched tar leaves only the temp dir (dropped).
        crate::check_digest(expected, &diff_id)?;
        let chain = chain_id(parent, &diff_id);
        let size = dir_usage(&fs).saturating_sub(before);
        let final_dir = self.root.join("layers").join(chain.hex());
        if !final_dir.exists() {
            std::fs::write(tmp.path().join("diff_id"), diff_id.to_string())
                .map_err(io_err("diff_id"))?;
            let t = tmp.keep();
            if let Err(e) = std::fs::rename(&t, &final_dir) {
                let _ = std::fs::remove_dir_all(&t);
                if !final_dir.exists() {
                    return Err(SnapshotError::Io {
                        context: format!("committing layer {chain}"),
                        source: e,
                    });
                }
            }
        }
        Ok(AppliedLayer {
            diff_id,
            chain_id: chain,
            size,
        })
    }
}

impl Snapshotter for VfsSnapshotter {
    fn name(&self) -> &'static str {
        "vfs"
    }

    fn apply_layer(&self, parent: Option<&Digest>, layer: &mut dyn Read) -> Result<AppliedLayer> {
        self.apply(parent, layer, None)
    }

    fn apply_layer_verified(
        &self,
        parent: Option<&Digest>,
        layer: &mut dyn Read,
        expected: &Digest,
    ) -> Result<AppliedLayer> {
        self.apply(parent, layer, Some(expected))
    }

    fn has_layer(&self, chain_id: &Digest) -> bool {
        self.layer_fs(chain_id).is_dir()
    }

    fn remove_layer(&self, chain_id: &Digest) -> Result<()> {
        let d = self.root.join("layers").join(chain_id.hex());
        match std::fs::remove_dir_all(&d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SnapshotError::Io {
                context: d.display().to_string(),
                source: e,
            }),
        }
    }

    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<()> {
        let d = self.root.join("containers").join(key);
        if d.exists() {
            return Err(SnapshotError::SnapshotExists(key.to_string()));
        }
        std::fs::create_dir_all(d.join("fs")).map_err(io_err("mkdir"))?;
        if let Some(p) = parent {
            let pfs = self.layer_fs(p);
            if !pfs.is_dir() {
                let _ = std::fs::remove_dir_all(&d);
                return Err(SnapshotError::LayerNotFound(p.to_string()));
            }
            copy_tree(&pfs, &d.join("fs"))?;
        }
        std::fs::write(
            d.join("parent"),
            parent.map(|p| p.to_string()).unwrap_or_default(),
        )
        .map_err(io_err("parent"))?;
        Ok(())
    }

    fn mount(&self, key: &str, target: &Path) -> Result<()> {
        let fs = self.root.join("containers").join(key).join("fs");
        if !fs.is_dir() {
            return Err(SnapshotError::SnapshotNotFound(key.to_string()));
        }
        nix::mount::mount(
            Some(&fs),
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| SnapshotError::Io {
            context: format!("bind mounting {}", target.display()),
            source: e.into(),
        })
    }

    fn unmount(&self, target: &Path) -> Result<()> {
        match nix::mount::umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
            Err(e) => Err(SnapshotError::Io {
                context: format!("unmounting {}", target.display()),
                source: e.into(),
            }),
        }
    }

    fn remove(&self, key: &str) -> Result<()> {
        let d = self.root.join("containers").join(key);
        match std::fs::remove_dir_all(&d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SnapshotError::Io {
                context: d.display().to_string(),
                source: e,
            }),
        }
    }

    fn changes(&self, key: &str) -> Result<Vec<Change>> {
        let fs = self.root.join("containers").join(key).join("fs");
        if !fs.is_dir() {
            return Err(SnapshotError::SnapshotNotFound(key.to_string()));
        }
        let parent = self.parent_fs(key);
        let mut out = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            for e in std::fs::read_dir(fs.join(&rel))
                .map_err(io_err("read_dir"))?
                .flatten()
            {
                let r = rel.join(e.file_name());
                let Ok(m) = e.path().symlink_metadata() else {
                    continue;
                };
                let old = parent
                    .as_ref()
                    .and_then(|p| p.join(&r).symlink_metadata().ok());
                let kind = match old {
                    None => Some(ChangeKind::Added),
                    Some(o)
                        if o.mtime() != m.mtime()
                            || o.size() != m.size()
                            || o.mode() != m.mode()
                            || o.uid() != m.uid() =>
                    {
                        Some(ChangeKind::Modified)
                    }
                    Some(_) => None,
                };
                if let Some(kind) = kind {
                    out.push(Change {
                        path: format!("/{}", r.display()),
                        kind,
                    });
                }
                if m.is_dir() {
                    stack.push(r);
                }
            }
            if let Some(p) = &parent
                && let Ok(rd) = std::fs::read_dir(p.join(&rel))
            {
                for e in rd.flatten() {
                    let r = rel.join(e.file_name());
                    if fs.join(&r).symlink_metadata().is_err() {
                        out.push(Change {
                            path: format!("/{}", r.display()),
                            kind: ChangeKind::Deleted,
                        });
                    }
                }
            }
        }
        // Directories holding changes count as modified (Docker does this so that a commit
        // carries their ownership and modes).
        let listed: HashSet<String> = out.iter().map(|c| c.path.clone()).collect();
        let mut parents = HashSet::new();
        for c in &out {
            let mut p = Path::new(&c.path).parent();
            while let Some(d) = p {
                let s = d.display().to_string();
                if s == "/" || listed.contains(&s) || !parents.insert(s) {
                    break;
                }
                p = d.parent();
            }
        }
        out.extend(parents.into_iter().map(|path| Change {
            path,
            kind: ChangeKind::Modified,
        }));
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn diff_tar(&self, key: &str, out: &mut dyn Write) -> Result<()> {
        let fs = self.root.join("containers").join(key).join("fs");
        let mut w = LayerWriter::new(out);
        for ch in self.changes(key)? {
            let rel = Path::new(ch.path.trim_start_matches('/'));
            if ch.kind == ChangeKind::Deleted {
                w.whiteout(rel, 0)?;
            } else {
                let src = fs.join(rel);
                let m = src
                    .symlink_metadata()
                    .map_err(io_err(src.display().to_string()))?;
                w.add(&src, rel, &m)?;
            }
        }
        w.finish()
    }

    fn usage(&self, key: &str) -> Result<u64> {
        let fs = self.root.join("containers").join(key).join("fs");
        if !fs.is_dir() {
            return Err(SnapshotError::SnapshotNotFound(key.to_string()));
        }
        // What the container wrote: regular files it added or modified (as overlay's upper dir).
        let mut total = 0;
        for ch in self.changes(key)? {
            if ch.kind != ChangeKind::Deleted
                && let Ok(m) = fs.join(ch.path.trim_start_matches('/')).symlink_metadata()
                && m.is_file()
            {
                total += m.len();
            }
        }
        Ok(total)
    }
}
