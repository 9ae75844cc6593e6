//! `--user` resolution against the image's /etc/passwd and /etc/group, with runc's rules
//! (which Docker uses): numeric ids need no entry, a matched user brings its supplementary
//! groups, an explicit group replaces the primary group and drops the supplementary ones.

use std::path::Path;

/// Errors of user resolution.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A user name the image does not define.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    /// A group name the image does not define.
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
}

impl berth_core::Classify for UserError {
    fn kind(&self) -> berth_core::ErrorKind {
        berth_core::ErrorKind::InvalidArgument
    }
}

/// A resolved user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedUser {
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn fields(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect())
}

fn passwd(text: &str) -> Vec<PasswdEntry<'_>> {
    fields(text)
        .map(|f| PasswdEntry {
            name: f[0],
            uid: f.get(2).and_then(|v| v.parse().ok()).unwrap_or(0),
            gid: f.get(3).and_then(|v| v.parse().ok()).unwrap_or(0),
        })
        .collect()
}

fn groups(text: &str) -> Vec<GroupEntry<'_>> {
    fields(text)
        .map(|f| GroupEntry {
            name: f[0],
            gid: f.get(2).and_then(|v| v.parse().ok()).unwrap_or(0),
            members: f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

fn read(rootfs: &Path, file: &str) -> String {
    // A missing file means "no entries", exactly like an empty one.
    std::fs::read_to_string(rootfs.join(file)).unwrap_or_default()
}

/// Resolves Docker's `user[:group]` (names or numeric ids) inside `rootfs`.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<ResolvedUser, UserError> {
    resolve_in(
        &read(rootfs, "etc/passwd"),
        &read(rootfs, "etc/group"),
        user,
    )
}

fn resolve_in(passwd_text: &str, group_text: &str, spec: &str) -> Result<ResolvedUser, UserError> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, ""),
    };
    let uid_arg = user_arg.parse::<u32>().ok();
    let users = passwd(passwd_text);
    let found = users.iter().find(|u| match (user_arg.is_empty(), uid_arg) {
        (true, _) => u.uid == 0,
        (false, Some(n)) => u.uid == n,
        (false, None) => u.name == user_arg,
    });
    let mut out = ResolvedUser::default();
    let mut matched_name = None;
    match (found, uid_arg) {
        (Some(u), _) => {
            out.uid = u.uid;
            out.gid = u.gid;
            matched_name = Some(u.name);
        }
        (None, Some(n)) => out.uid = n,
        (None, None) if user_arg.is_empty() => {}
        (None, None) => return Err(UserError::UnknownUser(user_arg.to_string())),
    }
    let all_groups = groups(group_text);
    if !group_arg.is_empty() {
        let gid_arg = group_arg.parse::<u32>().ok();
        let g = all_groups.iter().find(|g| match gid_arg {
            Some(n) => g.gid == n,
            None => g.name == group_arg,
        });
        out.gid = match (g, gid_arg) {
            (Some(g), _) => g.gid,
            (None, Some(n)) => n,
            (None, None) => return Err(UserError::UnknownGroup(group_arg.to_string())),
        };
    } else if let Some(name) = matched_name {
        // The primary group stays in the list when the user is listed as its member.
        out.additional_gids = all_groups
            .iter()
            .filter(|g| g.members.contains(&name))
            .map(|g| g.gid)
            .collect();
    }
    Ok(out)
}

/// Resolves `--group-add` entries (names or numbers) inside `rootfs`.
pub fn resolve_group_add(rootfs: &Path, group_add: &[String]) -> Result<Vec<u32>, UserError> {
    let text = read(rootfs, "etc/group");
    let all = groups(&text);
    group_add
        .iter()
        .map(|g| match all.iter().find(|e| e.name == g) {
            Some(e) => Ok(e.gid),
            None => g
                .parse::<u32>()
                .map_err(|_| UserError::UnknownGroup(g.clone())),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/ash\nbin:x:1:1:bin:/bin:/sbin/nologin\nweb:x:100:101::/:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:root\nbin:x:1:root,bin\nweb:x:101:\nextra:x:200:web\nwheel:x:10:root\n";

    fn u(uid: u32, gid: u32, add: &[u32]) -> ResolvedUser {
        ResolvedUser {
            uid,
            gid,
            additional_gids: add.to_vec(),
        }
    }

    #[test]
    fn runc_rules() {
        assert_eq!(resolve_in(PASSWD, GROUP, "").unwrap(), u(0, 0, &[0, 1, 10]));
        assert_eq!(
            resolve_in(PASSWD, GROUP, "root").unwrap(),
            u(0, 0, &[0, 1, 10])
        );
        assert_eq!(
            resolve_in(PASSWD, GROUP, "web").unwrap(),
            u(100, 101, &[200])
        );
        assert_eq!(
            resolve_in(PASSWD, GROUP, "100").unwrap(),
            u(100, 101, &[200])
        );
        assert_eq!(
            resolve_in(PASSWD, GROUP, "web:root").unwrap(),
            u(100, 0, &[])
        );
        assert_eq!(
            resolve_in(PASSWD, GROUP, "web:200").unwrap(),
            u(100, 200, &[])
        );
        assert_eq!(
            resolve_in(PASSWD, GROUP, "1234:5").unwrap(),
            u(1234, 5, &[])
        );
        assert_eq!(resolve_in(PASSWD, GROUP, "1234").unwrap(), u(1234, 0, &[]));
        assert_eq!(resolve_in("", "", "").unwrap(), u(0, 0, &[]));
        assert_eq!(resolve_in("", "", "42:42").unwrap(), u(42, 42, &[]));
        assert_eq!(
            resolve_in(PASSWD, GROUP, "nobody2")
                .unwrap_err()
                .to_string(),
            "unable to find user nobody2: no matching entries in passwd file"
        );
        assert_eq!(
            resolve_in(PASSWD, GROUP, "web:nogroup")
                .unwrap_err()
                .to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
    }

    #[test]
    fn reads_the_rootfs() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(d.path().join("etc/group"), GROUP).unwrap();
        assert_eq!(resolve_user(d.path(), "web").unwrap(), u(100, 101, &[200]));
        assert_eq!(
            resolve_group_add(d.path(), &["wheel".into(), "777".into()]).unwrap(),
            vec![10, 777]
        );
        assert!(resolve_group_add(d.path(), &["nope".into()]).is_err());
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(resolve_user(empty.path(), "").unwrap(), u(0, 0, &[]));
    }
}
