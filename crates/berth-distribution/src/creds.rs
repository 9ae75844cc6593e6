//! Credentials files for the CLI: `~/.berth/config.json` (written) and `~/.docker/config.json`
//! (read), both in Docker's format: `{"auths": {"<server>": {"auth": base64("user:pass")}}}`.

use std::path::PathBuf;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::{AuthConfig, DistError};

/// Key Docker uses for Docker Hub.
const HUB_KEY: &str = "https://index.docker.io/v1/";

/// The `auths` key for a server argument.
pub(crate) fn server_key(server: &str) -> String {
    let s = server
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => HUB_KEY.to_string(),
        h => h.to_string(),
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `$BERTH_CONFIG/config.json` or `~/.berth/config.json`.
fn berth_config() -> Option<PathBuf> {
    match std::env::var_os("BERTH_CONFIG").filter(|v| !v.is_empty()) {
        Some(d) => Some(PathBuf::from(d).join("config.json")),
        None => home().map(|h| h.join(".berth/config.json")),
    }
}

/// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
fn docker_config() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(d) => Some(PathBuf::from(d).join("config.json")),
        None => home().map(|h| h.join(".docker/config.json")),
    }
}

fn read_json(p: &PathBuf) -> Option<Map<String, Value>> {
    let bytes = std::fs::read(p).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Finds `key` in an `auths` map, accepting Docker's historical spellings of the same server.
fn lookup(auths: &Map<String, Value>, key: &str) -> Option<AuthConfig> {
    let entry = auths
        .iter()
        .find_map(|(k, v)| (server_key(k) == key).then_some(v))?;
    let mut a = AuthConfig {
        server_address: Some(key.to_string()),
        ..Default::default()
    };
    if let Some(enc) = entry.get("auth").and_then(Value::as_str)
        && let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(enc.trim())
        && let Ok(s) = String::from_utf8(raw)
        && let Some((u, p)) = s.split_once(':')
    {
        a.username = Some(u.to_string());
        a.password = Some(p.to_string());
    }
    for (field, name) in [(&mut a.username, "username"), (&mut a.password, "password")] {
        if field.is_none() {
            *field = entry
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
        }
    }
    a.identity_token = entry
        .get("identitytoken")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    (a.username.is_some() || a.identity_token.is_some()).then_some(a)
}

/// Stored credentials for `server` (`""` = Docker Hub): berth's file first, then Docker's.
pub fn load_credentials(server: &str) -> Option<AuthConfig> {
    let files: Vec<PathBuf> = [berth_config(), docker_config()]
        .into_iter()
        .flatten()
        .collect();
    load_from(&files, server)
}

/// `load_credentials` over explicit files, first hit wins.
fn load_from(files: &[PathBuf], server: &str) -> Option<AuthConfig> {
    let key = server_key(server);
    files.iter().filter_map(read_json).find_map(|m| {
        m.get("auths")
            .and_then(Value::as_object)
            .and_then(|a| lookup(a, &key))
    })
}

/// Writes berth's config file atomically (temp file + rename, mode 0600).
fn write_config(p: &PathBuf, m: &Map<String, Value>) -> Result<(), DistError> {
    let dir = p
        .parent()
        .ok_or_else(|| DistError::Io("bad config path".into()))?
        .to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| DistError::Io(format!("{}: {e}", dir.display())))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| DistError::Io(format!("{}: {e}", dir.display())))?;
    let bytes = serde_json::to_vec_pretty(&Value::Object(m.clone()))
        .map_err(|e| DistError::Io(e.to_string()))?;
    use std::io::Write;
    tmp.write_all(&bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| DistError::Io(format!("writing {}: {e}", p.display())))?;
    tmp.persist(p)
        .map_err(|e| DistError::Io(format!("writing {}: {}", p.display(), e.error)))?;
    Ok(())
}

/// Saves credentials for `server` in berth's config file (other entries and keys kept).
pub fn store_credentials(server: &str, auth: &AuthConfig) -> Result<(), DistError> {
    let p = berth_config().ok_or_else(|| DistError::Io("no home directory".into()))?;
    store_at(&p, server, auth)
}

