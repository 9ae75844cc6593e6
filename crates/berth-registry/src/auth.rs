//! Authentication: htpasswd (bcrypt) Basic auth and Bearer token auth (JWTs verified against the
//! configured root certificate bundle), plus berth's built-in token issuer.
//!
//! Token access model (as in distribution): each request needs an [`Access`]; pulls (GET/HEAD)
//! need `pull`, uploads and manifest PUT need `push`, DELETE needs `delete`, `_catalog` needs
//! `registry:catalog:*`. The built-in issuer grants every requested action to any user whose
//! Basic credentials check against its htpasswd file (or to anyone when it has none).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::config::{AuthConfig, BuiltinTokenConfig, TokenConfig};
use crate::error::{ApiError, Code, RegistryError};

/// What a request needs permission for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `repository` or `registry`.
    pub kind: String,
    /// Repository name or `catalog`.
    pub name: String,
    /// Needed action: `pull`, `push`, `delete` or `*`.
    pub action: String,
}

impl Access {
    /// `repository:<name>:<action>`.
    pub fn repo(name: &str, action: &str) -> Self {
        Access {
            kind: "repository".into(),
            name: name.into(),
            action: action.into(),
        }
    }

    /// `registry:catalog:*`.
    pub fn catalog() -> Self {
        Access {
            kind: "registry".into(),
            name: "catalog".into(),
            action: "*".into(),
        }
    }

    fn scope(&self) -> String {
        // Docker clients ask for pull,push together when pushing, which saves a round trip.
        let actions = if self.action == "push" {
            "pull,push"
        } else {
            &self.action
        };
        format!("{}:{}:{}", self.kind, self.name, actions)
    }
}

/// Users and bcrypt hashes from an htpasswd file; successful checks are cached by a hash of the
/// credentials so bcrypt's deliberate slowness is paid once per user and password.
pub struct Htpasswd {
    users: HashMap<String, String>,
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl Htpasswd {
    /// Parses `user:hash` lines (blank lines and `#` comments ignored).
    pub fn parse(text: &str) -> Self {
        let users = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .map(|(u, h)| (u.to_string(), h.to_string()))
            .collect();
        Htpasswd {
            users,
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// Loads a file.
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RegistryError::Auth(format!("htpasswd {}: {e}", path.display())))?;
        Ok(Htpasswd::parse(&text))
    }

    /// Whether `user`/`password` match a bcrypt entry.
    pub fn check(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .chain_update([0])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if cache.contains(&key) {
            return true;
        }
        drop(cache);
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            cache.insert(key);
        }
        ok
    }
}

/// Extracts Basic credentials from an `Authorization` header.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(str::trim)
}

/// One access entry of a token's `access` claim.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenAccess {
    /// Resource type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Resource name.
    pub name: String,
    /// Granted actions.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// The JWT claims used by the Docker token protocol.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject (user).
    #[serde(default)]
    pub sub: String,
    /// Audience (the service).
    pub aud: String,
    /// Expiry (unix seconds).
    pub exp: u64,
    /// Not before.
    #[serde(default)]
    pub nbf: u64,
    /// Issued at.
    #[serde(default)]
    pub iat: u64,
    /// Unique id.
    #[serde(default)]
    pub jti: String,
    /// Granted access.
    #[serde(default)]
    pub access: Vec<TokenAccess>,
}

/// A public key able to verify token signatures.
struct VerifyKey {
    key: DecodingKey,
    algs: Vec<Algorithm>,
}

fn keys_from_spki(spki_der: &[u8]) -> Result<VerifyKey, RegistryError> {
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|e| RegistryError::Auth(format!("public key: {e}")))?;
    let oid = spki.algorithm.algorithm.to_id_string();
    let bits = spki.subject_public_key.data.as_ref();
    match oid.as_str() {
        "1.2.840.113549.1.1.1" => Ok(VerifyKey {
            key: DecodingKey::from_rsa_der(bits),
            algs: vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
        }),
        "1.2.840.10045.2.1" => Ok(VerifyKey {
            key: DecodingKey::from_ec_der(bits),
            algs: vec![Algorithm::ES256, Algorithm::ES384],
        }),
        other => Err(RegistryError::Auth(format!(
            "unsupported key algorithm {other}"
        ))),
    }
}

