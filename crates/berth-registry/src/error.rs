//! Errors: the crate-level [`RegistryError`] for setup failures and [`ApiError`], the OCI
//! Distribution error body `{"errors":[{"code","message","detail"}]}` sent on the wire.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::{Classify, ErrorKind};

/// Failures while configuring, starting or maintaining a registry (not per-request errors).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The YAML configuration could not be parsed.
    #[error("invalid registry configuration: {0}")]
    Config(String),
    /// A filesystem operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate, key or client CA could not be loaded.
    #[error("tls setup: {0}")]
    Tls(String),
    /// The listen address could not be bound.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Authentication configuration (htpasswd file, token keys) is unusable.
    #[error("auth setup: {0}")]
    Auth(String),
}

impl RegistryError {
    /// Wraps an io error with context.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RegistryError::Io {
            context: context.into(),
            source,
        }
    }
}

impl Classify for RegistryError {
    fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::Config(_) | RegistryError::Tls(_) | RegistryError::Auth(_) => {
                ErrorKind::InvalidArgument
            }
            RegistryError::Bind { .. } => ErrorKind::Unavailable,
            RegistryError::Io { .. } => ErrorKind::Internal,
        }
    }
}

/// The error codes of the OCI Distribution Specification (plus distribution's extras).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Blob unknown to registry.
    BlobUnknown,
    /// Blob upload invalid.
    BlobUploadInvalid,
    /// Blob upload unknown to registry.
    BlobUploadUnknown,
    /// Provided digest did not match uploaded content.
    DigestInvalid,
    /// Manifest references a manifest or blob unknown to registry.
    ManifestBlobUnknown,
    /// Manifest invalid.
    ManifestInvalid,
    /// Manifest unknown to registry.
    ManifestUnknown,
    /// Invalid repository name.
    NameInvalid,
    /// Repository name not known to registry.
    NameUnknown,
    /// Provided length did not match content length.
    SizeInvalid,
    /// Authentication required.
    Unauthorized,
    /// Requested access to the resource is denied.
    Denied,
    /// The operation is unsupported.
    Unsupported,
    /// Too many requests.
    TooManyRequests,
    /// Invalid content range (distribution's code for a bad `Content-Range`).
    RangeInvalid,
    /// Invalid tag.
    TagInvalid,
    /// An internal failure (distribution's `UNKNOWN`).
    Unknown,
}

impl Code {
    /// The wire string, e.g. `BLOB_UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported => "UNSUPPORTED",
            Code::TooManyRequests => "TOOMANYREQUESTS",
            Code::RangeInvalid => "RANGE_INVALID",
            Code::TagInvalid => "TAG_INVALID",
            Code::Unknown => "UNKNOWN",
        }
    }

    /// The default human message (distribution's wording).
    pub fn message(self) -> &'static str {
        match self {
            Code::BlobUnknown => "blob unknown to registry",
            Code::BlobUploadInvalid => "blob upload invalid",
            Code::BlobUploadUnknown => "blob upload unknown to registry",
            Code::DigestInvalid => "provided digest did not match uploaded content",
            Code::ManifestBlobUnknown => "blob unknown to registry",
            Code::ManifestInvalid => "manifest invalid",
            Code::ManifestUnknown => "manifest unknown",
            Code::NameInvalid => "invalid repository name",
            Code::NameUnknown => "repository name not known to registry",
            Code::SizeInvalid => "provided length did not match content length",
            Code::Unauthorized => "authentication required",
            Code::Denied => "requested access to the resource is denied",
            Code::Unsupported => "The operation is unsupported.",
            Code::TooManyRequests => "too many requests",
            Code::RangeInvalid => "invalid content range",
            Code::TagInvalid => "manifest tag did not match URI",
            Code::Unknown => "unknown error",
        }
    }

    /// The HTTP status the spec (or distribution, where the spec is silent) pairs with the code.
    pub fn status(self) -> StatusCode {
        match self {
            Code::BlobUnknown
            | Code::BlobUploadUnknown
            | Code::ManifestUnknown
            | Code::NameUnknown => StatusCode::NOT_FOUND,
            Code::BlobUploadInvalid
            | Code::DigestInvalid
            | Code::ManifestBlobUnknown
            | Code::ManifestInvalid
            | Code::NameInvalid
            | Code::SizeInvalid
            | Code::TagInvalid => StatusCode::BAD_REQUEST,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Denied => StatusCode::FORBIDDEN,
            Code::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Code::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Code::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// One wire error: a spec code with optional detail and extra response headers (boxed so
/// `Result<_, ApiError>` stays small).
#[derive(Debug)]
pub struct ApiError(Box<ApiErrorBody>);

/// The contents of an [`ApiError`].
#[derive(Debug)]
pub struct ApiErrorBody {
    /// The spec code.
    pub code: Code,
    /// Overrides the default message.
    pub message: Option<String>,
    /// The `detail` member (any JSON).
    pub detail: serde_json::Value,
    /// Overrides the code's status (e.g. 404 for a missing upload behind DELETE).
    pub status: Option<StatusCode>,
    /// Extra headers, e.g. `WWW-Authenticate`.
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with the code's default message and no detail.
    pub fn new(code: Code) -> Self {
        ApiError(Box::new(ApiErrorBody {
            code,
            message: None,
            detail: serde_json::Value::Null,
            status: None,
            headers: Vec::new(),
        }))
    }

    /// The spec code.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// Overrides the HTTP status.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.0.status = Some(status);
        self
    }

    /// Sets the detail member.
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.0.detail = detail;
        self
    }

    /// Sets a custom message.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.0.message = Some(message.into());
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.0.headers.push((name, value));
        self
    }

    /// An internal error; the cause is logged, not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("internal registry error: {cause}");
        ApiError::new(Code::Unknown)
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = *self.0;
        let body = serde_json::json!({"errors": [{
            "code": this.code.as_str(),
            "message": this.message.as_deref().unwrap_or(this.code.message()),
            "detail": this.detail,
        }]});
        let mut resp = (
            this.status.unwrap_or(this.code.status()),
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        for (k, v) in this.headers {
            resp.headers_mut().append(k, v);
        }
        resp
    }
}
