//! Image references, normalized exactly as Docker does: `busybox` is
//! `docker.io/library/busybox:latest`, `host:5000/ns/name:tag` keeps its registry, and a
//! `@sha256:` digest may follow the name.

use crate::digest::Digest;
use std::fmt;

/// The registry Docker assumes when a name carries none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The tag assumed when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (and port), e.g. `docker.io` or `127.0.0.1:5000`.
    pub domain: String,
    /// Repository path inside the registry, e.g. `library/busybox`.
    pub path: String,
    /// Tag, when one was given (or defaulted by [`Reference::with_default_tag`]).
    pub tag: Option<String>,
    /// Digest, when one was given.
    pub digest: Option<Digest>,
}

/// Why a reference string was rejected; the messages are Docker's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// Empty, malformed, or with illegal characters.
    #[error("invalid reference format")]
    Invalid,
    /// Upper-case letters in the repository name.
    #[error("invalid reference format: repository name must be lowercase")]
    Uppercase,
}

/// Whether `c` is one `/`-separated component of a repository path:
/// `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-` (the distribution grammar).
pub fn valid_component(c: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*
    if c.is_empty() {
        return false;
    }
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Whether `t` is a valid tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p)),
        _ => (d, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|x| x.is_ascii_digit()))
    {
        return false;
    }
    if host.starts_with('[') && host.ends_with(']') {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|x| x.is_ascii_alphanumeric() || x == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

impl Reference {
    /// Parses and normalizes a reference as Docker's `ParseNormalizedNamed` does.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Invalid);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (
                r,
                Some(d.parse::<Digest>().map_err(|_| ReferenceError::Invalid)?),
            ),
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
            _ => (rest, None),
        };
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(ReferenceError::Invalid);
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), remainder.to_string())
            }
            Some(_) => (DEFAULT_DOMAIN.to_string(), name.to_string()),
            None => (DEFAULT_DOMAIN.to_string(), format!("library/{name}")),
        };
        if !valid_domain(&domain) {
            return Err(ReferenceError::Invalid);
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase);
        }
        if !path.split('/').all(valid_component) || domain.len() + 1 + path.len() > 255 {
            return Err(ReferenceError::Invalid);
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The same reference with `latest` filled in when it has neither tag nor digest.
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The full repository name, `docker.io/library/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as Docker shows it to people: `busybox`, `user/app`, `host:5000/app`.
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix("library/")
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.repository()
        }
    }

    /// `busybox:latest` (familiar form with tag), or with `@digest` when there is no tag.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_repository();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s)
            .map(|r| r.with_default_tag().to_string())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("user/app"), "docker.io/user/app:latest");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("127.0.0.1:5000/ns/app:v1"), "127.0.0.1:5000/ns/app:v1");
        assert_eq!(norm("host:5000/app"), "host:5000/app:latest");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            norm(&format!("app@{d}")),
            format!("docker.io/library/app@{d}")
        );
    }

    #[test]
    fn familiar_names() {
        let r = Reference::parse("docker.io/library/busybox")
            .unwrap()
            .with_default_tag();
        assert_eq!(r.familiar_string(), "busybox:latest");
        let r = Reference::parse("docker.io/user/x:1").unwrap();
        assert_eq!(r.familiar_string(), "user/x:1");
        let r = Reference::parse("h:1/x").unwrap().with_default_tag();
        assert_eq!(r.familiar_string(), "h:1/x:latest");
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            norm("Busybox"),
            "invalid reference format: repository name must be lowercase"
        );
        assert_eq!(norm(""), "invalid reference format");
        assert_eq!(norm("a:b:c"), "invalid reference format");
        assert_eq!(norm("a//b"), "invalid reference format");
        assert_eq!(norm("-a"), "invalid reference format");
        assert_eq!(norm("app@sha256:zz"), "invalid reference format");
        assert_eq!(norm("a:"), "invalid reference format");
    }
}