/// Reads verification keys from a PEM bundle of certificates and/or public keys.
fn load_bundle(path: &Path) -> Result<Vec<VerifyKey>, RegistryError> {
    let data = std::fs::read(path)
        .map_err(|e| RegistryError::Auth(format!("rootcertbundle {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for item in rustls_pemfile::read_all(&mut data.as_slice()) {
        let item = item.map_err(|e| RegistryError::Auth(format!("rootcertbundle: {e}")))?;
        match item {
            rustls_pemfile::Item::X509Certificate(der) => {
                let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
                    .map_err(|e| RegistryError::Auth(format!("rootcertbundle certificate: {e}")))?;
                out.push(keys_from_spki(cert.public_key().raw)?);
            }
            rustls_pemfile::Item::SubjectPublicKeyInfo(der) => {
                out.push(keys_from_spki(der.as_ref())?)
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The built-in token issuer's signing material.
pub struct Issuer {
    key: EncodingKey,
    alg: Algorithm,
    issuer: String,
    service: String,
    users: Option<Htpasswd>,
    lifetime: u64,
}

/// Loads a PKCS#8 (or PKCS#1 RSA) private key: returns the signer and its verification key.
fn load_signing_key(path: &Path) -> Result<(EncodingKey, Algorithm, VerifyKey), RegistryError> {
    let pem = std::fs::read(path)
        .map_err(|e| RegistryError::Auth(format!("signingkey {}: {e}", path.display())))?;
    let key = rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| RegistryError::Auth(format!("signingkey: {e}")))?
        .ok_or_else(|| RegistryError::Auth("signingkey: no private key found".into()))?;
    use ring::signature::KeyPair as _;
    match &key {
        tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(p8) => {
            let der = p8.secret_pkcs8_der();
            if let Ok(kp) = ring::signature::RsaKeyPair::from_pkcs8(der) {
                let vk = VerifyKey {
                    key: DecodingKey::from_rsa_der(kp.public().as_ref()),
                    algs: vec![Algorithm::RS256],
                };
                let ek = EncodingKey::from_rsa_pem(&pem)
                    .map_err(|e| RegistryError::Auth(format!("signingkey: {e}")))?;
                return Ok((ek, Algorithm::RS256, vk));
            }
            let rng = ring::rand::SystemRandom::new();
            let kp = ring::signature::EcdsaKeyPair::from_pkcs8(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                der,
                &rng,
            )
            .map_err(|e| RegistryError::Auth(format!("signingkey: unsupported key: {e}")))?;
            let vk = VerifyKey {
                key: DecodingKey::from_ec_der(kp.public_key().as_ref()),
                algs: vec![Algorithm::ES256],
            };
            let ek = EncodingKey::from_ec_der(der);
            Ok((ek, Algorithm::ES256, vk))
        }
        tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs1(p1) => {
            let kp = ring::signature::RsaKeyPair::from_der(p1.secret_pkcs1_der())
                .map_err(|e| RegistryError::Auth(format!("signingkey: {e}")))?;
            let vk = VerifyKey {
                key: DecodingKey::from_rsa_der(kp.public().as_ref()),
                algs: vec![Algorithm::RS256],
            };
            let ek = EncodingKey::from_rsa_der(p1.secret_pkcs1_der());
            Ok((ek, Algorithm::RS256, vk))
        }
        _ => Err(RegistryError::Auth(
            "signingkey: use a PKCS#8 RSA or P-256 key".into(),
        )),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Issuer {
    /// Issues a token for `scopes` (`type:name:actions`) to the caller described by `headers`.
    pub fn issue(
        &self,
        headers: &HeaderMap,
        scopes: &[String],
    ) -> Result<serde_json::Value, ApiError> {
        self.issue_for(basic_credentials(headers), scopes)
    }

    /// Issues a token for explicit credentials (the OAuth2 `grant_type=password` POST form).
    pub fn issue_for(
        &self,
        creds: Option<(String, String)>,
        scopes: &[String],
    ) -> Result<serde_json::Value, ApiError> {
        let user = match (&self.users, creds) {
            (None, creds) => creds.map(|c| c.0).unwrap_or_default(),
            (Some(users), Some((u, p))) if users.check(&u, &p) => u,
            (Some(_), _) => {
                return Err(ApiError::new(Code::Unauthorized).header(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"berth-registry token\""),
                ));
            }
        };
        let access = scopes
            .iter()
            .filter_map(|s| {
                // Names may contain ':'? No (ports are not part of repo names), so rsplit works.
                let (rest, actions) = s.rsplit_once(':')?;
                let (kind, name) = rest.split_once(':')?;
                Some(TokenAccess {
                    kind: kind.into(),
                    name: name.into(),
                    actions: actions.split(',').map(str::to_string).collect(),
                })
            })
            .collect();
        let iat = now();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: user,
            aud: self.service.clone(),
            exp: iat + self.lifetime,
            nbf: iat.saturating_sub(10),
            iat,
            jti: hex::encode(rand::random::<[u8; 16]>()),
            access,
        };
        let token = jsonwebtoken::encode(&jsonwebtoken::Header::new(self.alg), &claims, &self.key)
            .map_err(ApiError::internal)?;
        Ok(serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": self.lifetime,
            "issued_at": chrono_like_rfc3339(iat),
        }))
    }
}

/// Formats unix seconds as RFC 3339 UTC without pulling in a date crate.
fn chrono_like_rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The configured authentication scheme.
pub enum Authenticator {
    /// Everyone may do everything.
    Open,
    /// Basic auth against htpasswd.
    Basic {
        /// Challenge realm.
        realm: String,
        /// The users.
        users: Htpasswd,
    },
    /// Bearer tokens.
    Token {
        /// Token server URL; empty means "this registry's /token" (built-in issuer).
        realm: String,
        /// Expected audience.
        service: String,
        /// Expected issuer.
        issuer: String,
        /// Keys accepted for signatures.
        keys: Vec<VerifyKeyPub>,
        /// The built-in issuer, when enabled.
        builtin: Option<Issuer>,
    },
}

/// An opaque verification key (public so [`Authenticator`] can be named by callers).
pub struct VerifyKeyPub(VerifyKey);

impl Authenticator {
    /// Builds the authenticator from the `auth` section.
    pub fn from_config(cfg: &AuthConfig) -> Result<Self, RegistryError> {
        if let Some(t) = &cfg.token {
            return Self::token(t);
        }
        if let Some(h) = &cfg.htpasswd {
            return Ok(Authenticator::Basic {
                realm: if h.realm.is_empty() {
                    "basic-realm".into()
                } else {
                    h.realm.clone()
                },
                users: Htpasswd::load(&h.path)?,
            });
        }
        Ok(Authenticator::Open)
    }

    fn token(t: &TokenConfig) -> Result<Self, RegistryError> {
        let mut keys = Vec::new();
        if !t.rootcertbundle.as_os_str().is_empty() {
            keys.extend(
                load_bundle(&t.rootcertbundle)?
                    .into_iter()
                    .map(VerifyKeyPub),
            );
        }
        let service = if t.service.is_empty() {
            "berth-registry".to_string()
        } else {
            t.service.clone()
        };
        let issuer = if t.issuer.is_empty() {
            "berth-registry-token-issuer".to_string()
        } else {
            t.issuer.clone()
        };
        let builtin = match &t.builtin {
            Some(b) => Some(Self::issuer(b, &issuer, &service, &mut keys)?),
            None => None,
        };
        if keys.is_empty() {
            return Err(RegistryError::Auth(
                "auth.token needs rootcertbundle or builtin.signingkey".into(),
            ));
        }
        Ok(Authenticator::Token {
            realm: t.realm.clone(),
            service,
            issuer,
            keys,
            builtin,
        })
    }

    fn issuer(
        b: &BuiltinTokenConfig,
        issuer: &str,
        service: &str,
        keys: &mut Vec<VerifyKeyPub>,
    ) -> Result<Issuer, RegistryError> {
        let (key, alg, vk) = load_signing_key(&b.signingkey)?;
        keys.push(VerifyKeyPub(vk));
        let users = match &b.htpasswd {
            Some(p) => Some(Htpasswd::load(p)?),
            None => None,
        };
        Ok(Issuer {
            key,
            alg,
            issuer: issuer.into(),
            service: service.into(),
            users,
            lifetime: b.expiration.unwrap_or(300),
        })
    }

    /// The built-in issuer, if any.
    pub fn builtin_issuer(&self) -> Option<&Issuer> {
        match self {
            Authenticator::Token { builtin, .. } => builtin.as_ref(),
            _ => None,
        }
    }

    /// Checks a request; `access` is `None` for the `/v2/` base (any valid credential will do).
    /// `origin` (scheme://host) completes the realm of the built-in token server.
    pub fn check(
        &self,
        headers: &HeaderMap,
        access: Option<&Access>,
        origin: &str,
    ) -> Result<(), ApiError> {
        match self {
            Authenticator::Open => Ok(()),
            Authenticator::Basic { realm, users } => match basic_credentials(headers) {
                Some((u, p)) if users.check(&u, &p) => Ok(()),
                _ => Err(challenge(format!("Basic realm=\"{realm}\""))),
            },
            Authenticator::Token {
                realm,
                service,
                issuer,
                keys,
                ..
            } => {
                let realm = if realm.is_empty() {
                    format!("{origin}/token")
                } else {
                    realm.clone()
                };
                let mut chal = format!("Bearer realm=\"{realm}\",service=\"{service}\"");
                if let Some(a) = access {
                    chal.push_str(&format!(",scope=\"{}\"", a.scope()));
                }
                let Some(tok) = bearer(headers) else {
                    return Err(challenge(chal));
                };
                let Some(claims) = verify_jwt(tok, keys, issuer, service) else {
                    return Err(challenge(format!("{chal},error=\"invalid_token\"")));
                };
                match access {
                    None => Ok(()),
                    Some(a) if grants(&claims, a) => Ok(()),
                    Some(_) => Err(challenge(format!("{chal},error=\"insufficient_scope\""))),
                }
            }
        }
    }
}

fn challenge(value: String) -> ApiError {
    let mut e = ApiError::new(Code::Unauthorized);
    if let Ok(v) = HeaderValue::from_str(&value) {
        e = e.header(header::WWW_AUTHENTICATE, v);
    }
    e
}

fn verify_jwt(tok: &str, keys: &[VerifyKeyPub], issuer: &str, service: &str) -> Option<Claims> {
    let header = jsonwebtoken::decode_header(tok).ok()?;
    for k in keys {
        if !k.0.algs.contains(&header.alg) {
            continue;
        }
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[issuer]);
        v.set_audience(&[service]);
        v.leeway = 30;
        if let Ok(data) = jsonwebtoken::decode::<Claims>(tok, &k.0.key, &v) {
            return Some(data.claims);
        }
    }
    None
}

fn grants(claims: &Claims, a: &Access) -> bool {
    claims.access.iter().any(|t| {
        t.kind == a.kind && t.name == a.name && t.actions.iter().any(|x| x == &a.action || x == "*")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(chrono_like_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(chrono_like_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn htpasswd_check() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let h = Htpasswd::parse(&format!("# c\nalice:{hash}\n"));
        assert!(h.check("alice", "s3cret"));
        assert!(h.check("alice", "s3cret"));
        assert!(!h.check("alice", "wrong"));
        assert!(!h.check("bob", "s3cret"));
    }
}
