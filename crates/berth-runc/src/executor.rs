//! The workload executor run inside the container init: resolves the program the way runc
//! (Go's `exec.LookPath`) does so failures carry runc's exact wording, then execs it.

use std::ffi::CString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{LinuxSeccomp, Spec};
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

/// PATH used when the process environment has none (runc falls back to Go's default lookup).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the lookup needs to know about a path; a seam so resolution is testable without files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// The path is a directory.
    pub is_dir: bool,
    /// Permission bits.
    pub mode: u32,
}

/// Why a program could not be resolved; `Display` is runc's message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LookupError {
    /// The process has no arguments.
    #[error("args must not be empty")]
    EmptyArgs,
    /// A bare name was not found in any PATH entry.
    #[error("exec: \"{0}\": executable file not found in $PATH")]
    NotFound(String),
    /// A path containing `/` could not be stat'ed.
    #[error("exec: \"{name}\": stat {name}: {reason}")]
    Stat {
        /// The name as given.
        name: String,
        /// Lower-case OS error text, as Go prints it.
        reason: String,
    },
    /// The path exists but is a directory or has no execute bit.
    #[error("exec: \"{0}\": permission denied")]
    PermissionDenied(String),
}

/// Go-style lower-case text for an OS error.
fn go_error_text(err: &io::Error) -> String {
    let text = match err.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => err.to_string(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

fn executable(info: FileInfo) -> bool {
    !info.is_dir && info.mode & 0o111 != 0
}

/// Resolves `name` against `path_var` like Go's `exec.LookPath`, using `stat` to probe files.
pub fn look_path(
    name: &str,
    path_var: &str,
    stat: impl Fn(&Path) -> io::Result<FileInfo>,
) -> Result<PathBuf, LookupError> {
    if name.is_empty() {
        return Err(LookupError::EmptyArgs);
    }
    if name.contains('/') {
        return match stat(Path::new(name)) {
            Ok(info) if executable(info) => Ok(PathBuf::from(name)),
            Ok(_) => Err(LookupError::PermissionDenied(name.to_string())),
            Err(e) => Err(LookupError::Stat {
                name: name.to_string(),
                reason: go_error_text(&e),
            }),
        };
    }
    for dir in path_var.split(':') {
        // An empty PATH element means the current directory, as in Go.
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(name);
        if let Ok(info) = stat(&candidate)
            && executable(info)
        {
            return Ok(candidate);
        }
    }
    Err(LookupError::NotFound(name.to_string()))
}

/// Stats a real file (following symlinks).
pub fn stat_file(path: &Path) -> io::Result<FileInfo> {
    let md = std::fs::metadata(path)?;
    Ok(FileInfo {
        is_dir: md.is_dir(),
        mode: md.permissions().mode(),
    })
}

fn process_args_and_path(spec: &Spec) -> (Vec<String>, String) {
    let process = spec.process().as_ref();
    let args = process.and_then(|p| p.args().clone()).unwrap_or_default();
    let path = process
        .and_then(|p| p.env().as_ref())
        .and_then(|env| {
            env.iter()
                .find_map(|e| e.strip_prefix("PATH=").map(str::to_string))
        })
        .unwrap_or_else(|| DEFAULT_PATH.to_string());
    (args, path)
}

fn resolve(spec: &Spec) -> Result<(PathBuf, Vec<String>), LookupError> {
    let (args, path_var) = process_args_and_path(spec);
    let first = args.first().ok_or(LookupError::EmptyArgs)?;
    let program = look_path(first, &path_var, stat_file)?;
    Ok((program, args))
}

/// Seccomp for an `exec`'d process. libcontainer 0.7 drops the container's seccomp profile
/// from tenant processes, so the executor loads it itself, right before `execv`. Loading a
/// filter without no_new_privs needs CAP_SYS_ADMIN, which the process was granted temporarily
/// (with CAP_SETPCAP to trim the bounding set); both are removed again here.
#[derive(Clone, Debug)]
pub struct TenantSeccomp {
    /// The container's profile.
    pub profile: LinuxSeccomp,
    /// Capabilities added only so the filter can be loaded; dropped before exec.
    pub temporary_caps: Vec<caps::Capability>,
}

fn apply_tenant_seccomp(t: &TenantSeccomp) -> Result<(), ExecutorError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        ExecutorError::Other(format!("exec seccomp: {what}: {e}"))
    };
    // The bounding set needs CAP_SETPCAP, which may itself be temporary: trim it first.
    for cap in &t.temporary_caps {
        caps::drop(None, caps::CapSet::Bounding, *cap)
            .map_err(|e| fail("drop bounding cap", &e))?;
    }
    if let Some(fd) = libcontainer::seccomp::initialize_seccomp(&t.profile)
        .map_err(|e| fail("load filter", &e))?
    {
        // Notify listeners are not supported for exec'd processes.
        let _ = nix::unistd::close(fd);
    }
    for set in [
        caps::CapSet::Effective,
        caps::CapSet::Permitted,
        caps::CapSet::Inheritable,
    ] {
        for cap in &t.temporary_caps {
            caps::drop(None, set, *cap).map_err(|e| fail("drop cap", &e))?;
        }
    }
    Ok(())
}

