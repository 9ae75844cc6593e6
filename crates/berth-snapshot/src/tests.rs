//! Tests of both snapshotters against real mounts (they need root; each cleans up its mounts).
#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_core::Digest;

use crate::{
    Change, ChangeKind, OverlaySnapshotter, SnapshotError, Snapshotter, VfsSnapshotter, chain_id,
};

/// Builds layer tars entry by entry.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Self {
        Tar(tar::Builder::new(Vec::new()))
    }
    fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        h
    }
    fn dir(mut self, p: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Directory, 0o755);
        self.0.append_data(&mut h, p, std::io::empty()).unwrap();
        self
    }
    fn file(mut self, p: &str, data: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, 0o644);
        h.set_size(data.len() as u64);
        self.0.append_data(&mut h, p, data.as_bytes()).unwrap();
        self
    }
    fn owned(mut self, p: &str, uid: u64, mode: u32) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, mode);
        h.set_uid(uid);
        h.set_gid(uid);
        self.0.append_data(&mut h, p, std::io::empty()).unwrap();
        self
    }
    fn symlink(mut self, p: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777);
        self.0.append_link(&mut h, p, target).unwrap();
        self
    }
    fn hardlink(mut self, p: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Link, 0o644);
        self.0.append_link(&mut h, p, target).unwrap();
        self
    }
    fn special(mut self, p: &str, kind: tar::EntryType, major: u32, minor: u32) -> Self {
        let mut h = Self::header(kind, 0o666);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.0.append_data(&mut h, p, std::io::empty()).unwrap();
        self
    }
    /// An entry whose raw name is written as-is (bypassing the builder's own `..` check).
    fn raw(mut self, name: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, 0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        self.0.append(&h, std::io::empty()).unwrap();
        self
    }
    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn base_layer() -> Vec<u8> {
    Tar::new()
        .dir("etc/")
        .file("etc/passwd", "root:x:0:0\n")
        .file("etc/hostname", "base\n")
        .dir("data/")
        .file("data/a", "a")
        .dir("data/sub/")
        .file("data/sub/b", "b")
        .file("gone", "bye")
        .symlink("abs-link", "/etc/passwd")
        .file("hl1", "shared")
        .hardlink("hl2", "hl1")
        .special("dev-null", tar::EntryType::Char, 1, 3)
        .special("fifo", tar::EntryType::Fifo, 0, 0)
        .owned("suid", 1000, 0o4755)
        .bytes()
}

fn second_layer() -> Vec<u8> {
    Tar::new()
        .file(".wh.gone", "")
        .dir("data/")
        .file("data/.wh..wh..opq", "")
        .file("data/new", "n")
        .file("etc/hostname", "second\n")
        .bytes()
}

/// Unmounts on drop so a failing assertion does not leak a mount.
struct MountGuard<'a>(&'a dyn Snapshotter, PathBuf);

impl Drop for MountGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.unmount(&self.1);
    }
}

fn mount<'a>(s: &'a dyn Snapshotter, key: &str, at: &Path) -> MountGuard<'a> {
    std::fs::create_dir_all(at).unwrap();
    s.mount(key, at).unwrap();
    MountGuard(s, at.to_path_buf())
}

/// A comparable description of a tree: type, mode, owner, content or link target per path.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(root.join(&rel)).unwrap().flatten() {
            let r = rel.join(e.file_name());
            let p = e.path();
            let m = p.symlink_metadata().unwrap();
            let what = if m.is_dir() {
                stack.push(r.clone());
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                format!("link->{}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_file() {
                format!(
                    "file:{}:nlink{}",
                    std::fs::read_to_string(&p).unwrap_or_default(),
                    m.nlink()
                )
            } else {
                format!("special:{:o}:{}", m.mode() & 0o170000, m.rdev())
            };
            out.insert(
                r.display().to_string(),
                format!("{what} {:o} {}:{}", m.mode() & 0o7777, m.uid(), m.gid()),
            );
        }
    }
    out
}

fn apply(s: &dyn Snapshotter, parent: Option<&Digest>, tar: &[u8]) -> crate::AppliedLayer {
    s.apply_layer(parent, &mut &tar[..]).unwrap()
}

fn kinds(ch: &[Change]) -> Vec<(String, ChangeKind)> {
    ch.iter().map(|c| (c.path.clone(), c.kind)).collect()
}

