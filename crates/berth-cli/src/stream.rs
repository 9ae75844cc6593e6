//! Interactive streams: Docker's 8-byte multiplexed framing, raw terminal mode, detach keys,
//! and the pump that joins a hijacked connection with the local stdio.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;

use nix::sys::termios::{self, SetArg, Termios};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::client::Hijacked;
use crate::error::{CliError, Result};

/// Parses Docker's `--detach-keys` (`ctrl-p,ctrl-q`, `a`, `ctrl-@`, `ctrl-[`...) into bytes.
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>> {
    let bad = || CliError::invalid(format!("Invalid detach keys ({s}) provided"));
    let mut out = Vec::new();
    for part in s.split(',') {
        let p = part.trim();
        if let Some(k) = p.strip_prefix("ctrl-") {
            let mut chars = k.chars();
            let c = chars.next().ok_or_else(bad)?;
            if chars.next().is_some() {
                return Err(bad());
            }
            let b = match c {
                'a'..='z' => c as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => return Err(bad()),
            };
            out.push(b);
        } else {
            let mut chars = p.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii() => out.push(c as u8),
                _ => return Err(bad()),
            }
        }
    }
    Ok(out)
}

/// Default detach sequence: ctrl-p, ctrl-q.
pub const DEFAULT_DETACH_KEYS: [u8; 2] = [16, 17];

/// Watches input for the detach sequence. Bytes that only partly match are held back and
/// released when the match breaks, as Docker's escape proxy does.
#[derive(Debug)]
pub struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachScanner {
    /// A scanner for `keys` (empty = never detach).
    pub fn new(keys: Vec<u8>) -> Self {
        DetachScanner { keys, matched: 0 }
    }

    /// Feeds input; returns (bytes to forward, whether the full sequence was seen).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return (out, false);
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                    if self.keys.len() == 1 {
                        self.matched = 0;
                        return (out, true);
                    }
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

/// Incremental decoder of Docker's multiplexed stream: `[stream,0,0,0,len_be32]` + payload.
#[derive(Debug, Default)]
pub struct Demuxer {
    buf: Vec<u8>,
}

/// One decoded frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// 0 stdin, 1 stdout, 2 stderr, 3 system error.
    pub stream: u8,
    /// Payload bytes.
    pub data: Vec<u8>,
}

impl Demuxer {
    /// Adds bytes and returns every complete frame.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.buf.extend_from_slice(bytes);
        let mut frames = Vec::new();
        loop {
            if self.buf.len() < 8 {
                break;
            }
            let len =
                u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
            if self.buf.len() < 8 + len {
                break;
            }
            let stream = self.buf[0];
            let data = self.buf[8..8 + len].to_vec();
            self.buf.drain(..8 + len);
            frames.push(Frame { stream, data });
        }
        frames
    }
}

/// Encodes one multiplexed frame (used by tests and fakes).
pub fn encode_frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![stream, 0, 0, 0];
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// Copies a stream to stdout/stderr, demultiplexing unless `tty`.
pub async fn copy_output<R: AsyncRead + Unpin>(mut r: R, tty: bool) -> Result<()> {
    let mut demux = Demuxer::default();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            // The daemon closing a hijacked connection abruptly is an ordinary end of stream.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e.into()),
        };
        if tty {
            let mut so = std::io::stdout().lock();
            so.write_all(&buf[..n])?;
            so.flush()?;
            continue;
        }
        for f in demux.push(&buf[..n]) {
            match f.stream {
                2 => {
                    let mut se = std::io::stderr().lock();
                    se.write_all(&f.data)?;
                    se.flush()?;
                }
                3 => {
                    return Err(CliError::Protocol(
                        String::from_utf8_lossy(&f.data).trim().to_string(),
                    ));
                }
                _ => {
                    let mut so = std::io::stdout().lock();
                    so.write_all(&f.data)?;
                    so.flush()?;
                }
            }
        }
    }
    Ok(())
}

/// Puts stdin in raw mode until dropped.
pub struct RawTerminal {
    orig: Termios,
}

