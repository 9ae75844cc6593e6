//! Copy-up: a new, empty volume mounted over a path the image has content at starts with a
//! copy of that content (owners, modes, times, xattrs, symlinks, hardlinks kept), as Docker does.

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::{Result, io_err};

/// Copies `src` (a directory in the container's rootfs) into `dst` when `dst` is empty.
/// Returns whether anything was copied. A missing `src` is not an error (nothing to copy).
pub fn copy_up(src: &Path, dst: &Path) -> Result<bool> {
    let Ok(md) = std::fs::symlink_metadata(src) else {
        return Ok(false);
    };
    if !md.is_dir() {
        return Ok(false);
    }
    let empty = std::fs::read_dir(dst)
        .map_err(io_err(format!("reading {}", dst.display())))?
        .next()
        .is_none();
    if !empty {
        return Ok(false);
    }
    let mut links = HashMap::new();
    copy_dir(src, dst, &mut links)?;
    copy_attrs(src, dst, &md)?;
    Ok(true)
}

/// Owner first: chown(2) clears set-id bits and `security.capability`, so mode and xattrs are
/// applied after it, and times last (every other change bumps ctime/mtime of directories).
fn copy_attrs(src: &Path, dst: &Path, md: &std::fs::Metadata) -> Result<()> {
    let ctx = || format!("copying attributes to {}", dst.display());
    let _ = nix::unistd::fchownat(
        None,
        dst,
        Some(nix::unistd::Uid::from_raw(md.uid())),
        Some(nix::unistd::Gid::from_raw(md.gid())),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    );
    if !md.file_type().is_symlink() {
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(io_err(ctx()))?;
        if let Ok(names) = xattr::list(src) {
            for n in names {
                if let Ok(Some(v)) = xattr::get(src, &n) {
                    let _ = xattr::set(dst, &n, &v);
                }
            }
        }
    }
    let atime = nix::sys::time::TimeSpec::new(md.atime(), md.atime_nsec());
    let mtime = nix::sys::time::TimeSpec::new(md.mtime(), md.mtime_nsec());
    let _ = nix::sys::stat::utimensat(
        None,
        dst,
        &atime,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
    Ok(())
}

fn copy_dir(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), std::path::PathBuf>,
) -> Result<()> {
    let rd = std::fs::read_dir(src).map_err(io_err(format!("reading {}", src.display())))?;
    for entry in rd {
        let entry = entry.map_err(io_err(format!("reading {}", src.display())))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let md =
            std::fs::symlink_metadata(&from).map_err(io_err(format!("stat {}", from.display())))?;
        let ft = md.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to).map_err(io_err(format!("mkdir {}", to.display())))?;
            copy_dir(&from, &to, links)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&from)
                .map_err(io_err(format!("readlink {}", from.display())))?;
            std::os::unix::fs::symlink(&target, &to)
                .map_err(io_err(format!("symlink {}", to.display())))?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    std::fs::hard_link(first, &to)
                        .map_err(io_err(format!("link {}", to.display())))?;
                    continue;
                }
                links.insert((md.dev(), md.ino()), to.clone());
            }
            std::fs::copy(&from, &to).map_err(io_err(format!("copying {}", from.display())))?;
        } else {
            // Device nodes, fifos and sockets: recreate the node.
            let kind = nix::sys::stat::SFlag::from_bits_truncate(md.mode() & libc_s_ifmt());
            let perm = nix::sys::stat::Mode::from_bits_truncate(md.mode() & 0o7777);
            nix::sys::stat::mknod(&to, kind, perm, md.rdev())
                .map_err(|e| std::io::Error::from_raw_os_error(e as i32))
                .map_err(io_err(format!("mknod {}", to.display())))?;
        }
        copy_attrs(&from, &to, &md)?;
    }
    Ok(())
}

const fn libc_s_ifmt() -> u32 {
    0o170000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_tree_into_empty_volume_only() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        let dst = d.path().join("dst");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::write(src.join("sub/f"), b"hello").unwrap();
        std::fs::set_permissions(src.join("sub/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("l")).unwrap();
        std::fs::hard_link(src.join("sub/f"), src.join("h")).unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(copy_up(&src, &dst).unwrap());
        assert_eq!(std::fs::read(dst.join("sub/f")).unwrap(), b"hello");
        assert_eq!(
            std::fs::metadata(dst.join("sub/f")).unwrap().mode() & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read_link(dst.join("l")).unwrap(),
            Path::new("sub/f")
        );
        assert_eq!(
            std::fs::metadata(dst.join("h")).unwrap().ino(),
            std::fs::metadata(dst.join("sub/f")).unwrap().ino()
        );
        assert_eq!(std::fs::metadata(&dst).unwrap().mode() & 0o7777, 0o1777);
        // Not empty any more: a second copy-up does nothing.
        std::fs::write(src.join("new"), b"x").unwrap();
        assert!(!copy_up(&src, &dst).unwrap());
        assert!(!dst.join("new").exists());
        // Nothing at the source path: nothing to do.
        assert!(!copy_up(&d.path().join("missing"), &dst).unwrap());
    }

    #[test]
    fn keeps_owner_setid_bits_and_xattrs_as_root() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        let dst = d.path().join("dst");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        let f = src.join("sub/suid");
        std::fs::write(&f, b"#!/bin/sh\n").unwrap();
        nix::unistd::chown(
            &f,
            Some(nix::unistd::Uid::from_raw(1000)),
            Some(nix::unistd::Gid::from_raw(1000)),
        )
        .unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o6755)).unwrap();
        let xattr_ok = xattr::set(&f, "user.berth", b"v").is_ok();
        nix::unistd::chown(
            &src.join("sub"),
            Some(nix::unistd::Uid::from_raw(5)),
            Some(nix::unistd::Gid::from_raw(6)),
        )
        .unwrap();
        std::os::unix::fs::symlink("suid", src.join("sub/link")).unwrap();
        nix::unistd::fchownat(
            None,
            &src.join("sub/link"),
            Some(nix::unistd::Uid::from_raw(7)),
            Some(nix::unistd::Gid::from_raw(8)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .unwrap();
        assert!(copy_up(&src, &dst).unwrap());
        let md = std::fs::metadata(dst.join("sub/suid")).unwrap();
        assert_eq!((md.uid(), md.gid()), (1000, 1000));
        assert_eq!(md.mode() & 0o7777, 0o6755);
        if xattr_ok {
            assert_eq!(
                xattr::get(dst.join("sub/suid"), "user.berth").unwrap(),
                Some(b"v".to_vec())
            );
        }
        let sub = std::fs::metadata(dst.join("sub")).unwrap();
        assert_eq!((sub.uid(), sub.gid()), (5, 6));
        let l = std::fs::symlink_metadata(dst.join("sub/link")).unwrap();
        assert_eq!((l.uid(), l.gid()), (7, 8));
        assert_eq!(
            std::fs::metadata(src.join("sub")).unwrap().mtime(),
            sub.mtime()
        );
    }
}
