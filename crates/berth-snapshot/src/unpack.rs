//! Layer tar extraction and production, with AUFS whiteouts translated to and from the
//! on-disk form of the driver (overlay whiteouts, or plain deletion for vfs).

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, UtimensatFlags};

use berth_core::chunk_worker::ChunkWorker;
use sha2::{Digest as _, Sha256};

use crate::{Result, SnapshotError, io_err};

const WH_PREFIX: &str = ".wh.";
const WH_OPAQUE: &str = ".wh..wh..opq";
const WH_META_PREFIX: &str = ".wh..wh.";
const XATTR_PAX_PREFIX: &str = "SCHILY.xattr.";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How whiteouts are represented in an unpacked layer directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// overlayfs: char device 0/0 for deletions, `trusted.overlay.opaque=y` for opaque dirs.
    Overlay,
    /// vfs: the layer dir is a full copy, so whiteouts delete what they name.
    Apply,
}

/// Bytes handed to the hashing thread at a time.
const HASH_CHUNK: usize = 1 << 20;

/// Hashes everything read through it. Once a stream passes one chunk, the hashing moves to a
/// helper thread fed with chunks, so a large layer's sha256 overlaps its unpacking instead of
/// adding to it (it is about a third of the cost of applying a big layer).
pub struct HashingReader<'a> {
    inner: &'a mut dyn Read,
    /// Hashes inline: the first chunk (small streams never start a thread) and the
    /// no-thread fallback.
    hasher: Sha256,
    inline: usize,
    tried_worker: bool,
    worker: Option<ChunkWorker<Sha256>>,
}

impl<'a> HashingReader<'a> {
    /// Wraps a reader.
    pub fn new(inner: &'a mut dyn Read) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            inline: 0,
            tried_worker: false,
            worker: None,
        }
    }

    /// Reads the rest and returns the digest of everything read.
    pub fn finish(mut self) -> std::io::Result<berth_core::Digest> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        let hasher = match self.worker.take() {
            Some(w) => w.finish()?,
            None => std::mem::take(&mut self.hasher),
        };
        Ok(berth_core::Digest::from_hasher(hasher))
    }
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(w) = &mut self.worker {
            w.push(&buf[..n])?;
            return Ok(n);
        }
        self.hasher.update(&buf[..n]);
        self.inline += n;
        if self.inline >= HASH_CHUNK && !self.tried_worker {
            // The helper carries on from the state hashed so far; without a thread, hashing
            // stays inline.
            self.tried_worker = true;
            self.worker = ChunkWorker::spawn(
                "layer-hash",
                HASH_CHUNK,
                self.hasher.clone(),
                |h: &mut Sha256, chunk| {
                    h.update(chunk);
                    Ok(())
                },
            )
            .ok();
        }
        Ok(n)
    }
}

/// Hashes everything read through it and, at end of stream, fails the read unless the digest
/// is the expected one, so a consumer that reads to the end before committing commits only
/// verified data.
pub(crate) struct VerifyingReader<'a> {
    inner: &'a mut dyn Read,
    hasher: Sha256,
    expected: &'a berth_core::Digest,
    mismatch: Option<berth_core::Digest>,
}

impl<'a> VerifyingReader<'a> {
    /// Wraps a reader expected to hash to `expected`.
    pub(crate) fn new(inner: &'a mut dyn Read, expected: &'a berth_core::Digest) -> Self {
        VerifyingReader {
            inner,
            hasher: Sha256::new(),
            expected,
            mismatch: None,
        }
    }
    /// The actual digest, if the stream ended and did not match.
    pub(crate) fn mismatch(&self) -> Option<&berth_core::Digest> {
        self.mismatch.as_ref()
    }
}

impl Read for VerifyingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(actual) = &self.mismatch {
            return Err(std::io::Error::other(format!(
                "layer digest mismatch: expected {}, got {actual}",
                self.expected
            )));
        }
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let actual = berth_core::Digest::from_hasher(self.hasher.clone());
            if actual != *self.expected {
                let e = std::io::Error::other(format!(
                    "layer digest mismatch: expected {}, got {actual}",
                    self.expected
                ));
                self.mismatch = Some(actual);
                return Err(e);
            }
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn clean_rel(p: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                return Err(SnapshotError::InvalidArchive(format!(
                    "path escapes the layer: {}",
                    p.display()
                )));
            }
            Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

/// Lower-level directories already known to be real directories (not symlinks) in this unpack,
/// so deep trees are not re-checked component by component for every entry.
#[derive(Default)]
struct SafeDirs(HashSet<PathBuf>);