impl RawTerminal {
    /// Enables raw mode on stdin (a no-op error if stdin is not a terminal).
    pub fn enable() -> Result<RawTerminal> {
        let stdin = std::io::stdin();
        let orig =
            termios::tcgetattr(stdin.as_fd()).map_err(|e| CliError::Io(std::io::Error::from(e)))?;
        let mut raw = orig.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
            .map_err(|e| CliError::Io(std::io::Error::from(e)))?;
        Ok(RawTerminal { orig })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // Best effort: nothing sensible to do if restoring the terminal fails.
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.orig);
    }
}

/// Size of the terminal on stdout (rows, cols), if it is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    let ws = rustix::termios::tcgetwinsize(out.as_fd()).ok()?;
    if ws.ws_row == 0 && ws.ws_col == 0 {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}

/// Reads process stdin on a plain thread (tokio's stdin would keep the runtime alive at exit).
pub fn stdin_channel() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// How an interactive session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum PumpEnd {
    /// The output stream ended (the process exited or the daemon closed it).
    Finished,
    /// The user typed the detach sequence.
    Detached,
}

/// Joins a hijacked connection with the local stdio until the output ends or the user detaches.
pub async fn pump(h: Hijacked, tty: bool, stdin: bool, detach_keys: Vec<u8>) -> Result<PumpEnd> {
    let Hijacked { reader, writer } = h;
    let mut output = tokio::spawn(copy_output(reader, tty));
    let (detach_tx, mut detach_rx) = mpsc::channel::<()>(1);
    let input = match (stdin, writer) {
        (true, Some(mut w)) => {
            let mut rx = stdin_channel();
            // Detach keys only apply to a TTY, where the terminal is in raw mode (as Docker).
            let mut scanner = DetachScanner::new(if tty { detach_keys } else { Vec::new() });
            Some(tokio::spawn(async move {
                while let Some(chunk) = rx.recv().await {
                    let (fwd, detach) = scanner.feed(&chunk);
                    if !fwd.is_empty() && w.write_all(&fwd).await.is_err() {
                        return;
                    }
                    let _ = w.flush().await;
                    if detach {
                        let _ = detach_tx.send(()).await;
                        return;
                    }
                }
                // stdin EOF: half-close so the container sees EOF on its stdin.
                let _ = w.shutdown().await;
            }))
        }
        (_, w) => {
            // Dropping one half of a split stream does not close the connection.
            drop(w);
            None
        }
    };
    let end = tokio::select! {
        r = &mut output => {
            match r {
                Ok(res) => res.map(|()| PumpEnd::Finished),
                Err(e) => Err(CliError::Protocol(e.to_string())),
            }
        }
        Some(()) = detach_rx.recv() => Ok(PumpEnd::Detached),
    };
    if let Some(i) = input {
        i.abort();
    }
    output.abort();
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").ok(), Some(vec![16, 17]));
        assert_eq!(parse_detach_keys("a,ctrl-@").ok(), Some(vec![b'a', 0]));
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ab").is_err());
    }

    #[test]
    fn detach_scanner() {
        let mut s = DetachScanner::new(vec![16, 17]);
        assert_eq!(s.feed(b"ab"), (b"ab".to_vec(), false));
        assert_eq!(s.feed(&[16]), (vec![], false));
        assert_eq!(s.feed(b"x"), (vec![16, b'x'], false));
        assert_eq!(s.feed(&[b'y', 16]), (vec![b'y'], false));
        assert_eq!(s.feed(&[17, b'z']), (vec![], true));
        let mut s = DetachScanner::new(vec![16, 17]);
        assert_eq!(s.feed(&[16, 16, 17]), (vec![16], true));
    }

    #[test]
    fn demux_frames_across_chunks() {
        let mut d = Demuxer::default();
        let mut bytes = encode_frame(1, b"hello\n");
        bytes.extend(encode_frame(2, b"err"));
        let (a, b) = bytes.split_at(5);
        assert!(d.push(a).is_empty());
        let frames = d.push(b);
        assert_eq!(
            frames,
            vec![
                Frame {
                    stream: 1,
                    data: b"hello\n".to_vec()
                },
                Frame {
                    stream: 2,
                    data: b"err".to_vec()
                }
            ]
        );
    }
}