#[test]
fn applied_layer_reports_diff_and_chain_ids() {
    let dir = tempfile::tempdir().unwrap();
    let s = OverlaySnapshotter::new(dir.path()).unwrap();
    let t1 = base_layer();
    let t2 = second_layer();
    let l1 = apply(&s, None, &t1);
    assert_eq!(l1.diff_id, Digest::of(&t1));
    assert_eq!(l1.chain_id, l1.diff_id);
    let l2 = apply(&s, Some(&l1.chain_id), &t2);
    assert_eq!(l2.chain_id, chain_id(Some(&l1.chain_id), &Digest::of(&t2)));
    assert!(s.has_layer(&l2.chain_id));
    // Applying again is idempotent.
    assert_eq!(apply(&s, Some(&l1.chain_id), &t2), l2);
    let missing = Digest::of(b"nope");
    assert!(matches!(
        s.apply_layer(Some(&missing), &mut &t2[..]),
        Err(SnapshotError::LayerNotFound(_))
    ));
    // Nothing is left half-unpacked.
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}

#[test]
fn overlay_unpack_converts_whiteouts_and_keeps_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let s = OverlaySnapshotter::new(dir.path()).unwrap();
    let l1 = apply(&s, None, &base_layer());
    let d1 = dir
        .path()
        .join("layers")
        .join(l1.chain_id.hex())
        .join("diff");
    let m = |p: &str| d1.join(p).symlink_metadata().unwrap();
    assert_eq!(
        std::fs::read_link(d1.join("abs-link")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(m("hl1").ino(), m("hl2").ino());
    assert!(m("dev-null").file_type().is_char_device());
    assert_eq!(m("dev-null").rdev(), nix::sys::stat::makedev(1, 3));
    assert!(m("fifo").file_type().is_fifo());
    assert_eq!(m("suid").uid(), 1000);
    assert_eq!(m("suid").permissions().mode() & 0o7777, 0o4755);
    assert_eq!(m("etc/passwd").mtime(), 1_600_000_000);
    assert_eq!(m("etc").mtime(), 1_600_000_000);

    let l2 = apply(&s, Some(&l1.chain_id), &second_layer());
    let d2 = dir
        .path()
        .join("layers")
        .join(l2.chain_id.hex())
        .join("diff");
    let wh = d2.join("gone").symlink_metadata().unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert_eq!(
        xattr::get(d2.join("data"), "trusted.overlay.opaque")
            .unwrap()
            .as_deref(),
        Some(&b"y"[..])
    );
    assert!(!d2.join("data/.wh..wh..opq").exists());
    assert_eq!(
        std::fs::read_to_string(
            dir.path()
                .join("layers")
                .join(l2.chain_id.hex())
                .join("parent")
        )
        .unwrap(),
        l1.chain_id.to_string()
    );

    // The merged view honours them.
    s.prepare("c1", Some(&l2.chain_id)).unwrap();
    let mnt = dir.path().join("mnt");
    let _g = mount(&s, "c1", &mnt);
    assert!(!mnt.join("gone").exists());
    let names: Vec<_> = std::fs::read_dir(mnt.join("data"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("new")]);
    assert_eq!(
        std::fs::read_to_string(mnt.join("etc/hostname")).unwrap(),
        "second\n"
    );
    assert_eq!(
        std::fs::read_to_string(mnt.join("etc/passwd")).unwrap(),
        "root:x:0:0\n"
    );
}

#[test]
fn vfs_unpack_applies_whiteouts() {
    let dir = tempfile::tempdir().unwrap();
    let s = VfsSnapshotter::new(dir.path()).unwrap();
    let l1 = apply(&s, None, &base_layer());
    let l2 = apply(&s, Some(&l1.chain_id), &second_layer());
    let fs = dir.path().join("layers").join(l2.chain_id.hex()).join("fs");
    assert!(!fs.join("gone").exists());
    let names: Vec<_> = std::fs::read_dir(fs.join("data"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("new")]);
    assert_eq!(
        std::fs::read_to_string(fs.join("etc/hostname")).unwrap(),
        "second\n"
    );
    assert_eq!(
        fs.join("hl1").metadata().unwrap().ino(),
        fs.join("hl2").metadata().unwrap().ino()
    );
    // The parent layer is untouched.
    let fs1 = dir.path().join("layers").join(l1.chain_id.hex()).join("fs");
    assert_eq!(
        std::fs::read_to_string(fs1.join("etc/hostname")).unwrap(),
        "base\n"
    );
    assert!(fs1.join("data/sub/b").exists());
}

#[test]
fn extraction_never_escapes_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let s = OverlaySnapshotter::new(dir.path()).unwrap();
    let escape = Tar::new().raw("../escaped").bytes();
    assert!(matches!(
        s.apply_layer(None, &mut &escape[..]),
        Err(SnapshotError::InvalidArchive(_))
    ));
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let via_link = Tar::new()
        .symlink("evil", &outside.display().to_string())
        .file("evil/pwned", "x")
        .bytes();
    assert!(matches!(
        s.apply_layer(None, &mut &via_link[..]),
        Err(SnapshotError::InvalidArchive(_))
    ));
    assert!(!outside.join("pwned").exists());
    // A symlink replaced by a regular file is a new file, not a write through the link.
    let target = outside.join("victim");
    std::fs::write(&target, "keep").unwrap();
    let replace = Tar::new()
        .symlink("f", &target.display().to_string())
        .file("f", "new")
        .bytes();
    let l = apply(&s, None, &replace);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    let f = dir
        .path()
        .join("layers")
        .join(l.chain_id.hex())
        .join("diff/f");
    assert_eq!(std::fs::read_to_string(f).unwrap(), "new");
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}