impl SafeDirs {
    /// Refuses to write through a symlink that an earlier entry (or a lower copy) placed in the path.
    fn check(&mut self, root: &Path, rel: &Path) -> Result<()> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        if parent.as_os_str().is_empty() || self.0.contains(parent) {
            return Ok(());
        }
        let mut cur = PathBuf::new();
        for c in parent.components() {
            cur.push(c);
            if self.0.contains(&cur) {
                continue;
            }
            match root.join(&cur).symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(SnapshotError::InvalidArchive(format!(
                        "refusing to extract {} through symlink {}",
                        rel.display(),
                        cur.display()
                    )));
                }
                Ok(m) if m.is_dir() => {
                    self.0.insert(cur.clone());
                }
                Ok(_) => {
                    return Err(SnapshotError::InvalidArchive(format!(
                        "{} has a non-directory parent {}",
                        rel.display(),
                        cur.display()
                    )));
                }
                // Missing parents are created as real directories below.
                Err(_) => return Ok(()),
            }
        }
        Ok(())
    }
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    match p.symlink_metadata() {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn nix_err(context: String) -> impl FnOnce(nix::errno::Errno) -> SnapshotError {
    move |e| SnapshotError::Io {
        context,
        source: e.into(),
    }
}

fn make_overlay_whiteout(p: &Path) -> Result<()> {
    nix::sys::stat::mknod(p, SFlag::S_IFCHR, Mode::empty(), 0)
        .map_err(nix_err(format!("mknod {}", p.display())))
}

fn bad(e: impl std::fmt::Display) -> SnapshotError {
    SnapshotError::InvalidArchive(e.to_string())
}

/// `SCHILY.xattr.*` PAX records of an entry.
fn entry_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Vec<(OsString, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for ext in exts.flatten() {
            if let Some(k) = ext.key_bytes().strip_prefix(XATTR_PAX_PREFIX.as_bytes()) {
                out.push((
                    OsStr::from_bytes(k).to_os_string(),
                    ext.value_bytes().to_vec(),
                ));
            }
        }
    }
    out
}

