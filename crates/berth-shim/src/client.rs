//! The async client berthd uses: spawn a shim, then talk to it over its socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

pub use crate::protocol::ExitInfo;
use crate::protocol::{Request, Response};

/// Errors talking to a shim.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// The runtime (or the shim) refused; the message is verbatim.
    #[error("{0}")]
    Runtime(String),
    /// The shim is unreachable.
    #[error("shim unavailable: {0}")]
    Io(#[from] std::io::Error),
    /// The shim answered something unreadable.
    #[error("bad shim response: {0}")]
    Protocol(String),
}

impl berth_core::Classify for ShimError {
    fn kind(&self) -> berth_core::ErrorKind {
        match self {
            ShimError::Runtime(_) => berth_core::ErrorKind::InvalidArgument,
            ShimError::Io(_) => berth_core::ErrorKind::Unavailable,
            ShimError::Protocol(_) => berth_core::ErrorKind::Internal,
        }
    }
}

/// Log settings handed to the shim.
#[derive(Debug, Clone, Default)]
pub struct LogConfig {
    /// json-file, local, none.
    pub driver: String,
    /// Log file.
    pub path: PathBuf,
    /// Rotate at this size.
    pub max_size: Option<u64>,
    /// Files to keep.
    pub max_file: u32,
}

/// How to start a shim.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    /// Path of `berth-shim`.
    pub shim_binary: PathBuf,
    /// Container id.
    pub id: String,
    /// OCI bundle directory.
    pub bundle: PathBuf,
    /// Shim state directory.
    pub state_dir: PathBuf,
    /// OCI runtime binary.
    pub runtime: PathBuf,
    /// Runtime `--root`.
    pub runtime_root: PathBuf,
    /// Allocate a TTY.
    pub tty: bool,
    /// Keep stdin open.
    pub stdin: bool,
    /// Close stdin when the attached client's input ends.
    pub stdin_once: bool,
    /// Logging.
    pub log: LogConfig,
    /// A sealed in-memory copy of `runtime`, shared by all shims: the shim runs it through
    /// `/proc/self/fd/N`, so the runtime finds itself already sealed and skips the copy it
    /// would otherwise make on every create and exec (CVE-2019-5736 protection, ~7 ms each).
    pub sealed_runtime: Option<Arc<SealedRuntime>>,
}

/// An OCI runtime binary copied once into a sealed memfd (no writes, no resizing, no new
/// seals), which a container can therefore never modify through `/proc/<pid>/exe`.
#[derive(Debug)]
pub struct SealedRuntime {
    file: std::fs::File,
}

impl SealedRuntime {
    /// Copies and seals `path` with the same seals `pentacle::ensure_sealed` checks for.
    pub fn new(path: &Path) -> std::io::Result<SealedRuntime> {
        let mut src = std::fs::File::open(path)?;
        let file = pentacle::SealOptions::new()
            .executable(true)
            .close_on_exec(true)
            .copy_and_seal(&mut src)?;
        Ok(SealedRuntime { file })
    }

    /// The descriptor (close-on-exec in this process).
    pub fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.file)
    }
}

/// State reported by a shim.
#[derive(Debug, Clone)]
pub struct ShimState {
    /// created, running, paused, stopped.
    pub status: String,
    /// Init pid.
    pub pid: u32,
    /// Exit code once stopped.
    pub exit_code: Option<i32>,
}

/// State of an exec.
#[derive(Debug, Clone)]
pub struct ExecState {
    /// Still running.
    pub running: bool,
    /// Pid.
    pub pid: u32,
    /// Exit code once done.
    pub exit_code: Option<i32>,
}

/// A handle on one container's shim (cheap to clone).
#[derive(Debug, Clone)]
pub struct ShimClient {
    state_dir: PathBuf,
}

/// Reads `exit.json` left by a shim.
pub fn read_exit_file(state_dir: &Path) -> Option<ExitInfo> {
    let b = std::fs::read(state_dir.join("exit.json")).ok()?;
    serde_json::from_slice(&b).ok()
}