/// Makes the same set of changes in a mounted container, for both drivers.
fn mutate(mnt: &Path) {
    std::fs::write(mnt.join("etc/hostname"), "changed\n").unwrap();
    std::fs::write(mnt.join("added"), "new file").unwrap();
    std::fs::remove_file(mnt.join("gone")).unwrap();
    std::fs::remove_dir_all(mnt.join("data")).unwrap();
    std::fs::create_dir(mnt.join("data")).unwrap();
    std::fs::write(mnt.join("data/fresh"), "f").unwrap();
    std::fs::create_dir_all(mnt.join("newdir/deep")).unwrap();
    std::fs::write(mnt.join("newdir/deep/x"), "x").unwrap();
    std::fs::hard_link(mnt.join("newdir/deep/x"), mnt.join("newdir/x-link")).unwrap();
    std::os::unix::fs::symlink("../etc", mnt.join("newdir/etc-link")).unwrap();
    xattr::set(mnt.join("added"), "user.berth", b"v").unwrap();
}

fn round_trip(s: &dyn Snapshotter, root: &Path) {
    let l1 = apply(s, None, &base_layer());
    s.prepare("c1", Some(&l1.chain_id)).unwrap();
    assert!(matches!(
        s.prepare("c1", Some(&l1.chain_id)),
        Err(SnapshotError::SnapshotExists(_))
    ));
    let mnt1 = root.join("mnt1");
    let g1 = mount(s, "c1", &mnt1);
    mutate(&mnt1);

    let changes = kinds(&s.changes("c1").unwrap());
    for want in [
        ("/added", ChangeKind::Added),
        ("/etc", ChangeKind::Modified),
        ("/etc/hostname", ChangeKind::Modified),
        ("/gone", ChangeKind::Deleted),
        ("/data", ChangeKind::Modified),
        ("/data/fresh", ChangeKind::Added),
        ("/newdir", ChangeKind::Added),
        ("/newdir/deep/x", ChangeKind::Added),
    ] {
        assert!(
            changes.contains(&(want.0.to_string(), want.1)),
            "{} missing {want:?}: {changes:?}",
            s.name()
        );
    }
    assert!(
        !changes.iter().any(|(p, _)| p == "/etc/passwd"),
        "{changes:?}"
    );
    let mut sorted = changes.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        changes.iter().map(|c| &c.0).collect::<Vec<_>>(),
        sorted.iter().map(|c| &c.0).collect::<Vec<_>>()
    );
    assert!(s.usage("c1").unwrap() >= "changed\n".len() as u64 + 8);

    let mut diff = Vec::new();
    s.diff_tar("c1", &mut diff).unwrap();
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(&diff[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        names.push(
            e.path()
                .unwrap()
                .display()
                .to_string()
                .trim_end_matches('/')
                .to_string(),
        );
        let mut sink = Vec::new();
        e.read_to_end(&mut sink).unwrap();
    }
    assert!(names.contains(&".wh.gone".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("passwd")), "{names:?}");

    let l2 = s.apply_layer(Some(&l1.chain_id), &mut &diff[..]).unwrap();
    s.prepare("c2", Some(&l2.chain_id)).unwrap();
    let mnt2 = root.join("mnt2");
    let g2 = mount(s, "c2", &mnt2);
    assert_eq!(tree(&mnt1), tree(&mnt2), "{}", s.name());
    assert_eq!(
        xattr::get(mnt2.join("added"), "user.berth")
            .unwrap()
            .as_deref(),
        Some(&b"v"[..])
    );
    assert!(s.changes("c2").unwrap().is_empty());
    drop(g2);
    drop(g1);
    for k in ["c1", "c2"] {
        s.remove(k).unwrap();
        s.remove(k).unwrap();
        assert!(matches!(
            s.changes(k),
            Err(SnapshotError::SnapshotNotFound(_))
        ));
    }
    s.remove_layer(&l2.chain_id).unwrap();
    assert!(!s.has_layer(&l2.chain_id));
    assert!(s.has_layer(&l1.chain_id));
}

