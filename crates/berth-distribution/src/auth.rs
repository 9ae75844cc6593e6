//! Credentials as sent by clients in the X-Registry-Auth header.

use base64::Engine;
use serde::Deserialize;

/// Registry credentials (Docker's AuthConfig).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AuthConfig {
    /// User name.
    #[serde(default)]
    pub username: Option<String>,
    /// Password.
    #[serde(default)]
    pub password: Option<String>,
    /// Long-lived identity token (refresh token).
    #[serde(default, rename = "identitytoken")]
    pub identity_token: Option<String>,
    /// Bearer token to send as is.
    #[serde(default, rename = "registrytoken")]
    pub registry_token: Option<String>,
    /// Registry the credentials belong to.
    #[serde(default, rename = "serveraddress")]
    pub server_address: Option<String>,
}

impl AuthConfig {
    /// Decodes an X-Registry-Auth header (base64url JSON); garbage yields empty credentials,
    /// as Docker treats an undecodable header as anonymous.
    pub fn from_x_registry_auth(header_b64url_json: &str) -> Self {
        let trimmed = header_b64url_json.trim().trim_end_matches('=');
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(trimmed)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed));
        let Ok(bytes) = bytes else {
            return AuthConfig::default();
        };
        let mut cfg: AuthConfig = serde_json::from_slice(&bytes).unwrap_or_default();
        // Empty strings mean "not given" in Docker's clients.
        for f in [
            &mut cfg.username,
            &mut cfg.password,
            &mut cfg.identity_token,
            &mut cfg.registry_token,
            &mut cfg.server_address,
        ] {
            if f.as_deref() == Some("") {
                *f = None;
            }
        }
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_header() {
        let json = r#"{"username":"u","password":"p","serveraddress":"localhost:5000","email":""}"#;
        let h = base64::engine::general_purpose::URL_SAFE.encode(json);
        let a = AuthConfig::from_x_registry_auth(&h);
        assert_eq!(a.username.as_deref(), Some("u"));
        assert_eq!(a.password.as_deref(), Some("p"));
        assert_eq!(a.server_address.as_deref(), Some("localhost:5000"));
        assert_eq!(
            AuthConfig::from_x_registry_auth("!!"),
            AuthConfig::default()
        );
        assert_eq!(AuthConfig::from_x_registry_auth(""), AuthConfig::default());
    }
}
