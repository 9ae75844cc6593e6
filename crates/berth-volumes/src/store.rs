//! The `local` driver: each volume is `<data-root>/volumes/<name>/_data`, described by one redb
//! row. A volume created with `type`/`device`/`o` options is a filesystem mounted on `_data`
//! while containers use it (as the local driver does with mount(2)).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Result, VolumeError, io_err};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("vol_volumes");

/// A volume as the store keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Volume {
    /// Name (64 hex digits for anonymous volumes).
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// Host path containers bind (`.../_data`).
    pub mountpoint: PathBuf,
    /// RFC 3339, seconds, with zone (`2024-01-01T00:00:00Z`).
    pub created_at: String,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// Driver options (`type`, `device`, `o`).
    pub options: BTreeMap<String, String>,
    /// Created for a container's anonymous mount.
    pub anonymous: bool,
    /// The creator sent a `Labels` map: dockerd echoes it, so an empty one shows as `{}`
    /// (what `docker volume create` sends) instead of `null` (API callers without one,
    /// volumes created by `-v`).
    #[serde(default)]
    pub labels_set: bool,
    /// The creator sent a `DriverOpts` map (`{}` rather than `null` when empty).
    #[serde(default)]
    pub options_set: bool,
}

impl Volume {
    /// Docker's `Volume` JSON (`Labels`/`Options` are `null` when empty unless the creator sent
    /// an empty map, as dockerd shows).
    pub fn to_api_json(&self, usage: Option<(i64, i64)>) -> Value {
        let map_or_null = |m: &BTreeMap<String, String>, set: bool| {
            if m.is_empty() && !set {
                Value::Null
            } else {
                json!(m)
            }
        };
        let mut labels = self.labels.clone();
        if self.anonymous {
            // dockerd (API >= 1.42) marks anonymous volumes so prune can tell them apart;
            // keep the label off the wire to look like 20.10's output.
            labels.remove(ANON_LABEL);
        }
        let mut v = json!({
            "CreatedAt": self.created_at,
            "Driver": self.driver,
            "Labels": map_or_null(&labels, self.labels_set),
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": map_or_null(&self.options, self.options_set),
            "Scope": "local",
        });
        if let Some((size, refs)) = usage {
            v["UsageData"] = json!({"Size": size, "RefCount": refs});
        }
        v
    }

    fn needs_mount(&self) -> bool {
        self.options.contains_key("type") || self.options.contains_key("device")
    }
}

const ANON_LABEL: &str = "com.docker.volume.anonymous";

/// The volume store (Send + Sync; methods block on the filesystem and redb).
pub struct VolumeStore {
    root: PathBuf,
    db: Arc<redb::Database>,
    /// Serializes create/remove so two creates of one name agree.
    lock: Mutex<()>,
    /// Containers currently using each option-mounted volume.
    users: Mutex<HashMap<String, HashSet<String>>>,
}

fn db_err(e: impl std::fmt::Display) -> VolumeError {
    VolumeError::Db(e.to_string())
}

