//! Filesystem helpers of COPY/ADD: glob matching, `.dockerignore` rules, path resolution inside a
//! root (symlinks never lead out of it), and tree copies with ownership and mode overrides.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Go `filepath.Match` over `/`-separated paths, plus `**` matching any number of components.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let mut failed = std::collections::HashSet::new();
    match_at(&p, 0, &n, 0, &mut failed)
}

/// Memoised: whether `p[pi..]` matches `n[ni..]` depends on nothing else, so remembering the
/// positions that failed keeps patterns like `**/**/**/…` polynomial instead of exponential.
fn match_at(
    p: &[char],
    pi: usize,
    n: &[char],
    ni: usize,
    failed: &mut std::collections::HashSet<(usize, usize)>,
) -> bool {
    if failed.contains(&(pi, ni)) {
        return false;
    }
    let ok = match_from(p, pi, n, ni, failed);
    if !ok {
        failed.insert((pi, ni));
    }
    ok
}

fn match_from(
    p: &[char],
    mut pi: usize,
    n: &[char],
    mut ni: usize,
    failed: &mut std::collections::HashSet<(usize, usize)>,
) -> bool {
    while pi < p.len() {
        match p[pi] {
            '*' => {
                if p.get(pi + 1) == Some(&'*') {
                    // `**` crosses separators; `**/` may also match nothing.
                    let rest = pi + 2;
                    if p.get(rest) == Some(&'/') && match_at(p, rest + 1, n, ni, failed) {
                        return true;
                    }
                    for k in ni..=n.len() {
                        if match_at(p, rest, n, k, failed) {
                            return true;
                        }
                    }
                    return false;
                }
                for k in ni..=n.len() {
                    if match_at(p, pi + 1, n, k, failed) {
                        return true;
                    }
                    if k < n.len() && n[k] == '/' {
                        break;
                    }
                }
                return false;
            }
            '?' => {
                if ni >= n.len() || n[ni] == '/' {
                    return false;
                }
                pi += 1;
                ni += 1;
            }
            '[' => {
                if ni >= n.len() || n[ni] == '/' {
                    return false;
                }
                let c = n[ni];
                let mut j = pi + 1;
                let negate = matches!(p.get(j), Some('^') | Some('!'));
                if negate {
                    j += 1;
                }
                let mut matched = false;
                let mut first = true;
                while j < p.len() && (first || p[j] != ']') {
                    first = false;
                    let mut lo = p[j];
                    if lo == '\\' && j + 1 < p.len() {
                        j += 1;
                        lo = p[j];
                    }
                    let mut hi = lo;
                    if p.get(j + 1) == Some(&'-') && p.get(j + 2).is_some_and(|x| *x != ']') {
                        hi = p[j + 2];
                        j += 2;
                    }
                    if lo <= c && c <= hi {
                        matched = true;
                    }
                    j += 1;
                }
                if j >= p.len() {
                    return false; // unterminated class never matches
                }
                if matched == negate {
                    return false;
                }
                pi = j + 1;
                ni += 1;
            }
            '\\' if pi + 1 < p.len() => {
                if ni >= n.len() || n[ni] != p[pi + 1] {
                    return false;
                }
                pi += 2;
                ni += 1;
            }
            c => {
                if ni >= n.len() || n[ni] != c {
                    return false;
                }
                pi += 1;
                ni += 1;
            }
        }
    }
    ni == n.len()
}

/// Whether a pattern holds glob metacharacters.
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Lexically cleans a context-relative path: no leading `/`, no `.`, `..` clamped at the root.
pub fn clean_rel(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    parts.join("/")
}

/// `.dockerignore` rules, Docker's semantics: later rules win, `!` re-includes, a rule matching a
/// parent directory excludes everything under it.
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    rules: Vec<(String, bool)>,
}

impl IgnoreRules {
    /// Parses `.dockerignore` text.
    pub fn parse(text: &str) -> Self {
        let mut rules = Vec::new();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (neg, pat) = match l.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, l),
            };
            let pat = clean_rel(pat);
            if pat.is_empty() {
                continue;
            }
            rules.push((pat, neg));
        }
        IgnoreRules { rules }
    }

    /// Whether the context-relative path is excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        let mut out = false;
        for (pat, neg) in &self.rules {
            if matches_or_parent(pat, rel) {
                out = !neg;
            }
        }
        out
    }

    /// Whether some `!` rule could re-include something under directory `rel` (so an excluded
    /// directory must still be walked).
    pub fn may_reinclude_under(&self, rel: &str) -> bool {
        self.rules
            .iter()
            .any(|(p, neg)| *neg && (p.starts_with(&format!("{rel}/")) || p.contains("**")))
    }
}

fn matches_or_parent(pat: &str, rel: &str) -> bool {
    if glob_match(pat, rel) {
        return true;
    }
    let mut cur = rel;
    while let Some((parent, _)) = cur.rsplit_once('/') {
        if glob_match(pat, parent) {
            return true;
        }
        cur = parent;
    }
    false
}

/// Resolves `path` (absolute, as seen inside `root`) to a host path under `root`, following
/// symlinks as if `root` were `/` (so they never escape). Missing components are kept as-is.
pub fn resolve_in_root(root: &Path, path: &str) -> io::Result<PathBuf> {
    let mut stack: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(str::to_string)
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = stack.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let host = root.join(cur.join("/")).join(&c);
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                let target = std::fs::read_link(&host)?;
                let t = target.to_string_lossy().to_string();
                if t.starts_with('/') {
                    cur.clear();
                }
                for part in t.split('/').filter(|x| !x.is_empty()).rev() {
                    stack.push(part.to_string());
                }
            }
            _ => cur.push(c),
        }
    }
    Ok(root.join(cur.join("/")))
}