/// Creates a device node or fifo with the header's ownership, mode and mtime.
fn make_special(entry_header: &tar::Header, kind: tar::EntryType, target: &Path) -> Result<()> {
    let perm = entry_header.mode().map_err(bad)? & 0o7777;
    let (sflag, dev) = if kind.is_fifo() {
        (SFlag::S_IFIFO, 0)
    } else {
        let major = entry_header.device_major().map_err(bad)?.unwrap_or(0);
        let minor = entry_header.device_minor().map_err(bad)?.unwrap_or(0);
        let flag = if kind.is_character_special() {
            SFlag::S_IFCHR
        } else {
            SFlag::S_IFBLK
        };
        (
            flag,
            nix::sys::stat::makedev(u64::from(major), u64::from(minor)),
        )
    };
    nix::sys::stat::mknod(target, sflag, Mode::from_bits_truncate(perm), dev)
        .map_err(nix_err(format!("mknod {}", target.display())))?;
    let uid = entry_header.uid().map_err(bad)? as u32;
    let gid = entry_header.gid().map_err(bad)? as u32;
    nix::unistd::fchownat(
        None,
        target,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(nix_err(format!("chown {}", target.display())))?;
    // After chown, which clears set-id bits; mknod's mode was also subject to the umask.
    nix::sys::stat::fchmodat(
        None,
        target,
        Mode::from_bits_truncate(perm),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(nix_err(format!("chmod {}", target.display())))?;
    let t = nix::sys::time::TimeSpec::new(entry_header.mtime().unwrap_or(0) as i64, 0);
    let _ = nix::sys::stat::utimensat(None, target, &t, &t, UtimensatFlags::NoFollowSymlink);
    Ok(())
}

/// Unpacks a layer tar into `dest`, returning its diff id (sha256 of the tar stream).
pub fn unpack(layer: &mut dyn Read, dest: &Path, mode: WhiteoutMode) -> Result<berth_core::Digest> {
    let mut hr = HashingReader::new(layer);
    {
        let mut ar = tar::Archive::new(&mut hr);
        ar.set_preserve_permissions(true);
        ar.set_preserve_ownerships(true);
        ar.set_preserve_mtime(true);
        // Set below for every entry kind, tolerating filesystems without xattr support.
        ar.set_unpack_xattrs(false);
        ar.set_overwrite(true);
        let mut dir_times: Vec<(PathBuf, i64)> = Vec::new();
        let mut safe = SafeDirs::default();
        // vfs only: what this layer itself wrote, which an opaque marker must not delete.
        let mut written: HashSet<PathBuf> = HashSet::new();
        for entry in ar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() {
                continue;
            }
            let raw = entry.path().map_err(bad)?.into_owned();
            let rel = clean_rel(&raw)?;
            if rel.as_os_str().is_empty() {
                continue;
            }
            safe.check(dest, &rel)?;
            let name = rel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parent = dest.join(rel.parent().unwrap_or(Path::new("")));
            if name == WH_OPAQUE {
                std::fs::create_dir_all(&parent).map_err(io_err(parent.display().to_string()))?;
                match mode {
                    WhiteoutMode::Overlay => {
                        xattr::set(&parent, OPAQUE_XATTR, b"y")
                            .map_err(io_err(format!("setxattr {}", parent.display())))?;
                    }
                    WhiteoutMode::Apply => {
                        let prel = rel.parent().unwrap_or(Path::new(""));
                        for e in std::fs::read_dir(&parent)
                            .map_err(io_err(parent.display().to_string()))?
                            .flatten()
                        {
                            if !written.contains(&prel.join(e.file_name())) {
                                remove_any(&e.path())
                                    .map_err(io_err(e.path().display().to_string()))?;
                            }
                        }
                        safe.0.clear();
                    }
                }
                continue;
            }
            if name.starts_with(WH_META_PREFIX) {
                // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not part of the filesystem.
                continue;
            }
            if let Some(target) = name.strip_prefix(WH_PREFIX) {
                std::fs::create_dir_all(&parent).map_err(io_err(parent.display().to_string()))?;
                let victim = parent.join(target);
                remove_any(&victim).map_err(io_err(victim.display().to_string()))?;
                safe.0.clear();
                if mode == WhiteoutMode::Overlay {
                    make_overlay_whiteout(&victim)?;
                }
                continue;
            }
            let target = dest.join(&rel);
            std::fs::create_dir_all(&parent).map_err(io_err(parent.display().to_string()))?;
            // Replace whatever is there unless a directory meets a directory: never write
            // through an existing symlink or into a hard link shared with a lower copy.
            if let Ok(m) = target.symlink_metadata()
                && !(kind.is_dir() && m.is_dir())
            {
                remove_any(&target).map_err(io_err(target.display().to_string()))?;
                if m.is_dir() {
                    safe.0.clear();
                }
            }
            let xattrs = entry_xattrs(&mut entry);
            if kind.is_hard_link() {
                let link = entry
                    .link_name()
                    .map_err(bad)?
                    .ok_or_else(|| bad("hard link without target"))?;
                let link_rel = clean_rel(&link)?;
                safe.check(dest, &link_rel)?;
                let src = dest.join(&link_rel);
                std::fs::hard_link(&src, &target).map_err(io_err(format!(
                    "link {} to {}",
                    rel.display(),
                    link_rel.display()
                )))?;
            } else if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
                make_special(entry.header(), kind, &target)?;
            } else {
                let mtime = entry.header().mtime().unwrap_or(0) as i64;
                entry.unpack(&target).map_err(|e| SnapshotError::Io {
                    context: format!("unpacking {}", rel.display()),
                    source: e,
                })?;
                if kind.is_dir() {
                    dir_times.push((target.clone(), mtime));
                }
            }
            for (k, v) in xattrs {
                if let Err(e) = xattr::set(&target, &k, &v) {
                    // Not every filesystem takes every namespace; Docker skips those too.
                    tracing::debug!(path = %rel.display(), key = ?k, error = %e, "xattr not set");
                }
            }
            if mode == WhiteoutMode::Apply {
                written.insert(rel);
            }
        }
        // Directory mtimes last: writing children changed them.
        for (p, t) in dir_times.into_iter().rev() {
            let ts = nix::sys::time::TimeSpec::new(t, 0);
            let _ = nix::sys::stat::utimensat(None, &p, &ts, &ts, UtimensatFlags::NoFollowSymlink);
        }
    }
    hr.finish().map_err(io_err("reading layer"))
}

/// One PAX record (`"<len> <key>=<value>\n"`, where len counts the whole record).
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Xattrs worth carrying in a layer: overlay's own bookkeeping is not part of the filesystem.
fn file_xattrs(p: &Path) -> Vec<(OsString, Vec<u8>)> {
    let Ok(names) = xattr::list(p) else {
        return Vec::new();
    };
    names
        .filter(|n| !n.as_bytes().starts_with(b"trusted.overlay."))
        .filter_map(|n| xattr::get(p, &n).ok().flatten().map(|v| (n, v)))
        .collect()
}