/// Docker's rule for volume names, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, with the local driver's
/// messages (prefixed by `create <name>: ` as dockerd does).
fn check_name(n: &str) -> Result<()> {
    let b = n.as_bytes();
    if b.len() == 1 {
        return Err(VolumeError::Invalid(format!(
            "create {n}: volume name is too short, names should be at least two alphanumeric characters"
        )));
    }
    let ok = b.first().is_some_and(|c| c.is_ascii_alphanumeric())
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        return Ok(());
    }
    Err(VolumeError::Invalid(format!(
        "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )))
}

/// The local driver's option rules: only `type`, `device`, `o`; `device` required once any is
/// given (dockerd 20.10 on a filesystem without quota support, as here, has no `size`).
fn check_options(name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
    if opts.is_empty() {
        return Ok(());
    }
    for k in opts.keys() {
        if !matches!(k.as_str(), "type" | "device" | "o") {
            return Err(VolumeError::Invalid(format!(
                "create {name}: invalid option: {k:?}"
            )));
        }
    }
    if !opts.contains_key("device") {
        return Err(VolumeError::Invalid(format!(
            "create {name}: missing required option: \"device\""
        )));
    }
    Ok(())
}

impl VolumeStore {
    /// Opens (creating) the store under `<data_root>/volumes`.
    pub fn open(data_root: &Path, db: Arc<redb::Database>) -> Result<Self> {
        let root = data_root.join("volumes");
        std::fs::create_dir_all(&root).map_err(io_err("creating volumes dir"))?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(TABLE).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(VolumeStore {
            root,
            db,
            lock: Mutex::new(()),
            users: Mutex::new(HashMap::new()),
        })
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self, name: &str) -> Result<Option<Volume>> {
        let rtx = self.db.begin_read().map_err(db_err)?;
        let t = rtx.open_table(TABLE).map_err(db_err)?;
        match t.get(name).map_err(db_err)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value()).map_err(db_err)?)),
            None => Ok(None),
        }
    }

    fn write(&self, v: &Volume) -> Result<()> {
        let bytes = serde_json::to_vec(v).map_err(db_err)?;
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(TABLE).map_err(db_err)?;
            t.insert(v.name.as_str(), bytes.as_slice())
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// Creates a volume for a container mount (`-v name:/x`, `--mount`, image `VOLUME`s) or a
    /// caller without maps: returns the existing volume when the name is taken (as dockerd does,
    /// whatever the options), or a new one. `name = None` makes a 64-hex name. Empty maps show
    /// as `null` in inspect.
    pub fn create(
        &self,
        name: Option<&str>,
        driver: &str,
        opts: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume> {
        self.create_inner(name, driver, opts, labels, anonymous, (false, false))
    }

    /// `POST /volumes/create`: as [`VolumeStore::create`], remembering whether the request had
    /// `DriverOpts`/`Labels` maps so inspect shows `{}` (the docker CLI always sends them)
    /// rather than `null` for empty ones.
    pub fn create_from_api(
        &self,
        name: Option<&str>,
        driver: &str,
        opts: Option<&BTreeMap<String, String>>,
        labels: Option<&BTreeMap<String, String>>,
    ) -> Result<Volume> {
        let none = BTreeMap::new();
        self.create_inner(
            name,
            driver,
            opts.unwrap_or(&none),
            labels.unwrap_or(&none),
            false,
            (opts.is_some(), labels.is_some()),
        )
    }

    fn create_inner(
        &self,
        name: Option<&str>,
        driver: &str,
        opts: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
        anonymous: bool,
        (options_set, labels_set): (bool, bool),
    ) -> Result<Volume> {
        let driver = if driver.is_empty() { "local" } else { driver };
        let _g = self.guard();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => berth_core::generate_id(),
        };
        if driver != "local" {
            return Err(VolumeError::DriverNotFound {
                name,
                driver: driver.to_string(),
            });
        }
        check_name(&name)?;
        if let Some(existing) = self.read(&name)? {
            // dockerd hands back the existing volume even when the options differ.
            return Ok(existing);
        }
        check_options(&name, opts)?;
        let dir = self.root.join(&name);
        let data = dir.join("_data");
        std::fs::create_dir_all(&data).map_err(io_err(format!("creating volume {name}")))?;
        let mut labels = labels.clone();
        if anonymous {
            labels.insert(ANON_LABEL.into(), String::new());
        }
        let v = Volume {
            name: name.clone(),
            driver: "local".into(),
            mountpoint: data,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels,
            options: opts.clone(),
            anonymous,
            labels_set,
            options_set,
        };
        if let Err(e) = self.write(&v) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(v)
    }

    /// One volume.
    pub fn get(&self, name: &str) -> Result<Volume> {
        self.read(name)?
            .ok_or_else(|| VolumeError::NotFound(name.to_string()))
    }

    /// All volumes, by name.
    pub fn list(&self) -> Vec<Volume> {
        let Ok(rtx) = self.db.begin_read() else {
            return Vec::new();
        };
        let Ok(t) = rtx.open_table(TABLE) else {
            return Vec::new();
        };
        let Ok(iter) = t.iter() else {
            return Vec::new();
        };
        iter.filter_map(|row| row.ok())
            .filter_map(|(_, v)| serde_json::from_slice(v.value()).ok())
            .collect()
    }

    /// `volume rm`: refused while `users` (container ids) is not empty.
    pub fn remove(&self, name: &str, users: &[String]) -> Result<()> {
        let _g = self.guard();
        let v = self.get(name)?;
        if !users.is_empty() {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                users: users.to_vec(),
            });
        }
        if v.needs_mount() {
            let _ = nix::mount::umount2(&v.mountpoint, nix::mount::MntFlags::MNT_DETACH);
        }
        let dir = self.root.join(name);
        // Metadata goes first: a crash then leaves an orphan directory, never a volume row
        // pointing at deleted data.
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(TABLE).map_err(db_err)?;
            t.remove(name).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        std::fs::remove_dir_all(&dir).map_err(io_err(format!("removing volume {name}")))?;
        Ok(())
    }

    /// `volume prune`: removes unused volumes (anonymous ones only unless `all`) that pass
    /// `selected`. Volumes created with driver options (`type`/`device`/`o`) are never pruned,
    /// as dockerd 20.10 does. Returns the names removed and the bytes freed.
    pub fn prune(
        &self,
        all: bool,
        in_use: &dyn Fn(&str) -> bool,
        selected: &dyn Fn(&Volume) -> bool,
    ) -> Result<(Vec<String>, u64)> {
        let mut removed = Vec::new();
        let mut bytes = 0;
        for v in self.list() {
            if (!all && !v.anonymous) || !v.options.is_empty() || in_use(&v.name) || !selected(&v) {
                continue;
            }
            let size = dir_size(&v.mountpoint);
            if self.remove(&v.name, &[]).is_ok() {
                bytes += size;
                removed.push(v.name);
            }
        }
        Ok((removed, bytes))
    }

    /// The host path to bind for `container` (mounting an option volume on first use).
    pub fn mount(&self, name: &str, container: &str) -> Result<PathBuf> {
        let v = self.get(name)?;
        if v.needs_mount() {
            let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
            let set = users.entry(name.to_string()).or_default();
            if set.is_empty() && !is_mountpoint(&v.mountpoint) {
                mount_options(&v)?;
            }
            set.insert(container.to_string());
        }
        Ok(v.mountpoint)
    }

    /// Drops `container`'s use; the last user unmounts an option volume.
    pub fn unmount(&self, name: &str, container: &str) {
        let Ok(v) = self.get(name) else {
            return;
        };
        if !v.needs_mount() {
            return;
        }
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let set = users.entry(name.to_string()).or_default();
        set.remove(container);
        if set.is_empty() {
            let _ = nix::mount::umount2(&v.mountpoint, nix::mount::MntFlags::MNT_DETACH);
        }
    }

    /// Bytes used by a volume's data.
    pub fn size(&self, v: &Volume) -> u64 {
        dir_size(&v.mountpoint)
    }
}

