//! The blob store: ingest to a temp file while hashing, fsync, verify, rename into place.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use berth_core::Digest;
use berth_core::sync_ahead::SyncAhead;
use sha2::{Digest as _, Sha256};

use crate::{ImageError, Result, io_err};

/// Content-addressed blobs under `<root>/content`.
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

/// A blob being written: hashed as it goes (unless its digest is verified elsewhere),
/// invisible until `commit`.
pub struct Ingest {
    file: tempfile::NamedTempFile,
    /// None for an ingest whose bytes a reader hashes and verifies on the way in.
    hasher: Option<Sha256>,
    size: u64,
    /// Syncs the file in the background as it grows (None if its descriptor could not be
    /// cloned: the fsync at commit then does all the work).
    sync: Option<SyncAhead>,
}

/// A large ingest is synced in the background every this many bytes, so the fsync at commit
/// only pays for the last stretch (see [`SyncAhead`]).
const SYNC_CHUNK: u64 = 32 << 20;

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.size += n as u64;
        if let Some(s) = &mut self.sync {
            s.wrote(self.size);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Ingest {
    /// Digest of what was written so far (None for an unhashed ingest).
    pub fn digest(&self) -> Option<Digest> {
        self.hasher.clone().map(Digest::from_hasher)
    }
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Reopens the written data for reading from the start.
    pub fn reopen(&self) -> Result<File> {
        self.file.reopen().map_err(io_err("reopening ingest"))
    }
}

impl ContentStore {
    /// Opens (creating) the store.
    pub fn open(data_root: &Path) -> Result<Self> {
        let blobs = data_root.join("content/blobs/sha256");
        let ingest = data_root.join("content/ingest");
        std::fs::create_dir_all(&blobs).map_err(io_err(blobs.display().to_string()))?;
        std::fs::create_dir_all(&ingest).map_err(io_err(ingest.display().to_string()))?;
        // Partial writes from before a crash are never referenced; drop them.
        if let Ok(rd) = std::fs::read_dir(&ingest) {
            for e in rd.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(ContentStore { blobs, ingest })
    }

    /// Path of a blob.
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.hex())
    }

    /// Whether a blob exists.
    pub fn has(&self, d: &Digest) -> bool {
        self.path(d).exists()
    }

    /// Starts writing a blob.
    pub fn ingest(&self) -> Result<Ingest> {
        let file = tempfile::NamedTempFile::new_in(&self.ingest)
            .map_err(io_err("creating ingest file"))?;
        let sync = SyncAhead::new(file.as_file(), SYNC_CHUNK).ok();
        Ok(Ingest {
            file,
            hasher: Some(Sha256::new()),
            size: 0,
            sync,
        })
    }

    /// Starts writing a blob whose bytes the caller verifies by other means (a reader that
    /// hashes the same stream), so they are not hashed twice. Commit it with `commit_verified`.
    pub fn ingest_unhashed(&self) -> Result<Ingest> {
        let mut ing = self.ingest()?;
        ing.hasher = None;
        Ok(ing)
    }

    /// Verifies (if `expected`) and moves an ingest into place; returns its digest.
    pub fn commit(&self, ing: Ingest, expected: Option<&Digest>) -> Result<Digest> {
        let d = ing.digest().ok_or_else(|| {
            ImageError::Invalid("an unhashed ingest needs commit_verified".into())
        })?;
        if let Some(e) = expected
            && *e != d
        {
            return Err(ImageError::DigestMismatch {
                expected: e.to_string(),
                actual: d.to_string(),
            });
        }
        self.persist(ing, d)
    }

    /// Moves an ingest into place as `digest`, which the caller has verified for exactly the
    /// bytes written (an unhashed ingest is not re-read).
    pub fn commit_verified(&self, ing: Ingest, digest: &Digest) -> Result<Digest> {
        if let Some(d) = ing.digest()
            && d != *digest
        {
            return Err(ImageError::DigestMismatch {
                expected: digest.to_string(),
                actual: d.to_string(),
            });
        }
        self.persist(ing, digest.clone())
    }

    fn persist(&self, mut ing: Ingest, d: Digest) -> Result<Digest> {
        if let Some(s) = &mut ing.sync {
            s.finish().map_err(io_err("syncing blob"))?;
        }
        ing.file
            .as_file()
            .sync_all()
            .map_err(io_err("syncing blob"))?;
        let dest = self.path(&d);
        if !dest.exists() {
            ing.file.persist(&dest).map_err(|e| ImageError::Io {
                context: format!("storing blob {d}"),
                source: e.error,
            })?;
            // The rename itself must survive a crash before metadata points at the blob.
            if let Ok(dir) = File::open(&self.blobs) {
                let _ = dir.sync_all();
            }
        }
        Ok(d)
    }

    /// Writes bytes as a blob.
    pub fn put(&self, data: &[u8]) -> Result<Digest> {
        let mut ing = self.ingest()?;
        ing.write_all(data).map_err(io_err("writing blob"))?;
        self.commit(ing, None)
    }

    /// Reads a whole blob.
    pub fn get(&self, d: &Digest) -> Result<Vec<u8>> {
        std::fs::read(self.path(d)).map_err(io_err(format!("reading blob {d}")))
    }

    /// Opens a blob.
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        File::open(self.path(d)).map_err(io_err(format!("opening blob {d}")))
    }

    /// Deletes a blob (missing is fine).
    pub fn delete(&self, d: &Digest) {
        let _ = std::fs::remove_file(self.path(d));
    }
}

/// Wraps a possibly compressed tar stream (gzip or zstd, detected by magic) in a decoder.
pub fn decompress<'a>(mut r: Box<dyn Read + 'a>) -> Result<Box<dyn Read + 'a>> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match r.read(&mut magic[n..]).map_err(io_err("reading archive"))? {
            0 => break,
            k => n += k,
        }
    }
    let head = std::io::Cursor::new(magic[..n].to_vec());
    let chained: Box<dyn Read + 'a> = Box::new(head.chain(r));
    if n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(chained)));
    }
    if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        return Ok(Box::new(
            zstd::stream::read::Decoder::new(chained).map_err(io_err("zstd"))?,
        ));
    }
    Ok(chained)
}
