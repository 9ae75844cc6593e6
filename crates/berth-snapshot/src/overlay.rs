//! The overlayfs snapshotter (Docker's `overlay2`).
//!
//! On disk (under its root):
//! ```text
//! layers/<chain hex>/diff/      the layer's own files, overlay whiteouts in place
//! layers/<chain hex>/parent     parent chain digest (empty for a base layer)
//! layers/<chain hex>/diff_id    the layer's diff id
//! layers/<chain hex>/size       bytes the layer adds
//! l/<short>                     short symlinks to diff dirs, for long lowerdir strings
//! containers/<key>/{upper,work} a container's writable layer; `parent` names its chain
//! empty/                        the lower dir of containers over an empty image
//! tmp/                          layers being unpacked (renamed into place when complete)
//! ```

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_core::Digest;
use nix::mount::{MntFlags, MsFlags};

use crate::unpack::{WhiteoutMode, unpack, write_overlay_diff};
use crate::{
    AppliedLayer, Change, ChangeKind, Result, SnapshotError, Snapshotter, chain_id, dir_usage,
    io_err,
};

/// The kernel copies at most one page of mount options.
const MAX_MOUNT_DATA: usize = 4000;

/// Overlayfs snapshotter.
pub struct OverlaySnapshotter {
    root: PathBuf,
}

/// Whether overlayfs mounts work under `root` (tries one in a temporary directory).
pub fn overlay_supported(root: &Path) -> bool {
    // The daemon asks before the store exists; the check must run on the store's filesystem.
    let _ = std::fs::create_dir_all(root);
    let Ok(dir) = tempfile::Builder::new()
        .prefix("overlay-check")
        .tempdir_in(root)
    else {
        return false;
    };
    let d = dir.path();
    for sub in ["lower", "upper", "work", "merged"] {
        if std::fs::create_dir(d.join(sub)).is_err() {
            return false;
        }
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        d.join("lower").display(),
        d.join("upper").display(),
        d.join("work").display()
    );
    let ok = nix::mount::mount(
        Some("overlay"),
        &d.join("merged"),
        Some("overlay"),
        MsFlags::empty(),
        Some(opts.as_str()),
    )
    .is_ok();
    if ok {
        let _ = nix::mount::umount2(&d.join("merged"), MntFlags::MNT_DETACH);
    }
    ok
}

fn read_parent(dir: &Path) -> Option<Digest> {
    let s = std::fs::read_to_string(dir.join("parent")).ok()?;
    let s = s.trim();
    if s.is_empty() {
        None
    } else {
        s.parse::<Digest>().ok()
    }
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    xattr::get(dir, "trusted.overlay.opaque")
        .ok()
        .flatten()
        .as_deref()
        == Some(b"y")
}

/// Whether `rel` is visible in the merged view of `lowers` (topmost first): the first layer
/// that has it, a whiteout of it or of an ancestor, or an opaque ancestor decides.
fn in_lower(lowers: &[PathBuf], rel: &Path) -> bool {
    for l in lowers {
        match l.join(rel).symlink_metadata() {
            Ok(m) => return !is_whiteout(&m),
            Err(_) => {
                let mut a = rel.parent();
                while let Some(anc) = a.filter(|a| !a.as_os_str().is_empty()) {
                    let p = l.join(anc);
                    if let Ok(m) = p.symlink_metadata()
                        && (is_whiteout(&m) || (m.is_dir() && is_opaque(&p)))
                    {
                        return false;
                    }
                    a = anc.parent();
                }
            }
        }
    }
    false
}

impl OverlaySnapshotter {
    /// Opens (creating) a store rooted at `root`.
    pub fn new(root: &Path) -> Result<Self> {
        for sub in ["layers", "containers", "l", "empty", "tmp"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(io_err(p.display().to_string()))?;
        }
        // Leftovers of unpacks interrupted by a crash are never visible; drop them.
        if let Ok(rd) = std::fs::read_dir(root.join("tmp")) {
            for e in rd.flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok(OverlaySnapshotter {
            root: root.to_path_buf(),
        })
    }

    fn layer_dir(&self, chain: &Digest) -> PathBuf {
        self.root.join("layers").join(chain.hex())
    }

    fn container_dir(&self, key: &str) -> PathBuf {
        self.root.join("containers").join(key)
    }

    /// Diff dirs of a chain, topmost first.
    fn lower_dirs(&self, top: Option<&Digest>) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut cur = top.cloned();
        while let Some(c) = cur {
            let d = self.layer_dir(&c);
            if !d.join("diff").is_dir() {
                return Err(SnapshotError::LayerNotFound(c.to_string()));
            }
            out.push(d.join("diff"));
            cur = read_parent(&d);
            if out.len() > 500 {
                return Err(SnapshotError::InvalidArchive(
                    "layer chain too long or cyclic".into(),
                ));
            }
        }
        Ok(out)
    }