fn store_at(p: &PathBuf, server: &str, auth: &AuthConfig) -> Result<(), DistError> {
    let key = server_key(server);
    let mut m = read_json(p).unwrap_or_default();
    let auths = m.entry("auths").or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    let mut entry = Map::new();
    if let Some(tok) = &auth.identity_token {
        // Docker stores the user name with an empty password next to the identity token.
        let user = auth.username.clone().unwrap_or_default();
        entry.insert(
            "auth".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(format!("{user}:"))),
        );
        entry.insert("identitytoken".into(), json!(tok));
    } else {
        let u = auth.username.clone().unwrap_or_default();
        let p = auth.password.clone().unwrap_or_default();
        entry.insert(
            "auth".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))),
        );
    }
    if let Some(a) = auths.as_object_mut() {
        a.retain(|k, _| server_key(k) != key);
        a.insert(key, Value::Object(entry));
    }
    write_config(p, &m)
}

/// Removes credentials for `server` from berth's config file; false when there were none.
pub fn erase_credentials(server: &str) -> Result<bool, DistError> {
    match berth_config() {
        Some(p) => erase_at(&p, server),
        None => Ok(false),
    }
}

fn erase_at(p: &PathBuf, server: &str) -> Result<bool, DistError> {
    let key = server_key(server);
    let Some(mut m) = read_json(p) else {
        return Ok(false);
    };
    let removed = match m.get_mut("auths").and_then(Value::as_object_mut) {
        Some(a) => {
            let before = a.len();
            a.retain(|k, _| server_key(k) != key);
            a.len() != before
        }
        None => false,
    };
    if removed {
        write_config(p, &m)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_load_erase() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let berth = dir.path().join("berth/config.json");
        let docker = dir.path().join("docker.json");
        std::fs::write(
            &docker,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOmh1YnB3"}},"credsStore":"x"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(dir.path().join("berth")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&berth, r#"{"other":1}"#).unwrap_or_else(|e| panic!("{e}"));
        let files = vec![berth.clone(), docker.clone()];
        let a = AuthConfig {
            username: Some("u".into()),
            password: Some("p:w".into()),
            ..Default::default()
        };
        store_at(&berth, "localhost:5000", &a).unwrap_or_else(|e| panic!("{e}"));
        let got = load_from(&files, "http://localhost:5000");
        assert_eq!(
            got.as_ref().and_then(|a| a.password.as_deref()),
            Some("p:w")
        );
        let hub = load_from(&files, "");
        assert_eq!(hub.and_then(|a| a.username), Some("hub".into()));
        let text = std::fs::read_to_string(&berth).unwrap_or_default();
        assert!(text.contains("\"other\": 1"), "{text}");
        assert!(text.contains("\"localhost:5000\""), "{text}");
        assert!(erase_at(&berth, "localhost:5000").unwrap_or(false));
        assert!(!erase_at(&berth, "localhost:5000").unwrap_or(true));
        assert!(load_from(&files, "localhost:5000").is_none());
    }

    #[test]
    fn keys() {
        assert_eq!(server_key(""), HUB_KEY);
        assert_eq!(server_key("docker.io"), HUB_KEY);
        assert_eq!(server_key(HUB_KEY), HUB_KEY);
        assert_eq!(server_key("localhost:5000"), "localhost:5000");
        assert_eq!(server_key("https://localhost:5000/v2/"), "localhost:5000");
    }

    #[test]
    fn lookup_decodes_auth() {
        let m: Map<String, Value> = serde_json::from_str(
            r#"{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},"h:1":{"auth":"","identitytoken":"t"}}"#,
        )
        .unwrap_or_default();
        let a = lookup(&m, HUB_KEY);
        assert_eq!(a.as_ref().and_then(|a| a.username.as_deref()), Some("user"));
        assert_eq!(a.as_ref().and_then(|a| a.password.as_deref()), Some("pass"));
        assert_eq!(
            lookup(&m, "h:1").and_then(|a| a.identity_token),
            Some("t".to_string())
        );
        assert!(lookup(&m, "other").is_none());
    }
}
