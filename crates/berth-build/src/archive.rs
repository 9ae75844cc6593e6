//! Tar archives that `ADD` unpacks: plain, gzip, bzip2 or xz, recognised by content like Docker
//! (magic bytes and a valid tar header inside), never by file name.

use std::io::{self, BufReader, Read, Write};
use std::path::Path;

/// How an archive's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip (`1f 8b 08`).
    Gzip,
    /// bzip2 (`BZh`).
    Bzip2,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
}

/// The compression of a stream starting with `head`, by its magic bytes (as Docker's
/// `DetectCompression`).
pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else {
        Compression::None
    }
}

/// Whether a 512-byte block is a tar header: its checksum matches (any tar dialect: ustar, GNU
/// and old v7 headers all carry one).
pub fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 || block[..512].iter().all(|b| *b == 0) {
        return false;
    }
    let field = &block[148..156];
    let text: String = field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    let Ok(want) = u32::from_str_radix(text.trim(), 8) else {
        return false;
    };
    let sum: u32 = block[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                *b as u32
            }
        })
        .sum();
    sum == want
}

/// A writer that keeps the first `cap` bytes and then refuses more (stops a decoder early).
struct Head {
    buf: Vec<u8>,
    cap: usize,
}

impl Write for Head {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.cap - self.buf.len();
        if room == 0 {
            return Err(io::Error::other("enough"));
        }
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn read_up_to(r: &mut dyn Read, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let _ = r.take(n as u64).read_to_end(&mut out);
    out
}

/// A decompressing reader over `r` for `c`. xz is decoded on a thread into a pipe because the
/// pure-Rust decoder only writes.
fn decoder(c: Compression, r: Box<dyn Read + Send>) -> io::Result<Box<dyn Read>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Compression::Xz => {
            let (rd, mut wr) = io::pipe()?;
            std::thread::spawn(move || {
                let mut input = BufReader::new(r);
                // A decode error closes the pipe early; the tar reader then reports it.
                let _ = lzma_rs::xz_decompress(&mut input, &mut wr);
            });
            Box::new(rd)
        }
    })
}

/// The first `n` decompressed bytes of the file at `p`.
fn peek(p: &Path, n: usize) -> io::Result<(Compression, Vec<u8>)> {
    let mut f = std::fs::File::open(p)?;
    let head = read_up_to(&mut f, 6);
    let c = detect(&head);
    let f = std::fs::File::open(p)?;
    let out = match c {
        Compression::Xz => {
            // Decode in place (no thread) and stop once `n` bytes came out.
            let mut w = Head {
                buf: Vec::new(),
                cap: n,
            };
            let _ = lzma_rs::xz_decompress(&mut BufReader::new(f), &mut w);
            w.buf
        }
        _ => read_up_to(&mut decoder(c, Box::new(f))?, n),
    };
    Ok((c, out))
}

/// Whether the file at `p` is a (possibly compressed) tar archive that `ADD` unpacks.
pub fn is_archive(p: &Path) -> bool {
    match peek(p, 512) {
        Ok((_, block)) => is_tar_header(&block),
        Err(_) => false,
    }
}

/// Unpacks the (possibly compressed) tar archive at `p` into `dest`, keeping modes, owners and
/// modification times.
pub fn extract(p: &Path, dest: &Path) -> io::Result<()> {
    let mut f = std::fs::File::open(p)?;
    let head = read_up_to(&mut f, 6);
    let f = std::fs::File::open(p)?;
    let r = decoder(detect(&head), Box::new(f))?;
    let mut ar = tar::Archive::new(r);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    ar.unpack(dest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tar_bytes() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(6);
        h.set_mode(0o640);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append_data(&mut h, "dir/hello.txt", &b"hello\n"[..])
            .unwrap();
        b.into_inner().unwrap()
    }

    fn gnu_tar_bytes() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, "g.txt", &b"gnu"[..]).unwrap();
        b.into_inner().unwrap()
    }

    fn compress(c: Compression, data: &[u8]) -> Vec<u8> {
        match c {
            Compression::None => data.to_vec(),
            Compression::Gzip => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Xz => {
                let mut out = Vec::new();
                lzma_rs::xz_compress(&mut &data[..], &mut out).unwrap();
                out
            }
        }
    }

    #[test]
    fn every_compression_is_detected_and_extracted_by_content() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
        ] {
            // A misleading name: detection must not look at it.
            let p = dir.path().join(format!("archive-{c:?}.txt"));
            std::fs::write(&p, compress(c, &tar_bytes())).unwrap();
            assert_eq!(detect(&std::fs::read(&p).unwrap()), c);
            assert!(is_archive(&p), "{c:?}");
            let dest = dir.path().join(format!("out-{c:?}"));
            std::fs::create_dir(&dest).unwrap();
            extract(&p, &dest).unwrap();
            let f = dest.join("dir/hello.txt");
            assert_eq!(std::fs::read(&f).unwrap(), b"hello\n", "{c:?}");
            let m = std::fs::metadata(&f).unwrap();
            assert_eq!(m.mode() & 0o777, 0o640, "{c:?}");
            assert_eq!(m.mtime(), 1_600_000_000, "{c:?}");
        }
        // GNU headers are tars too.
        let p = dir.path().join("gnu.tar.xz");
        std::fs::write(&p, compress(Compression::Xz, &gnu_tar_bytes())).unwrap();
        assert!(is_archive(&p));
    }

    #[test]
    fn compressed_non_tars_and_plain_files_are_not_archives() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"just some text that is long enough to fill a block ".repeat(20);
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
        ] {
            let p = dir.path().join(format!("f-{c:?}.tar.gz"));
            std::fs::write(&p, compress(c, &text)).unwrap();
            assert!(!is_archive(&p), "{c:?}");
        }
        // Truncated and corrupt streams with a valid magic are not archives either.
        let p = dir.path().join("trunc");
        let xz = compress(Compression::Xz, &tar_bytes());
        std::fs::write(&p, &xz[..12]).unwrap();
        assert!(!is_archive(&p));
        std::fs::write(&p, b"BZh9garbage").unwrap();
        assert!(!is_archive(&p));
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert!(!is_archive(&empty));
        assert!(!is_tar_header(&[0u8; 512]));
    }
}