    /// Colon-joined diff dirs of a chain, topmost first.
    fn chain_lower(&self, chain: &Digest) -> Result<String> {
        match std::fs::read_to_string(self.layer_dir(chain).join("lower")) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Layers written before the `lower` file existed: walk the chain.
                let dirs = self.lower_dirs(Some(chain))?;
                Ok(dirs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"))
            }
            Err(e) => Err(SnapshotError::Io {
                context: format!("reading lower of {chain}"),
                source: e,
            }),
        }
    }

    /// The lowerdir option for a container over `parent`, shortened through `l/` symlinks when
    /// the full paths would not fit the one page the kernel takes for mount options.
    fn lowerdir_option(&self, parent: Option<&Digest>, container: &Path) -> Result<String> {
        let lower = match parent {
            None => return Ok(self.root.join("empty").display().to_string()),
            Some(p) => self.chain_lower(p)?,
        };
        let fixed = container.display().to_string().len() * 2 + 40;
        if lower.len() + fixed < MAX_MOUNT_DATA {
            return Ok(lower);
        }
        let short: Result<Vec<String>> = lower
            .split(':')
            .map(|d| {
                self.short_link(Path::new(d))
                    .map(|p| p.display().to_string())
            })
            .collect();
        let short = short?.join(":");
        if short.len() + fixed >= MAX_MOUNT_DATA {
            return Err(SnapshotError::InvalidArchive(format!(
                "image has too many layers for one overlay mount ({} lower dirs)",
                lower.split(':').count()
            )));
        }
        Ok(short)
    }

    fn short_link(&self, diff: &Path) -> Result<PathBuf> {
        let hex = diff
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let short = &hex[..hex.len().min(16)];
        let link = self.root.join("l").join(short);
        if link.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(diff, &link).map_err(io_err(link.display().to_string()))?;
        }
        Ok(link)
    }
}