#[test]
fn overlay_diff_tar_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let s = OverlaySnapshotter::new(&dir.path().join("snap")).unwrap();
    round_trip(&s, dir.path());
}

#[test]
fn vfs_diff_tar_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let s = VfsSnapshotter::new(&dir.path().join("snap")).unwrap();
    round_trip(&s, dir.path());
}

#[test]
fn empty_images_mount() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = OverlaySnapshotter::new(&dir.path().join("o")).unwrap();
    let vfs = VfsSnapshotter::new(&dir.path().join("v")).unwrap();
    for s in [&overlay as &dyn Snapshotter, &vfs] {
        s.prepare("empty", None).unwrap();
        let mnt = dir.path().join(format!("mnt-{}", s.name()));
        let _g = mount(s, "empty", &mnt);
        assert_eq!(std::fs::read_dir(&mnt).unwrap().count(), 0);
        std::fs::write(mnt.join("x"), "x").unwrap();
        assert_eq!(
            kinds(&s.changes("empty").unwrap()),
            vec![("/x".to_string(), ChangeKind::Added)]
        );
    }
}

#[test]
fn many_layers_mount_through_short_links() {
    let dir = tempfile::tempdir().unwrap();
    let s = OverlaySnapshotter::new(dir.path()).unwrap();
    let mut parent: Option<Digest> = None;
    for i in 0..60 {
        let t = Tar::new().file(&format!("f{i}"), &i.to_string()).bytes();
        parent = Some(apply(&s, parent.as_ref(), &t).chain_id);
    }
    s.prepare("c", parent.as_ref()).unwrap();
    assert!(
        std::fs::read_to_string(dir.path().join("containers/c/lower"))
            .unwrap()
            .contains("/l/")
    );
    let mnt = dir.path().join("mnt");
    let _g = mount(&s, "c", &mnt);
    assert_eq!(std::fs::read_to_string(mnt.join("f0")).unwrap(), "0");
    assert_eq!(std::fs::read_to_string(mnt.join("f59")).unwrap(), "59");
}

#[test]
fn missing_things_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let s = OverlaySnapshotter::new(dir.path()).unwrap();
    let d = Digest::of(b"x");
    assert!(matches!(
        s.prepare("c", Some(&d)),
        Err(SnapshotError::LayerNotFound(_))
    ));
    assert!(!dir.path().join("containers/c").exists());
    assert!(matches!(
        s.mount("nope", dir.path()),
        Err(SnapshotError::SnapshotNotFound(_))
    ));
    assert!(matches!(
        s.usage("nope"),
        Err(SnapshotError::SnapshotNotFound(_))
    ));
    s.unmount(&dir.path().join("not-mounted")).unwrap();
    s.remove_layer(&d).unwrap();
}