/// Ownership and mode overrides of a copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyAttrs {
    /// Owner (uid, gid) to set; None keeps the source's owner (the builder passes 0:0 for
    /// context files, as Docker does, and None for `--from` copies without `--chown`).
    pub owner: Option<(u32, u32)>,
    /// `--chmod` mode bits.
    pub mode: Option<u32>,
}

fn lchown(p: &Path, owner: Option<(u32, u32)>) -> io::Result<()> {
    if let Some((u, g)) = owner {
        std::os::unix::fs::lchown(p, Some(u), Some(g))?;
    }
    Ok(())
}

/// Creates `dir` and its missing parents inside the rootfs (parents already resolved).
pub fn mkdir_all(dir: &Path, owner: Option<(u32, u32)>) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(p) = dir.parent() {
        mkdir_all(p, owner)?;
    }
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => std::fs::remove_file(dir)?,
        Err(_) => {}
    }
    std::fs::create_dir(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    lchown(dir, owner)
}

/// Copies one file system object `src` to the host path `dst` (replacing a non-directory there),
/// recursing into directories (merging with an existing directory).
pub fn copy_entry(src: &Path, dst: &Path, attrs: CopyAttrs) -> io::Result<u64> {
    let m = std::fs::symlink_metadata(src)?;
    let ft = m.file_type();
    let existing = std::fs::symlink_metadata(dst).ok();
    if ft.is_dir() {
        match existing {
            Some(e) if e.is_dir() => {}
            Some(_) => {
                std::fs::remove_file(dst)?;
                std::fs::create_dir(dst)?;
            }
            None => std::fs::create_dir(dst)?,
        }
        let mut total = 0;
        let mut entries: Vec<_> = std::fs::read_dir(src)?.collect::<io::Result<Vec<_>>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            total += copy_entry(&e.path(), &dst.join(e.file_name()), attrs)?;
        }
        finish(dst, &m, attrs)?;
        return Ok(total);
    }
    if let Some(e) = existing {
        if e.is_dir() {
            std::fs::remove_dir_all(dst)?;
        } else {
            std::fs::remove_file(dst)?;
        }
    }
    if ft.is_symlink() {
        let t = std::fs::read_link(src)?;
        std::os::unix::fs::symlink(&t, dst)?;
        lchown(dst, Some(attrs.owner.unwrap_or((m.uid(), m.gid()))))?;
        return Ok(0);
    }
    if !ft.is_file() {
        // Devices, sockets and fifos are not meaningful in a build context.
        return Ok(0);
    }
    let n = std::fs::copy(src, dst)?;
    finish(dst, &m, attrs)?;
    Ok(n)
}

fn finish(dst: &Path, m: &std::fs::Metadata, attrs: CopyAttrs) -> io::Result<()> {
    let mode = match attrs.mode {
        Some(md) => md,
        None => m.mode() & 0o7777,
    };
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode))?;
    lchown(dst, Some(attrs.owner.unwrap_or((m.uid(), m.gid()))))?;
    let mtime = filetime_of(m);
    set_mtime(dst, mtime)
}

fn filetime_of(m: &std::fs::Metadata) -> (i64, i64) {
    (m.mtime(), m.mtime_nsec())
}

fn set_mtime(p: &Path, (s, ns): (i64, i64)) -> io::Result<()> {
    let t = nix::sys::time::TimeSpec::new(s, ns);
    nix::sys::stat::utimensat(
        None,
        p,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io::Error::from)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Backtracking without memory takes exponential time on stacked `**` or `*`; a `COPY`
    /// pattern or `.dockerignore` line must not hang a build.
    #[test]
    fn pathological_globs_finish_fast() {
        let name = "a/".repeat(40) + "b";
        let t = std::time::Instant::now();
        assert!(!glob_match(&("**/".repeat(30) + "x"), &name));
        assert!(glob_match(&("**/".repeat(30) + "b"), &name));
        assert!(!glob_match(&("*a".repeat(30) + "x"), &"a".repeat(60)));
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn globbing() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"));
        assert!(glob_match("d/*.txt", "d/a.txt"));
        assert!(glob_match("**/*.txt", "a.txt"));
        assert!(glob_match("**/*.txt", "x/y/a.txt"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("**", "a/b/c"));
        assert!(glob_match("a/**", "a/b/c"));
        assert!(!glob_match("a", "ab"));
    }

    #[test]
    fn dockerignore_rules() {
        let r = IgnoreRules::parse("# c\n*.log\nnode_modules\n!keep.log\n/tmp/**\n");
        assert!(r.excluded("x.log"));
        assert!(!r.excluded("keep.log"));
        assert!(r.excluded("node_modules/a/b.js"));
        assert!(r.excluded("tmp/a/b"));
        assert!(!r.excluded("src/x.log"));
        assert!(!r.excluded("main.rs"));
        assert_eq!(clean_rel("./a/../b//c/"), "b/c");
        assert_eq!(clean_rel("../../x"), "x");
    }

    #[test]
    fn resolve_stays_inside_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("real/esc")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/abs/sub").unwrap(),
            root.join("real/sub")
        );
        assert_eq!(
            resolve_in_root(root, "/real/esc/passwd").unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(resolve_in_root(root, "/../x").unwrap(), root.join("x"));
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(resolve_in_root(root, "/loop").is_err());
    }
}
