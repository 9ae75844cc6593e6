//! Workarounds for libcontainer 0.7 behaviour that differs from runc.
//!
//! libcontainer loads seccomp early (before dropping capabilities) only when
//! `process.noNewPrivileges` is *absent*; an explicit `false` — what Docker-style specs carry —
//! makes it load the filter after the capabilities are gone, which the kernel refuses without
//! `CAP_SYS_ADMIN`. `false` and absent mean the same thing in the OCI spec, so specs and process
//! documents are normalized to "absent" before libcontainer sees them. For `create` this needs
//! a private copy of the bundle's config (the rootfs made absolute so it still resolves).

use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{Process, Spec};

/// Whether the process carries an explicit `noNewPrivileges: false`.
pub fn has_explicit_nnp_false(process: &Process) -> bool {
    process.no_new_privileges() == Some(false)
}

/// Replaces an explicit `noNewPrivileges: false` by absence. Returns whether anything changed.
pub fn normalize_process(process: &mut Process) -> bool {
    if has_explicit_nnp_false(process) {
        process.set_no_new_privileges(None);
        true
    } else {
        false
    }
}

/// Normalizes a bundle spec for libcontainer: the process as in [`normalize_process`], and a
/// relative `root.path` resolved against `bundle` (the copy lives elsewhere). Returns whether
/// the spec needed the seccomp fix at all.
pub fn normalize_spec(spec: &mut Spec, bundle: &Path) -> bool {
    let mut process = match spec.process() {
        Some(p) => p.clone(),
        None => return false,
    };
    if !normalize_process(&mut process) {
        return false;
    }
    spec.set_process(Some(process));
    if let Some(mut root) = spec.root().clone() {
        if root.path().is_relative() {
            let abs: PathBuf = bundle.join(root.path());
            root.set_path(abs);
        }
        spec.set_root(Some(root));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcontainer::oci_spec::runtime::Root;

    #[test]
    fn explicit_false_becomes_absent() {
        let mut spec = Spec::default();
        let mut p = spec.process().clone().unwrap_or_default();
        p.set_no_new_privileges(Some(false));
        spec.set_process(Some(p));
        let mut root = Root::default();
        root.set_path(PathBuf::from("rootfs"));
        spec.set_root(Some(root));
        assert!(normalize_spec(&mut spec, Path::new("/b")));
        assert_eq!(
            spec.process().as_ref().and_then(|p| p.no_new_privileges()),
            None
        );
        assert_eq!(
            spec.root().as_ref().map(|r| r.path().clone()),
            Some(PathBuf::from("/b/rootfs"))
        );
    }

    #[test]
    fn true_and_absent_untouched() {
        let mut p = Process::default();
        p.set_no_new_privileges(Some(true));
        assert!(!normalize_process(&mut p));
        p.set_no_new_privileges(None);
        assert!(!normalize_process(&mut p));
    }
}