impl ShimClient {
    /// Starts a shim; returns once the container is created (or the runtime's error).
    pub async fn spawn(o: &SpawnOptions) -> Result<ShimClient, ShimError> {
        let mut cmd = tokio::process::Command::new(&o.shim_binary);
        cmd.arg("--id").arg(&o.id);
        cmd.arg("--bundle").arg(&o.bundle);
        cmd.arg("--state-dir").arg(&o.state_dir);
        match &o.sealed_runtime {
            Some(sealed) => {
                let fd = sealed.fd();
                cmd.arg("--runtime").arg(format!("/proc/self/fd/{fd}"));
                // The shim (and the runtimes it starts) inherit this one descriptor; every
                // other process we spawn does not.
                #[allow(unsafe_code)]
                // SAFETY: only fcntl, which is async-signal-safe, runs between fork and exec.
                unsafe {
                    cmd.pre_exec(move || {
                        if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            }
            None => {
                cmd.arg("--runtime").arg(&o.runtime);
            }
        }
        cmd.arg("--runtime-root").arg(&o.runtime_root);
        if o.tty {
            cmd.arg("--tty");
        }
        if o.stdin {
            cmd.arg("--stdin");
        }
        if o.stdin_once {
            cmd.arg("--stdin-once");
        }
        cmd.arg("--log-driver").arg(if o.log.driver.is_empty() {
            "json-file"
        } else {
            &o.log.driver
        });
        if !o.log.path.as_os_str().is_empty() {
            cmd.arg("--log-path").arg(&o.log.path);
        }
        if let Some(s) = o.log.max_size {
            cmd.arg("--log-max-size").arg(s.to_string());
        }
        cmd.arg("--log-max-file")
            .arg(o.log.max_file.max(1).to_string());
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let out = cmd.output().await?;
        if !out.status.success() {
            return Err(ShimError::Runtime(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(ShimClient {
            state_dir: o.state_dir.clone(),
        })
    }

    /// A client for an existing shim (live restore).
    pub fn open(state_dir: &Path) -> ShimClient {
        ShimClient {
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// Whether the shim answers.
    pub fn is_alive(&self) -> bool {
        std::os::unix::net::UnixStream::connect(self.state_dir.join("shim.sock")).is_ok()
    }

    async fn connect(&self, req: &Request) -> Result<(UnixStream, Response), ShimError> {
        let mut s = UnixStream::connect(self.state_dir.join("shim.sock")).await?;
        let mut line = serde_json::to_vec(req).map_err(|e| ShimError::Protocol(e.to_string()))?;
        line.push(b'\n');
        s.write_all(&line).await?;
        // Byte by byte: whatever follows the response line belongs to the stream.
        let mut resp = Vec::with_capacity(128);
        let mut b = [0u8; 1];
        loop {
            let n = s.read(&mut b).await?;
            if n == 0 {
                return Err(ShimError::Protocol("shim closed the connection".into()));
            }
            if b[0] == b'\n' {
                break;
            }
            resp.push(b[0]);
        }
        let r: Response =
            serde_json::from_slice(&resp).map_err(|e| ShimError::Protocol(e.to_string()))?;
        if !r.ok {
            return Err(ShimError::Runtime(r.error.unwrap_or_default()));
        }
        Ok((s, r))
    }

    async fn call(&self, req: Request) -> Result<Response, ShimError> {
        Ok(self.connect(&req).await?.1)
    }

    /// Starts the container's process.
    pub async fn start(&self) -> Result<u32, ShimError> {
        Ok(self.call(Request::Start).await?.pid.unwrap_or(0))
    }

    /// Current state. Once the shim has exited, reported from `exit.json`.
    pub async fn state(&self) -> Result<ShimState, ShimError> {
        let r = match self.call(Request::State).await {
            Ok(r) => r,
            Err(e) => {
                return self.exited(e).map(|x| ShimState {
                    status: "stopped".into(),
                    pid: 0,
                    exit_code: Some(x.exit_code),
                });
            }
        };
        Ok(ShimState {
            status: r.status.unwrap_or_default(),
            pid: r.pid.unwrap_or(0),
            exit_code: r.exit_code,
        })
    }

    /// When the shim is unreachable or hung up, `exit.json` (written before it stops serving)
    /// says whether that is because the container ended.
    fn exited(&self, e: ShimError) -> Result<ExitInfo, ShimError> {
        match e {
            ShimError::Io(_) | ShimError::Protocol(_) => read_exit_file(&self.state_dir).ok_or(e),
            e => Err(e),
        }
    }

    /// Waits for the container's init to exit (also after the shim itself is gone).
    pub async fn wait(&self) -> Result<ExitInfo, ShimError> {
        let r = match self.call(Request::Wait).await {
            Ok(r) => r,
            Err(e) => return self.exited(e),
        };
        Ok(ExitInfo {
            exit_code: r.exit_code.unwrap_or(255),
            finished_at: r.finished_at.unwrap_or_default(),
            oom_killed: r.oom_killed.unwrap_or(false),
        })
    }

    /// Signals init.
    pub async fn kill(&self, signal: i32) -> Result<(), ShimError> {
        self.call(Request::Kill { signal }).await.map(|_| ())
    }

    /// Freezes the container.
    pub async fn pause(&self) -> Result<(), ShimError> {
        self.call(Request::Pause).await.map(|_| ())
    }

    /// Thaws the container.
    pub async fn resume(&self) -> Result<(), ShimError> {
        self.call(Request::Resume).await.map(|_| ())
    }

    /// Attaches; the returned stream carries output (framed without a TTY) and takes input.
    pub async fn attach(
        &self,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<UnixStream, ShimError> {
        Ok(self
            .connect(&Request::Attach {
                stdin,
                stdout,
                stderr,
            })
            .await?
            .0)
    }

    /// Starts an exec; unless `detach`, returns its stream.
    pub async fn exec(
        &self,
        exec_id: &str,
        process: &serde_json::Value,
        detach: bool,
    ) -> Result<(u32, Option<UnixStream>), ShimError> {
        let (s, r) = self
            .connect(&Request::Exec {
                exec_id: exec_id.to_string(),
                process: process.clone(),
                detach,
            })
            .await?;
        Ok((r.pid.unwrap_or(0), if detach { None } else { Some(s) }))
    }

    /// State of an exec.
    pub async fn exec_state(&self, exec_id: &str) -> Result<ExecState, ShimError> {
        let r = self
            .call(Request::ExecState {
                exec_id: exec_id.to_string(),
            })
            .await?;
        Ok(ExecState {
            running: r.running.unwrap_or(false),
            pid: r.pid.unwrap_or(0),
            exit_code: r.exit_code,
        })
    }

    /// Resizes the container's (or an exec's) TTY.
    pub async fn resize(
        &self,
        exec_id: Option<&str>,
        height: u16,
        width: u16,
    ) -> Result<(), ShimError> {
        self.call(Request::Resize {
            exec_id: exec_id.map(String::from),
            height,
            width,
        })
        .await
        .map(|_| ())
    }

    /// Pids of the container's processes.
    pub async fn pids(&self) -> Result<Vec<u32>, ShimError> {
        Ok(self.call(Request::Pids).await?.pids.unwrap_or_default())
    }

    /// Deletes a never-started container; the shim exits.
    pub async fn shutdown(&self) -> Result<(), ShimError> {
        self.call(Request::Shutdown).await.map(|_| ())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sealed_runtime_is_sealed_and_read_only() {
        let r = SealedRuntime::new(Path::new("/bin/true")).unwrap();
        let fd = r.fd();
        let bytes = std::fs::read(format!("/proc/self/fd/{fd}")).unwrap();
        assert_eq!(bytes, std::fs::read("/bin/true").unwrap());
        assert!(
            pentacle::SealOptions::new()
                .executable(true)
                .is_sealed(&r.file)
        );
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{fd}"))
            .unwrap();
        assert!(
            w.write_all(b"x").is_err(),
            "a sealed runtime accepted a write"
        );
        // Close-on-exec here: only the shim is meant to inherit it.
        let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
    }
}
