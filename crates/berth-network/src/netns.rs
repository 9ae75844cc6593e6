//! Network namespaces: create (bind-mounted), run work inside one from a dedicated thread, delete.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

/// Creates a new netns and bind-mounts it at `path` (lo is brought up inside).
pub fn create(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    File::create(path)?;
    let p: PathBuf = path.to_path_buf();
    // unshare affects only this thread, which exits afterwards, so the daemon's own netns is safe.
    let res = std::thread::spawn(move || -> std::io::Result<()> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &p,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(std::io::Error::from)?;
        let mut nl = crate::nl::Netlink::open()?;
        if let Some(lo) = nl.link_index("lo")? {
            nl.set_up(lo)?;
        }
        Ok(())
    })
    .join()
    .map_err(|_| std::io::Error::other("netns thread panicked"))?;
    if res.is_err() {
        let _ = umount2(path, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(path);
    }
    res
}

/// Runs `f` on a fresh thread that has entered the netns at `path`.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let file = File::open(path)?;
    std::thread::spawn(move || -> std::io::Result<T> {
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
        f()
    })
    .join()
    .map_err(|_| std::io::Error::other("netns thread panicked"))?
}

/// Unmounts and removes a netns bind mount; missing is fine.
pub fn delete(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}
