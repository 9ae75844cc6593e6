//! The S3 driver: objects under `<bucket>/<rootdirectory>/<key>`, requests signed with AWS
//! Signature V4. Puts of a single object are atomic in S3, which gives the same all-or-nothing
//! visibility as the filesystem driver's rename.

use std::path::Path;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use crate::config::S3Config;

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// An S3 (or S3-compatible) bucket.
#[derive(Debug, Clone)]
pub struct S3Backend {
    client: reqwest::Client,
    /// `scheme://host[:port]`.
    endpoint: String,
    host: String,
    bucket: String,
    region: String,
    access: String,
    secret: String,
    path_style: bool,
    prefix: String,
}

fn err(msg: String) -> std::io::Error {
    std::io::Error::other(msg)
}

/// AWS URI encoding: unreserved characters kept, `/` kept only when `slash` is false.
fn aws_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !encode_slash);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&k, data).as_ref().to_vec()
}

/// Extracts the text of every `<tag>…</tag>` in a flat XML document (enough for ListObjectsV2).
fn xml_all(doc: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(
            after[..j]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[j + close.len()..];
    }
    out
}

impl S3Backend {
    /// Builds a client from `storage.s3`.
    pub fn new(cfg: &S3Config) -> Result<Self, String> {
        if cfg.bucket.is_empty() {
            return Err("storage.s3.bucket is required".into());
        }
        let region = if cfg.region.is_empty() {
            "us-east-1".to_string()
        } else {
            cfg.region.clone()
        };
        let endpoint = cfg
            .regionendpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let url =
            url::Url::parse(&endpoint).map_err(|e| format!("storage.s3.regionendpoint: {e}"))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err("storage.s3.regionendpoint has no host".into()),
        };
        // Custom endpoints (minio, moto, ...) nearly always need path-style addressing.
        let path_style = cfg.forcepathstyle.unwrap_or(cfg.regionendpoint.is_some());
        let prefix = cfg
            .rootdirectory
            .as_deref()
            .unwrap_or("")
            .trim_matches('/')
            .to_string();
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| format!("s3 client: {e}"))?;
        Ok(S3Backend {
            client,
            endpoint,
            host,
            bucket: cfg.bucket.clone(),
            region,
            access: cfg
                .accesskey
                .clone()
                .or_else(|| std::env::var("AWS_ACCESS_KEY_ID").ok())
                .unwrap_or_default(),
            secret: cfg
                .secretkey
                .clone()
                .or_else(|| std::env::var("AWS_SECRET_ACCESS_KEY").ok())
                .unwrap_or_default(),
            path_style,
            prefix,
        })
    }

    fn object_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// (url, host header, canonical path) for an object key ("" = the bucket itself).
    fn target(&self, object: &str) -> (String, String, String) {
        let enc = aws_encode(object, false);
        if self.path_style {
            let path = if object.is_empty() {
                format!("/{}", self.bucket)
            } else {
                format!("/{}/{enc}", self.bucket)
            };
            (format!("{}{path}", self.endpoint), self.host.clone(), path)
        } else {
            let host = format!("{}.{}", self.bucket, self.host);
            let scheme = self.endpoint.split("://").next().unwrap_or("https");
            let path = format!("/{enc}");
            (format!("{scheme}://{host}{path}"), host, path)
        }
    }

    /// Builds a signed request. `query` must already be sorted by key.
    fn request(
        &self,
        method: Method,
        object: &str,
        query: &[(&str, String)],
        payload_sha256: &str,
        extra: &[(&str, String)],
    ) -> reqwest::RequestBuilder {
        let (url, host, path) = self.target(object);
        let now = chrono::Utc::now();
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let date = now.format("%Y%m%d").to_string();
        let canonical_query = query
            .iter()
            .map(|(k, v)| format!("{}={}", aws_encode(k, true), aws_encode(v, true)))
            .collect::<Vec<_>>()
            .join("&");
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), host),
            ("x-amz-content-sha256".into(), payload_sha256.into()),
            ("x-amz-date".into(), amz_date.clone()),
        ];
        for (k, v) in extra {
            headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
        headers.sort();
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        let signed = signed.join(";");
        let canonical = format!(
            "{method}\n{path}\n{canonical_query}\n{canonical_headers}\n{signed}\n{payload_sha256}"
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac(format!("AWS4{}", self.secret).as_bytes(), date.as_bytes());
        for part in [self.region.as_str(), "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            self.access
        );
        let full = if canonical_query.is_empty() {
            url
        } else {
            format!("{url}?{canonical_query}")
        };
        let mut rb = self
            .client
            .request(method, full)
            .header("authorization", auth)
            .header("x-amz-content-sha256", payload_sha256)
            .header("x-amz-date", amz_date);
        for (k, v) in extra {
            rb = rb.header(*k, v.as_str());
        }
        rb
    }

    async fn send(
        &self,
        rb: reqwest::RequestBuilder,
        what: &str,
    ) -> std::io::Result<reqwest::Response> {
        rb.send().await.map_err(|e| err(format!("s3 {what}: {e}")))
    }

    async fn fail(resp: reqwest::Response, what: &str) -> std::io::Error {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        err(format!(
            "s3 {what}: {status}: {}",
            body.chars().take(300).collect::<String>()
        ))
    }

    /// Creates the bucket if it does not exist (used by tests and first start against moto/minio).
    pub async fn ensure_bucket(&self) -> std::io::Result<()> {
        let r = self
            .send(
                self.request(Method::HEAD, "", &[], EMPTY_SHA256, &[]),
                "head bucket",
            )
            .await?;
        if r.status().is_success() {
            return Ok(());
        }
        let r = self
            .send(
                self.request(Method::PUT, "", &[], EMPTY_SHA256, &[]),
                "create bucket",
            )
            .await?;
        if r.status().is_success() || r.status() == StatusCode::CONFLICT {
            Ok(())
        } else {
            Err(Self::fail(r, "create bucket").await)
        }
    }

    pub(super) async fn read(&self, key: &str) -> std::io::Result<Option<Bytes>> {
        let obj = self.object_key(key);
        let r = self
            .send(self.request(Method::GET, &obj, &[], EMPTY_SHA256, &[]), key)
            .await?;
        match r.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(
                r.bytes().await.map_err(|e| err(format!("s3 {key}: {e}")))?,
            )),
            _ => Err(Self::fail(r, key).await),
        }
    }

    pub(super) async fn write(&self, key: &str, data: &[u8]) -> std::io::Result<()> {
        let obj = self.object_key(key);
        let sha = hex::encode(Sha256::digest(data));
        let rb = self
            .request(Method::PUT, &obj, &[], &sha, &[])
            .body(data.to_vec());
        let r = self.send(rb, key).await?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(Self::fail(r, key).await)
        }
    }

    /// Uploads a complete local file (its sha256 already known) and removes it.
    pub(super) async fn commit(
        &self,
        key: &str,
        local: &Path,
        size: u64,
        sha256_hex: &str,
    ) -> std::io::Result<()> {
        let obj = self.object_key(key);
        let f = tokio::fs::File::open(local).await?;
        let body =
            reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024));
        let rb = self
            .request(Method::PUT, &obj, &[], sha256_hex, &[])
            .header("content-length", size.to_string())
            .body(body);
        let r = self.send(rb, key).await?;
        let _ = tokio::fs::remove_file(local).await;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(Self::fail(r, key).await)
        }
    }

    pub(super) async fn size(&self, key: &str) -> std::io::Result<Option<u64>> {
        let obj = self.object_key(key);
        let r = self
            .send(
                self.request(Method::HEAD, &obj, &[], EMPTY_SHA256, &[]),
                key,
            )
            .await?;
        match r.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(
                r.headers()
                    .get("content-length")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            s => Err(err(format!("s3 head {key}: {s}"))),
        }
    }

    pub(super) async fn delete(&self, key: &str) -> std::io::Result<bool> {
        // S3 DELETE succeeds for missing keys too, so check first to report existence.
        if self.size(key).await?.is_none() {
            return Ok(false);
        }
        let obj = self.object_key(key);
        let r = self
            .send(
                self.request(Method::DELETE, &obj, &[], EMPTY_SHA256, &[]),
                key,
            )
            .await?;
        if r.status().is_success() || r.status() == StatusCode::NOT_FOUND {
            Ok(true)
        } else {
            Err(Self::fail(r, key).await)
        }
    }

    /// Lists keys below `prefix` (with `delimiter` "/": immediate children only).
    async fn list_raw(
        &self,
        prefix: &str,
        delimiter: bool,
    ) -> std::io::Result<(Vec<String>, Vec<String>)> {
        let mut keys = Vec::new();
        let mut prefixes = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q: Vec<(&str, String)> = Vec::new();
            if let Some(t) = &token {
                q.push(("continuation-token", t.clone()));
            }
            if delimiter {
                q.push(("delimiter", "/".into()));
            }
            q.push(("list-type", "2".into()));
            q.push(("prefix", prefix.to_string()));
            let r = self
                .send(self.request(Method::GET, "", &q, EMPTY_SHA256, &[]), "list")
                .await?;
            if !r.status().is_success() {
                return Err(Self::fail(r, "list").await);
            }
            let text = r.text().await.map_err(|e| err(format!("s3 list: {e}")))?;
            keys.extend(xml_all(&text, "Key"));
            for cp in xml_all(&text, "CommonPrefixes") {
                prefixes.extend(xml_all(&format!("<x>{cp}</x>"), "Prefix"));
            }
            let truncated =
                xml_all(&text, "IsTruncated").first().map(String::as_str) == Some("true");
            token = xml_all(&text, "NextContinuationToken").into_iter().next();
            if !truncated || token.is_none() {
                break;
            }
        }
        Ok((keys, prefixes))
    }

    pub(super) async fn list(&self, dir: &str) -> std::io::Result<Vec<String>> {
        let prefix = format!("{}/", self.object_key(dir.trim_end_matches('/')));
        let (keys, prefixes) = self.list_raw(&prefix, true).await?;
        let mut out: Vec<String> = keys
            .iter()
            .chain(prefixes.iter())
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|k| k.trim_end_matches('/').to_string())
            .filter(|k| !k.is_empty())
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    pub(super) async fn read_range(
        &self,
        key: &str,
        start: u64,
        len: u64,
    ) -> std::io::Result<BoxStream<'static, std::io::Result<Bytes>>> {
        let obj = self.object_key(key);
        let range = format!("bytes={start}-{}", start + len.max(1) - 1);
        let r = self
            .send(
                self.request(Method::GET, &obj, &[], EMPTY_SHA256, &[("range", range)]),
                key,
            )
            .await?;
        if !r.status().is_success() {
            return Err(Self::fail(r, key).await);
        }
        let k = key.to_string();
        Ok(r.bytes_stream()
            .map(move |c| c.map_err(|e| err(format!("s3 {k}: {e}"))))
            .boxed())
    }

    pub(super) async fn repositories(&self) -> std::io::Result<Vec<String>> {
        let base = format!("{}/", self.object_key("repositories"));
        let (keys, _) = self.list_raw(&base, false).await?;
        let mut out: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(&base))
            .filter_map(|k| {
                let i = k.find("/_manifests/").or_else(|| k.find("/_layers/"))?;
                Some(k[..i].to_string())
            })
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_and_xml() {
        assert_eq!(aws_encode("a/b c:d", false), "a/b%20c%3Ad");
        assert_eq!(aws_encode("a/b", true), "a%2Fb");
        let doc = "<R><Contents><Key>a&amp;b</Key></Contents><Contents><Key>c</Key></Contents><IsTruncated>false</IsTruncated></R>";
        assert_eq!(
            xml_all(doc, "Key"),
            vec!["a&b".to_string(), "c".to_string()]
        );
    }

    #[test]
    fn signing_key_derivation_matches_aws_example() {
        // From the AWS SigV4 documentation's signing-key example.
        let mut key = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20120215");
        for part in ["us-east-1", "iam", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }
}
