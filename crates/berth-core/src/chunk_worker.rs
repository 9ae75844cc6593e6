//! Hands a byte stream to a helper thread in large chunks, so work on it (hashing, writing a
//! copy) overlaps the caller's own work on the same bytes instead of adding to it.

use std::io;
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;

/// Chunks in flight between the caller and the helper.
const QUEUE: usize = 4;

/// A helper thread that applies `f` to each chunk of bytes pushed to it, in order, and gives
/// back its state at the end.
pub struct ChunkWorker<T> {
    tx: Option<SyncSender<Vec<u8>>>,
    /// Emptied buffers coming back for reuse.
    back: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    chunk: usize,
    handle: Option<JoinHandle<io::Result<T>>>,
}

fn worker_gone() -> io::Error {
    io::Error::other("chunk worker thread stopped")
}

impl<T: Send + 'static> ChunkWorker<T> {
    /// Starts the thread `name`, which calls `f(&mut state, chunk)` for chunks of about
    /// `chunk` bytes. The first error `f` returns stops it; `finish` returns that error.
    pub fn spawn(
        name: &str,
        chunk: usize,
        mut state: T,
        mut f: impl FnMut(&mut T, &[u8]) -> io::Result<()> + Send + 'static,
    ) -> io::Result<ChunkWorker<T>> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(QUEUE);
        let (back_tx, back) = std::sync::mpsc::channel::<Vec<u8>>();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for mut buf in rx {
                    f(&mut state, &buf)?;
                    buf.clear();
                    let _ = back_tx.send(buf);
                }
                Ok(state)
            })?;
        Ok(ChunkWorker {
            tx: Some(tx),
            back,
            pending: Vec::with_capacity(chunk),
            chunk: chunk.max(1),
            handle: Some(handle),
        })
    }

    /// Queues bytes; blocks only while the helper is [`QUEUE`] chunks behind.
    pub fn push(&mut self, data: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(data);
        if self.pending.len() >= self.chunk {
            self.ship()?;
        }
        Ok(())
    }

    fn ship(&mut self) -> io::Result<()> {
        let next = self
            .back
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.chunk));
        let full = std::mem::replace(&mut self.pending, next);
        let tx = self.tx.as_ref().ok_or_else(worker_gone)?;
        if tx.send(full).is_err() {
            // The helper stopped on an error: report it now rather than at finish.
            return Err(self.join().err().unwrap_or_else(worker_gone));
        }
        Ok(())
    }

    fn join(&mut self) -> io::Result<T> {
        self.tx = None; // ends the helper's loop once the queue is drained
        let h = self.handle.take().ok_or_else(worker_gone)?;
        h.join().map_err(|_| worker_gone())?
    }

    /// Hands over what is left, waits for the helper and returns its state.
    pub fn finish(mut self) -> io::Result<T> {
        if !self.pending.is_empty() {
            self.ship()?;
        }
        self.join()
    }
}

/// A worker dropped without `finish` (the caller failed) still waits for its thread, so the
/// state (say, a temp file) is gone by the time the caller cleans up and returns.
impl<T> Drop for ChunkWorker<T> {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_every_byte_in_order() {
        let mut w = ChunkWorker::spawn("t", 3, Vec::new(), |out: &mut Vec<u8>, c| {
            out.extend_from_slice(c);
            Ok(())
        })
        .unwrap();
        for part in [&b"ab"[..], b"cdefg", b"", b"h"] {
            w.push(part).unwrap();
        }
        assert_eq!(w.finish().unwrap(), b"abcdefgh");
    }

    #[test]
    fn dropping_waits_for_the_helper_to_drop_its_state() {
        let dir = tempfile::tempdir().unwrap();
        let file = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        let tmp = file.path().to_path_buf();
        let mut w = ChunkWorker::spawn("t", 1, file, std::io::Write::write_all).unwrap();
        w.push(b"abc").unwrap();
        drop(w);
        assert!(!tmp.exists(), "temp file outlived the worker");
    }

    #[test]
    fn an_error_in_the_helper_reaches_the_caller() {
        let mut w =
            ChunkWorker::spawn("t", 1, (), |_, _| Err(io::Error::other("disk full"))).unwrap();
        // The first chunk is accepted (queued); a later push or finish sees the failure.
        let mut seen = None;
        for _ in 0..10 {
            if let Err(e) = w.push(b"x") {
                seen = Some(e);
                break;
            }
        }
        let err = match seen {
            Some(e) => e,
            None => w.finish().unwrap_err(),
        };
        assert!(err.to_string().contains("disk full"), "{err}");
    }
}