/// Executor that validates and execs the spec's process with runc's error messages.
#[derive(Clone, Default)]
pub struct RuncExecutor {
    tenant_seccomp: Option<TenantSeccomp>,
}

impl RuncExecutor {
    /// Executor for the container's init process (libcontainer applies seccomp itself).
    pub fn init() -> Self {
        RuncExecutor::default()
    }

    /// Executor for an `exec`'d process that must load `seccomp` before exec.
    pub fn tenant(seccomp: Option<TenantSeccomp>) -> Self {
        RuncExecutor {
            tenant_seccomp: seccomp,
        }
    }
}

impl Executor for RuncExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(t) = &self.tenant_seccomp {
            apply_tenant_seccomp(t)?;
        }
        let (program, args) = resolve(spec).map_err(|e| ExecutorError::Other(e.to_string()))?;
        let to_c = |s: &str| {
            CString::new(s.as_bytes())
                .map_err(|_| ExecutorError::Other(format!("exec: {s:?}: argument contains NUL")))
        };
        let c_program = to_c(&program.to_string_lossy())?;
        let c_args = args
            .iter()
            .map(|a| to_c(a))
            .collect::<Result<Vec<_>, _>>()?;
        // execv keeps the environment libcontainer installed via setup_envs.
        let err = match nix::unistd::execv(&c_program, &c_args) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        Err(ExecutorError::Other(format!(
            "exec: {:?}: {}",
            args.first().map(String::as_str).unwrap_or_default(),
            go_error_text(&io::Error::from_raw_os_error(err as i32))
        )))
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        resolve(spec)
            .map(|_| ())
            .map_err(|e| ExecutorValidationError::ArgValidationError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(p: &Path) -> io::Result<FileInfo> {
        match p.to_str() {
            Some("/bin/sh") => Ok(FileInfo {
                is_dir: false,
                mode: 0o755,
            }),
            Some("/bin/data") => Ok(FileInfo {
                is_dir: false,
                mode: 0o644,
            }),
            Some("/usr/bin/data") => Ok(FileInfo {
                is_dir: false,
                mode: 0o755,
            }),
            Some("/etc") => Ok(FileInfo {
                is_dir: true,
                mode: 0o755,
            }),
            _ => Err(io::Error::from_raw_os_error(libc::ENOENT)),
        }
    }

    #[test]
    fn finds_in_path() {
        assert_eq!(
            look_path("sh", "/usr/bin:/bin", fake),
            Ok(PathBuf::from("/bin/sh"))
        );
        // Non-executable entries are skipped, later executable ones win.
        assert_eq!(
            look_path("data", "/bin:/usr/bin", fake),
            Ok(PathBuf::from("/usr/bin/data"))
        );
    }

    #[test]
    fn not_found_message_is_runcs() {
        let err = look_path("nope", "/bin", fake)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(err, "exec: \"nope\": executable file not found in $PATH");
    }

    #[test]
    fn explicit_paths() {
        assert_eq!(look_path("/bin/sh", "", fake), Ok(PathBuf::from("/bin/sh")));
        assert_eq!(
            look_path("/bin/data", "", fake)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
            "exec: \"/bin/data\": permission denied"
        );
        assert_eq!(
            look_path("/etc", "", fake)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
            "exec: \"/etc\": permission denied"
        );
        assert_eq!(
            look_path("/x", "", fake)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
            "exec: \"/x\": stat /x: no such file or directory"
        );
    }

    #[test]
    fn empty_name() {
        assert_eq!(look_path("", "/bin", fake), Err(LookupError::EmptyArgs));
    }
}