#[test]
fn overlay_is_supported_here() {
    let dir = tempfile::tempdir().unwrap();
    assert!(crate::overlay_supported(dir.path()));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn containers_prepared_without_a_lower_file_still_mount() {
    let dir = tempfile::tempdir().unwrap();
    let s = OverlaySnapshotter::new(dir.path()).unwrap();
    let l1 = apply(&s, None, &base_layer());
    s.prepare("c", Some(&l1.chain_id)).unwrap();
    std::fs::remove_file(dir.path().join("containers/c/lower")).unwrap();
    std::fs::remove_file(
        dir.path()
            .join("layers")
            .join(l1.chain_id.hex())
            .join("lower"),
    )
    .unwrap();
    let mnt = dir.path().join("mnt");
    let _g = mount(&s, "c", &mnt);
    assert_eq!(
        std::fs::read_to_string(mnt.join("etc/hostname")).unwrap(),
        "base\n"
    );
}

/// Unpacks a real GNU tar of `BERTH_BENCH_DIR` (default /usr/share) and reports the time.
#[test]
#[ignore]
fn bench_unpack_real_tree() {
    let src = std::env::var("BERTH_BENCH_DIR").unwrap_or_else(|_| "/usr/share".into());
    let dir = tempfile::tempdir().unwrap();
    let tarfile = dir.path().join("layer.tar");
    let st = std::process::Command::new("tar")
        .args(["--xattrs", "-C", &src, "-cf"])
        .arg(&tarfile)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let s = OverlaySnapshotter::new(&dir.path().join("snap")).unwrap();
    let t = std::time::Instant::now();
    let l = s
        .apply_layer(None, &mut std::fs::File::open(&tarfile).unwrap())
        .unwrap();
    eprintln!("unpacked {} bytes in {:?}", l.size, t.elapsed());
    let diff = dir
        .path()
        .join("snap/layers")
        .join(l.chain_id.hex())
        .join("diff");
    assert_eq!(tree(Path::new(&src)), tree(&diff));
}

/// A verified apply with the wrong digest leaves no layer and no temp dir; with the right one
/// it commits, for both drivers and for the trait's default (end-of-stream) check.
#[test]
fn verified_apply_keeps_nothing_on_a_digest_mismatch() {
    /// Hides a driver's override so the trait's default implementation runs.
    struct Plain<'a>(&'a dyn Snapshotter);
    impl Snapshotter for Plain<'_> {
        fn name(&self) -> &'static str {
            self.0.name()
        }
        fn apply_layer(
            &self,
            parent: Option<&Digest>,
            layer: &mut dyn Read,
        ) -> crate::Result<crate::AppliedLayer> {
            self.0.apply_layer(parent, layer)
        }
        fn has_layer(&self, chain_id: &Digest) -> bool {
            self.0.has_layer(chain_id)
        }
        fn remove_layer(&self, chain_id: &Digest) -> crate::Result<()> {
            self.0.remove_layer(chain_id)
        }
        fn prepare(&self, key: &str, parent: Option<&Digest>) -> crate::Result<()> {
            self.0.prepare(key, parent)
        }
        fn mount(&self, key: &str, target: &Path) -> crate::Result<()> {
            self.0.mount(key, target)
        }
        fn unmount(&self, target: &Path) -> crate::Result<()> {
            self.0.unmount(target)
        }
        fn remove(&self, key: &str) -> crate::Result<()> {
            self.0.remove(key)
        }
        fn changes(&self, key: &str) -> crate::Result<Vec<Change>> {
            self.0.changes(key)
        }
        fn diff_tar(&self, key: &str, out: &mut dyn std::io::Write) -> crate::Result<()> {
            self.0.diff_tar(key, out)
        }
        fn usage(&self, key: &str) -> crate::Result<u64> {
            self.0.usage(key)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let overlay = OverlaySnapshotter::new(&dir.path().join("o")).unwrap();
    let vfs = VfsSnapshotter::new(&dir.path().join("v")).unwrap();
    let plain = Plain(&vfs);
    let cases: [(&dyn Snapshotter, &str); 3] = [(&overlay, "o"), (&vfs, "v"), (&plain, "v")];
    let good = base_layer();
    let bad = second_layer();
    let want = Digest::of(&good);
    for (s, sub) in cases {
        let err = s
            .apply_layer_verified(None, &mut &bad[..], &want)
            .unwrap_err();
        match &err {
            SnapshotError::DigestMismatch { expected, actual } => {
                assert_eq!(*expected, want.to_string());
                assert_eq!(*actual, Digest::of(&bad).to_string());
            }
            e => panic!("{}: {e}", s.name()),
        }
        assert!(!s.has_layer(&Digest::of(&bad)), "{}", s.name());
        assert!(!s.has_layer(&want));
        let tmp = dir.path().join(sub).join("tmp");
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "{}", s.name());
        let l = s.apply_layer_verified(None, &mut &good[..], &want).unwrap();
        assert_eq!(l.diff_id, want);
        assert!(s.has_layer(&want));
        s.remove_layer(&want).unwrap();
    }
}
