//! Background `fdatasync` of a file while it is being written, so that the fsync which makes a
//! large blob durable only waits for the last stretch.
//!
//! On a VM whose disk flush writes through the host's cache, one fsync of a freshly written
//! 200 MiB file costs ~0.3 s however early the kernel started writing it back; syncing every
//! few tens of MiB from another thread spreads that cost over the time spent writing.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Syncs a file in the background each time `every` more bytes were written to it.
pub struct SyncAhead {
    file: Arc<File>,
    every: u64,
    synced_to: u64,
    running: Option<JoinHandle<io::Result<()>>>,
    /// The first error a background sync saw. The kernel reports a write-back error to one
    /// fsync per open file only, so it is kept here for [`SyncAhead::finish`] to return.
    error: Option<io::Error>,
}

impl SyncAhead {
    /// Watches `file` (a clone of its descriptor is kept for the syncs).
    pub fn new(file: &File, every: u64) -> io::Result<SyncAhead> {
        Ok(SyncAhead {
            file: Arc::new(file.try_clone()?),
            every: every.max(1),
            synced_to: 0,
            running: None,
            error: None,
        })
    }

    /// Tells how many bytes were written so far; starts a sync when `every` more have come
    /// since the last one started, unless one is still running.
    pub fn wrote(&mut self, total: u64) {
        if total.saturating_sub(self.synced_to) < self.every
            || self.running.as_ref().is_some_and(|h| !h.is_finished())
        {
            return;
        }
        self.join();
        let file = self.file.clone();
        match std::thread::Builder::new()
            .name("sync-ahead".into())
            .spawn(move || file.sync_data())
        {
            Ok(h) => self.running = Some(h),
            // No thread: the final fsync does all the work, as without this helper.
            Err(_) => return,
        }
        self.synced_to = total;
    }

    /// Waits for the running sync, if any, and returns the first error any of them saw.
    /// The caller still fsyncs the file itself afterwards, for the bytes written since.
    pub fn finish(&mut self) -> io::Result<()> {
        self.join();
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn join(&mut self) {
        if let Some(h) = self.running.take() {
            let res = h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("background sync panicked")));
            if let Err(e) = res {
                self.error.get_or_insert(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn syncs_after_each_stretch_and_reports_success() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = File::create(dir.path().join("f")).unwrap();
        let mut s = SyncAhead::new(&f, 4).unwrap();
        f.write_all(b"abc").unwrap();
        s.wrote(3);
        assert!(s.running.is_none(), "no sync before a whole stretch");
        f.write_all(b"defg").unwrap();
        s.wrote(7);
        assert!(s.running.is_some());
        assert_eq!(s.synced_to, 7);
        s.finish().unwrap();
        assert!(s.running.is_none());
    }

    #[test]
    fn a_failed_sync_is_reported_by_finish() {
        // fdatasync of a read-only descriptor of a pipe fails with EINVAL.
        let (r, _w) = std::io::pipe().unwrap();
        let file = File::from(std::os::fd::OwnedFd::from(r));
        let mut s = SyncAhead::new(&file, 1).unwrap();
        s.wrote(1);
        assert!(s.finish().is_err());
        // Reported once.
        assert!(s.finish().is_ok());
    }
}