/// Archives a tree as a layer tar, one file at a time, with hard links, xattrs and AUFS
/// whiteouts. Overlay whiteouts (char 0/0) become `.wh.<name>` and opaque directories get a
/// `.wh..wh..opq` entry.
pub struct LayerWriter<W: Write> {
    b: tar::Builder<W>,
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> LayerWriter<W> {
    /// Starts a layer tar on `out`.
    pub fn new(out: W) -> Self {
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        b.sparse(false);
        LayerWriter {
            b,
            links: HashMap::new(),
        }
    }

    fn empty_file(&mut self, rel: &Path, mtime: u64) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(0);
        h.set_mode(0o644);
        h.set_mtime(mtime);
        self.b
            .append_data(&mut h, rel, std::io::empty())
            .map_err(io_err(format!("writing {}", rel.display())))
    }

    /// Writes the whiteout that deletes `rel`.
    pub fn whiteout(&mut self, rel: &Path, mtime: u64) -> Result<()> {
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let wh = rel
            .parent()
            .unwrap_or(Path::new(""))
            .join(format!("{WH_PREFIX}{name}"));
        self.empty_file(&wh, mtime)
    }

    /// Writes `src` (on disk) as `rel`, translating overlay whiteouts and opaque dirs.
    pub fn add(&mut self, src: &Path, rel: &Path, m: &std::fs::Metadata) -> Result<()> {
        if m.file_type().is_char_device() && m.rdev() == 0 {
            return self.whiteout(rel, m.mtime().max(0) as u64);
        }
        let xattrs = file_xattrs(src);
        if !xattrs.is_empty() {
            let mut data = Vec::new();
            for (k, v) in &xattrs {
                let mut key = XATTR_PAX_PREFIX.as_bytes().to_vec();
                key.extend_from_slice(k.as_bytes());
                pax_record(&mut data, &key, v);
            }
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::XHeader);
            h.set_path("PaxHeaders.0/xattrs")
                .map_err(io_err("pax header"))?;
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            self.b
                .append(&h, data.as_slice())
                .map_err(io_err("writing pax header"))?;
        }
        if m.is_file() && m.nlink() > 1 {
            if let Some(first) = self.links.get(&(m.dev(), m.ino())) {
                let mut h = tar::Header::new_gnu();
                h.set_metadata(m);
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                let first = first.clone();
                return self
                    .b
                    .append_link(&mut h, rel, &first)
                    .map_err(io_err(format!("archiving {}", rel.display())));
            }
            self.links.insert((m.dev(), m.ino()), rel.to_path_buf());
        }
        self.b
            .append_path_with_name(src, rel)
            .map_err(io_err(format!("archiving {}", rel.display())))?;
        if m.is_dir() && xattr::get(src, OPAQUE_XATTR).ok().flatten().as_deref() == Some(b"y") {
            self.empty_file(&rel.join(WH_OPAQUE), m.mtime().max(0) as u64)?;
        }
        Ok(())
    }

    /// Writes the end-of-archive marker.
    pub fn finish(mut self) -> Result<()> {
        self.b.finish().map_err(io_err("finishing layer tar"))
    }
}

/// Writes an overlay upper dir as a layer tar with AUFS whiteouts (parents before children).
pub fn write_overlay_diff(upper: &Path, out: &mut dyn Write) -> Result<()> {
    let mut w = LayerWriter::new(out);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = upper.join(&rel);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(io_err(dir.display().to_string()))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        let mut subdirs = Vec::new();
        for e in entries {
            let r = rel.join(e.file_name());
            let p = e.path();
            let m = p
                .symlink_metadata()
                .map_err(io_err(p.display().to_string()))?;
            w.add(&p, &r, &m)?;
            if m.is_dir() {
                subdirs.push(r);
            }
        }
        // Reversed so the stack visits subdirectories in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    w.finish()
}

#[cfg(test)]
mod hashing_tests {
    use super::*;

    /// Reads in uneven pieces, so chunk boundaries fall mid-read.
    struct Uneven<'a>(&'a [u8], usize);

    impl Read for Uneven<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.1 = self.1 % 9973 + 4099;
            let n = buf.len().min(self.1).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn hashing_reader_matches_sha256_inline_and_threaded() {
        let data: Vec<u8> = (0..(3 * HASH_CHUNK + 12_345))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        for len in [0, 10, HASH_CHUNK - 1, HASH_CHUNK, data.len()] {
            let part = &data[..len];
            let mut src = Uneven(part, 0);
            let mut hr = HashingReader::new(&mut src);
            let mut first = vec![0u8; 5000];
            let n = hr.read(&mut first).map_err(|e| e.to_string());
            assert_eq!(n, Ok(len.min(4099)));
            assert_eq!(
                hr.finish().ok(),
                Some(berth_core::Digest::of(part)),
                "{len}"
            );
        }
    }
}