fn is_mountpoint(p: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = p.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m == want))
}

/// The local driver's `type`/`device`/`o` options, as mount(8) would take them.
fn mount_options(v: &Volume) -> Result<()> {
    use nix::mount::MsFlags;
    let typ = v.options.get("type").cloned().unwrap_or_default();
    let device = v.options.get("device").cloned().unwrap_or_default();
    let o = v.options.get("o").cloned().unwrap_or_default();
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        match opt {
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => {}
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            other => data.push(other),
        }
    }
    let data = data.join(",");
    let fstype = if typ.is_empty() || typ == "none" {
        None
    } else {
        Some(typ.as_str())
    };
    nix::mount::mount(
        Some(device.as_str()),
        &v.mountpoint,
        fstype,
        flags,
        if data.is_empty() {
            None
        } else {
            Some(data.as_str())
        },
    )
    .map_err(|e| {
        // moby/sys/mount's wording: `mount <dev>:<target>[, flags: 0x..][, data: ..]: <errno>`.
        let mut msg = format!(
            "error while mounting volume '{}': failed to mount local volume: mount ",
            v.mountpoint.display()
        );
        if device.is_empty() {
            msg.push_str(&v.mountpoint.display().to_string());
        } else {
            msg.push_str(&format!("{device}:{}", v.mountpoint.display()));
        }
        if !flags.is_empty() {
            msg.push_str(&format!(", flags: {:#x}", flags.bits()));
        }
        if !data.is_empty() {
            msg.push_str(&format!(", data: {data}"));
        }
        msg.push_str(&format!(": {}", e.desc().to_lowercase()));
        VolumeError::Mount(msg)
    })
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else {
                total += md.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, VolumeStore) {
        let d = tempfile::tempdir().unwrap();
        let db = Arc::new(redb::Database::create(d.path().join("db")).unwrap());
        let s = VolumeStore::open(d.path(), db).unwrap();
        (d, s)
    }

    #[test]
    fn create_get_list_remove() {
        let (_d, s) = store();
        let labels: BTreeMap<_, _> = [("k".to_string(), "v".to_string())].into();
        let v = s
            .create(Some("data"), "local", &BTreeMap::new(), &labels, false)
            .unwrap();
        assert!(v.mountpoint.ends_with("volumes/data/_data"));
        assert!(v.mountpoint.is_dir());
        // Creating again returns the same volume.
        let again = s
            .create(Some("data"), "", &BTreeMap::new(), &BTreeMap::new(), false)
            .unwrap();
        assert_eq!(again.created_at, v.created_at);
        let json = v.to_api_json(None);
        assert_eq!(json["Labels"]["k"], "v");
        assert_eq!(json["Options"], Value::Null);
        assert_eq!(json["Scope"], "local");
        let anon = s
            .create(None, "local", &BTreeMap::new(), &BTreeMap::new(), true)
            .unwrap();
        assert_eq!(anon.name.len(), 64);
        assert_eq!(anon.to_api_json(None)["Labels"], Value::Null);
        assert_eq!(s.list().len(), 2);
        let err = s.remove("data", &["abc".into()]).unwrap_err();
        assert_eq!(err.to_string(), "remove data: volume is in use - [abc]");
        s.remove("data", &[]).unwrap();
        assert!(!v.mountpoint.exists());
        assert_eq!(
            s.get("data").unwrap_err().to_string(),
            "get data: no such volume"
        );
    }

    #[test]
    fn names_and_options_are_checked() {
        let (_d, s) = store();
        let none = BTreeMap::new();
        assert!(matches!(
            s.create(Some("a/b"), "local", &none, &none, false),
            Err(VolumeError::Invalid(_))
        ));
        let bad: BTreeMap<_, _> = [("bogus".to_string(), "1".to_string())].into();
        assert!(s.create(Some("ok1"), "local", &bad, &none, false).is_err());
        assert!(
            s.create(Some("ok1"), "nfsdriver", &none, &none, false)
                .is_err()
        );
    }

    #[test]
    fn prune_takes_unused_anonymous_volumes_unless_all() {
        let (_d, s) = store();
        let none = BTreeMap::new();
        s.create(Some("named"), "local", &none, &none, false)
            .unwrap();
        let a = s.create(None, "local", &none, &none, true).unwrap();
        let b = s.create(None, "local", &none, &none, true).unwrap();
        std::fs::write(a.mountpoint.join("f"), b"12345").unwrap();
        let busy = b.name.clone();
        let (gone, bytes) = s.prune(false, &|n| n == busy, &|_| true).unwrap();
        assert_eq!(gone, vec![a.name.clone()]);
        assert_eq!(bytes, 5);
        let (gone, _) = s.prune(true, &|n| n == busy, &|_| true).unwrap();
        assert_eq!(gone, vec!["named".to_string()]);
    }

    // Expected texts and shapes below were captured from dockerd 20.10.24 on 2026-11-25.
    #[test]
    fn create_matches_dockerd() {
        use berth_core::{Classify, ErrorKind};
        let (_d, s) = store();
        let none = BTreeMap::new();
        let msg = |r: Result<Volume>| r.unwrap_err().to_string();
        assert_eq!(
            msg(s.create(Some("x"), "local", &none, &none, false)),
            "create x: volume name is too short, names should be at least two alphanumeric characters"
        );
        assert_eq!(
            msg(s.create(Some("a/b"), "local", &none, &none, false)),
            "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
        let bogus: BTreeMap<_, _> = [("bogus".to_string(), "1".to_string())].into();
        assert_eq!(
            msg(s.create(Some("v4"), "local", &bogus, &none, false)),
            "create v4: invalid option: \"bogus\""
        );
        let no_dev: BTreeMap<_, _> = [("type".to_string(), "tmpfs".to_string())].into();
        assert_eq!(
            msg(s.create(Some("x1"), "local", &no_dev, &none, false)),
            "create x1: missing required option: \"device\""
        );
        let e = s
            .create(Some("v5"), "nfsx", &none, &none, false)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "create v5: error looking up volume plugin nfsx: plugin \"nfsx\" not found"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);

        // The docker CLI sends empty maps: inspect shows `{}`; without them, `null`.
        let cli = s
            .create_from_api(Some("v1"), "local", Some(&none), Some(&none))
            .unwrap();
        let j = cli.to_api_json(None);
        assert_eq!(j["Labels"], json!({}));
        assert_eq!(j["Options"], json!({}));
        let api = s.create_from_api(Some("v3"), "", None, None).unwrap();
        assert_eq!(api.to_api_json(None)["Labels"], Value::Null);
        assert_eq!(api.to_api_json(None)["Options"], Value::Null);
        // Same name, other options: the existing volume comes back unchanged.
        let again = s
            .create_from_api(Some("v1"), "local", Some(&no_dev), None)
            .unwrap();
        assert_eq!(again, cli);
        let keys: Vec<String> = j.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "CreatedAt",
                "Driver",
                "Labels",
                "Mountpoint",
                "Name",
                "Options",
                "Scope"
            ]
        );
        assert!(j["CreatedAt"].as_str().unwrap().ends_with('Z'));
        let df = cli.to_api_json(Some((0, 0)));
        assert_eq!(df["UsageData"], json!({"Size": 0, "RefCount": 0}));
    }

    #[test]
    fn prune_keeps_option_volumes() {
        let (_d, s) = store();
        let none = BTreeMap::new();
        let opts: BTreeMap<_, _> = [
            ("type".to_string(), "tmpfs".to_string()),
            ("device".to_string(), "tmpfs".to_string()),
        ]
        .into();
        s.create(Some("tv"), "local", &opts, &none, false).unwrap();
        s.create(Some("lab"), "local", &none, &none, false).unwrap();
        let (gone, _) = s.prune(true, &|_| false, &|_| true).unwrap();
        assert_eq!(gone, vec!["lab".to_string()]);
        assert!(s.get("tv").is_ok());
    }

    #[test]
    fn bind_option_volume_mounts_device_and_reports_mount_errors() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let (d, s) = store();
        let dev = d.path().join("dev");
        std::fs::create_dir_all(&dev).unwrap();
        let opts = |device: &Path| -> BTreeMap<String, String> {
            [
                ("type".to_string(), "none".to_string()),
                ("o".to_string(), "bind".to_string()),
                ("device".to_string(), device.display().to_string()),
            ]
            .into()
        };
        s.create(Some("bv"), "local", &opts(&dev), &BTreeMap::new(), false)
            .unwrap();
        let p = s.mount("bv", "c1").unwrap();
        std::fs::write(p.join("x"), b"hi").unwrap();
        assert_eq!(std::fs::read(dev.join("x")).unwrap(), b"hi");
        s.unmount("bv", "c1");
        assert!(!is_mountpoint(&p));
        assert!(!p.join("x").exists());
        s.remove("bv", &[]).unwrap();
        assert!(dev.join("x").exists());

        let missing = d.path().join("nonexist");
        let v = s
            .create(
                Some("x3"),
                "local",
                &opts(&missing),
                &BTreeMap::new(),
                false,
            )
            .unwrap();
        let e = s.mount("x3", "c1").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "error while mounting volume '{mp}': failed to mount local volume: mount {dev}:{mp}, flags: 0x1000: no such file or directory",
                mp = v.mountpoint.display(),
                dev = missing.display()
            )
        );
        s.unmount("x3", "c1");
        s.remove("x3", &[]).unwrap();
    }

    #[test]
    fn tmpfs_option_volume_mounts_while_used() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let (_d, s) = store();
        let opts: BTreeMap<_, _> = [
            ("type".to_string(), "tmpfs".to_string()),
            ("device".to_string(), "tmpfs".to_string()),
            ("o".to_string(), "size=1m".to_string()),
        ]
        .into();
        s.create(Some("tv"), "local", &opts, &BTreeMap::new(), false)
            .unwrap();
        let p = s.mount("tv", "c1").unwrap();
        assert!(is_mountpoint(&p));
        s.mount("tv", "c2").unwrap();
        s.unmount("tv", "c1");
        assert!(is_mountpoint(&p));
        s.unmount("tv", "c2");
        assert!(!is_mountpoint(&p));
        s.remove("tv", &[]).unwrap();
    }
}
