//! `ADD <url>`: downloads an http(s) source into a scratch directory the way Docker does (mode
//! 0600, modification time from `Last-Modified`, the file name from the URL path).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_core::{Classify, ErrorKind};
use sha2::{Digest as _, Sha256};

/// Errors while downloading an `ADD` source.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request could not be made or the body not read.
    #[error("failed to GET {url}: {reason}")]
    Request {
        /// The source URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered with a status other than 2xx (Docker's words).
    #[error("failed to GET {url} with status {status}: {body}")]
    Status {
        /// The source URL.
        url: String,
        /// Code and reason, e.g. `404 Not Found`.
        status: String,
        /// The start of the response body.
        body: String,
    },
    /// A destination ending in `/` needs a file name, and neither the URL path nor
    /// `Content-Disposition` gives one.
    #[error("cannot determine filename for source {0}")]
    NoFilename(String),
    /// Writing the downloaded file failed.
    #[error("writing download of {url}: {source}")]
    Io {
        /// The source URL.
        url: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

impl Classify for FetchError {
    fn kind(&self) -> ErrorKind {
        match self {
            FetchError::Request { .. } | FetchError::Status { .. } | FetchError::NoFilename(_) => {
                ErrorKind::InvalidArgument
            }
            FetchError::Io { .. } => ErrorKind::Internal,
        }
    }
}

/// A downloaded source.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The file on the host (mode 0600, mtime from `Last-Modified` when given).
    pub path: PathBuf,
    /// The file name the source gets in a destination directory (empty if none could be
    /// determined; only an error when the destination ends in `/`).
    pub name: String,
    /// sha256 (hex) of the content: the cache key, as Docker re-downloads to compare.
    pub sha256: String,
}

/// Whether an `ADD` source is a URL that is downloaded.
pub fn is_url(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// The file name for a download (Docker's `getFilenameForDownload`): the URL path's last
/// component, else the `filename` parameter of `Content-Disposition`.
pub fn filename_for(url_path: &str, content_disposition: Option<&str>) -> String {
    if !url_path.is_empty()
        && !url_path.ends_with('/')
        && let Some(base) = url_path.rsplit('/').next().filter(|b| !b.is_empty())
    {
        return base.to_string();
    }
    if let Some(cd) = content_disposition {
        for part in cd.split(';').skip(1) {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            if !k.trim().eq_ignore_ascii_case("filename") {
                continue;
            }
            let v = v.trim().trim_matches('"');
            if v.is_empty() || v.ends_with('/') {
                continue;
            }
            if let Some(base) = v.rsplit('/').next().filter(|b| !b.is_empty()) {
                return base.to_string();
            }
        }
    }
    String::new()
}

/// Seconds since the epoch of an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`).
pub fn parse_http_date(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|d| d.timestamp())
}

/// Downloads `url` into the (existing, empty) directory `dir`.
pub fn fetch(url: &str, dir: &Path) -> Result<Fetched, FetchError> {
    let req_err = |e: &dyn std::fmt::Display| FetchError::Request {
        url: url.to_string(),
        reason: e.to_string(),
    };
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .timeout(None)
        .user_agent("berth-builder")
        .build()
        .map_err(|e| req_err(&e))?;
    let mut resp = client.get(url).send().map_err(|e| req_err(&e))?;
    let status = resp.status();
    if !status.is_success() {
        let mut body = Vec::new();
        let _ = (&mut resp).take(1024).read_to_end(&mut body);
        return Err(FetchError::Status {
            url: url.to_string(),
            status: format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string(),
            body: String::from_utf8_lossy(&body).trim().to_string(),
        });
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mtime = header("last-modified").and_then(|v| parse_http_date(&v));
    let name = filename_for(resp.url().path(), header("content-disposition").as_deref());
    let io = |source| FetchError::Io {
        url: url.to_string(),
        source,
    };
    let path = dir.join(if name.is_empty() { "download" } else { &name });
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?
    };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = resp.read(&mut buf).map_err(|e| req_err(&e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        std::io::Write::write_all(&mut file, &buf[..n]).map_err(io)?;
    }
    drop(file);
    {
        use std::os::unix::fs::PermissionsExt;
        // The umask must not loosen or tighten Docker's 0600.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    if let Some(t) = mtime {
        let ts = nix::sys::time::TimeSpec::new(t, 0);
        nix::sys::stat::utimensat(
            None,
            &path,
            &ts,
            &ts,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| io(std::io::Error::from(e)))?;
    }
    Ok(Fetched {
        path,
        name,
        sha256: hex::encode(h.finalize()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A one-thread HTTP server on 127.0.0.1 answering each path from `routes`
    /// (status line, extra headers, body); 404 otherwise. Serves `n` requests.
    fn serve(routes: Vec<(&'static str, &'static str, String, Vec<u8>)>, n: usize) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for _ in 0..n {
                let Ok((s, _)) = l.accept() else { return };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                        break;
                    }
                }
                let (status, headers, body) = routes
                    .iter()
                    .find(|r| r.0 == path)
                    .map(|r| (r.1, r.2.clone(), r.3.clone()))
                    .unwrap_or(("404 Not Found", String::new(), b"no such file".to_vec()));
                let mut w = s;
                let _ = write!(
                    w,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
                    body.len()
                );
                let _ = w.write_all(&body);
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn downloads_with_mode_mtime_name_and_hash() {
        use std::os::unix::fs::MetadataExt;
        let base = serve(
            vec![
                (
                    "/files/data.tar",
                    "200 OK",
                    "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n".into(),
                    b"payload".to_vec(),
                ),
                (
                    "/dl/",
                    "200 OK",
                    "Content-Disposition: attachment; filename=\"report.txt\"\r\n".into(),
                    b"x".to_vec(),
                ),
            ],
            2,
        );
        let dir = tempfile::tempdir().unwrap();
        let f = fetch(&format!("{base}/files/data.tar"), dir.path()).unwrap();
        assert_eq!(f.name, "data.tar");
        assert_eq!(std::fs::read(&f.path).unwrap(), b"payload");
        let m = std::fs::metadata(&f.path).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o600);
        assert_eq!(m.mtime(), 1_445_412_480);
        assert_eq!(f.sha256, hex::encode(Sha256::digest(b"payload")));
        let dir2 = tempfile::tempdir().unwrap();
        let f = fetch(&format!("{base}/dl/"), dir2.path()).unwrap();
        assert_eq!(f.name, "report.txt");
    }

    #[test]
    fn non_2xx_fails_with_status_and_body() {
        let base = serve(Vec::new(), 1);
        let dir = tempfile::tempdir().unwrap();
        let e = fetch(&format!("{base}/missing"), dir.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("failed to GET {base}/missing with status 404 Not Found: no such file")
        );
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn unreachable_server_is_a_request_error() {
        // Bind then drop: nothing listens on the port any more.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let e = fetch(&format!("http://127.0.0.1:{port}/x"), dir.path()).unwrap_err();
        assert!(matches!(e, FetchError::Request { .. }), "{e}");
    }

    #[test]
    fn filenames_and_dates() {
        assert_eq!(filename_for("/a/b.tgz", None), "b.tgz");
        assert_eq!(filename_for("/a/", None), "");
        assert_eq!(
            filename_for("", Some("attachment; filename=x.bin")),
            "x.bin"
        );
        assert_eq!(filename_for("/", Some("inline; filename=\"d/\"")), "");
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:10 GMT"), Some(10));
        assert_eq!(parse_http_date("yesterday"), None);
        assert!(is_url("https://x/y") && is_url("http://x") && !is_url("ftp://x"));
    }
}