impl OverlaySnapshotter {
    /// Unpacks a layer into a temp dir and commits it by rename, unless its digest is not
    /// `expected`.
    fn apply(
        &self,
        parent: Option<&Digest>,
        layer: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<AppliedLayer> {
        if let Some(p) = parent
            && !self.has_layer(p)
        {
            return Err(SnapshotError::LayerNotFound(p.to_string()));
        }
        let tmp = tempfile::Builder::new()
            .prefix("unpack")
            .tempdir_in(self.root.join("tmp"))
            .map_err(io_err("creating unpack dir"))?;
        let diff = tmp.path().join("diff");
        std::fs::create_dir(&diff).map_err(io_err(diff.display().to_string()))?;
        let diff_id = unpack(layer, &diff, WhiteoutMode::Overlay)?;
        // Before the commit below, so a mismatched tar leaves only the temp dir (dropped).
        crate::check_digest(expected, &diff_id)?;
        let chain = chain_id(parent, &diff_id);
        let size = dir_usage(&diff);
        let final_dir = self.layer_dir(&chain);
        if !final_dir.exists() {
            let t = tmp.path();
            std::fs::write(
                t.join("parent"),
                parent.map(|p| p.to_string()).unwrap_or_default(),
            )
            .map_err(io_err("writing parent"))?;
            std::fs::write(t.join("diff_id"), diff_id.to_string())
                .map_err(io_err("writing diff_id"))?;
            std::fs::write(t.join("size"), size.to_string()).map_err(io_err("writing size"))?;
            // The chain's lowerdir list, topmost first, so prepare needs one read, not a walk.
            let mut lower = final_dir.join("diff").display().to_string();
            if let Some(p) = parent {
                lower.push(':');
                lower.push_str(&self.chain_lower(p)?);
            }
            std::fs::write(t.join("lower"), lower).map_err(io_err("writing lower"))?;
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

impl Snapshotter for OverlaySnapshotter {
    fn name(&self) -> &'static str {
        "overlay2"
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
        self.layer_dir(chain_id).join("diff").is_dir()
    }

    fn remove_layer(&self, chain_id: &Digest) -> Result<()> {
        let d = self.layer_dir(chain_id);
        let short = &chain_id.hex()[..16];
        let _ = std::fs::remove_file(self.root.join("l").join(short));
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
        let d = self.container_dir(key);
        if let Some(p) = parent
            && !self.has_layer(p)
        {
            return Err(SnapshotError::LayerNotFound(p.to_string()));
        }
        let lower = self.lowerdir_option(parent, &d)?;
        match std::fs::create_dir(&d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(SnapshotError::SnapshotExists(key.to_string()));
            }
            Err(e) => {
                return Err(SnapshotError::Io {
                    context: d.display().to_string(),
                    source: e,
                });
            }
        }
        let res = (|| {
            for sub in ["upper", "work"] {
                std::fs::create_dir(d.join(sub))
                    .map_err(io_err(d.join(sub).display().to_string()))?;
            }
            std::fs::write(
                d.join("parent"),
                parent.map(|p| p.to_string()).unwrap_or_default(),
            )
            .map_err(io_err("writing parent"))?;
            std::fs::write(d.join("lower"), lower).map_err(io_err("writing lower"))
        })();
        if res.is_err() {
            let _ = std::fs::remove_dir_all(&d);
        }
        res
    }

    fn mount(&self, key: &str, target: &Path) -> Result<()> {
        let d = self.container_dir(key);
        let lower = match std::fs::read_to_string(d.join("lower")) {
            Ok(s) => s,
            // Prepared before `lower` was recorded: derive it from the parent chain.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d.join("upper").is_dir() => {
                self.lowerdir_option(read_parent(&d).as_ref(), &d)?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SnapshotError::SnapshotNotFound(key.to_string()));
            }
            Err(e) => {
                return Err(SnapshotError::Io {
                    context: d.display().to_string(),
                    source: e,
                });
            }
        };
        let opts = format!(
            "lowerdir={lower},upperdir={},workdir={}",
            d.join("upper").display(),
            d.join("work").display()
        );
        nix::mount::mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| SnapshotError::Io {
            context: format!("mounting overlay at {}", target.display()),
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
        let d = self.container_dir(key);
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
        let d = self.container_dir(key);
        let upper = d.join("upper");
        if !upper.is_dir() {
            return Err(SnapshotError::SnapshotNotFound(key.to_string()));
        }
        let lowers = self.lower_dirs(read_parent(&d).as_ref())?;
        let mut out = Vec::new();
        // (directory, whether an opaque upper directory hides the lower layers there)
        let mut stack = vec![(PathBuf::new(), false)];
        while let Some((rel, hidden)) = stack.pop() {
            let dir = upper.join(&rel);
            for e in std::fs::read_dir(&dir)
                .map_err(io_err(dir.display().to_string()))?
                .flatten()
            {
                let r = rel.join(e.file_name());
                let Ok(m) = e.path().symlink_metadata() else {
                    continue;
                };
                let kind = if is_whiteout(&m) {
                    ChangeKind::Deleted
                } else if !hidden && in_lower(&lowers, &r) {
                    ChangeKind::Modified
                } else {
                    ChangeKind::Added
                };
                out.push(Change {
                    path: format!("/{}", r.display()),
                    kind,
                });
                if m.is_dir() {
                    let opaque = hidden || is_opaque(&e.path());
                    stack.push((r, opaque));
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn diff_tar(&self, key: &str, out: &mut dyn Write) -> Result<()> {
        let upper = self.container_dir(key).join("upper");
        if !upper.is_dir() {
            return Err(SnapshotError::SnapshotNotFound(key.to_string()));
        }
        write_overlay_diff(&upper, out)
    }

    fn usage(&self, key: &str) -> Result<u64> {
        let upper = self.container_dir(key).join("upper");
        if !upper.is_dir() {
            return Err(SnapshotError::SnapshotNotFound(key.to_string()));
        }
        Ok(dir_usage(&upper))
    }
}
