//! Image response bodies: `docker images`, `image inspect`, history, removal and prune.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::ContainerConfig;
use crate::container::GraphDriver;
use crate::serde_util::{deserialize_null_default, is_empty_str};

/// One item of `GET /images/json`; keys sorted, as dockerd's generated struct prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageSummary {
    /// Containers using the image (-1 = not computed).
    pub containers: i64,
    /// Unix seconds.
    pub created: i64,
    /// Image id (`sha256:...`).
    #[serde(rename = "Id")]
    pub id: String,
    /// Config labels (`null` when none).
    pub labels: Option<BTreeMap<String, String>>,
    /// Parent image id (empty for pulled images).
    #[serde(rename = "ParentId")]
    pub parent_id: String,
    /// `repo@sha256:...`.
    #[serde(deserialize_with = "deserialize_null_default")]
    pub repo_digests: Vec<String>,
    /// `repo:tag`.
    #[serde(deserialize_with = "deserialize_null_default")]
    pub repo_tags: Vec<String>,
    /// Size shared with other images (-1 = not computed).
    pub shared_size: i64,
    /// Total size in bytes.
    pub size: i64,
    /// Same as `Size` (deprecated, still sent by API 1.41).
    pub virtual_size: i64,
}

/// `RootFS` of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RootFs {
    /// `layers`.
    pub r#type: String,
    /// Layer diff ids (omitted when empty).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "deserialize_null_default"
    )]
    pub layers: Vec<String>,
    /// Windows base layer (omitted when empty).
    #[serde(skip_serializing_if = "is_empty_str")]
    pub base_layer: String,
}

/// `Metadata` of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageMetadata {
    /// RFC 3339 time of the last tag (`0001-01-01T00:00:00Z` if never tagged).
    pub last_tag_time: String,
}

/// `docker image inspect`, in dockerd's (API 1.41) key order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageInspect {
    /// Image id (`sha256:...`).
    #[serde(rename = "Id")]
    pub id: String,
    /// `repo:tag` references (`[]` when none).
    #[serde(deserialize_with = "deserialize_null_default")]
    pub repo_tags: Vec<String>,
    /// `repo@digest` references (`[]` when none).
    #[serde(deserialize_with = "deserialize_null_default")]
    pub repo_digests: Vec<String>,
    /// Parent image id (empty for pulled images).
    pub parent: String,
    /// Comment of the image config.
    pub comment: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Container the image was committed from (empty otherwise).
    pub container: String,
    /// Config of that container (zero-valued config when none).
    pub container_config: Option<ContainerConfig>,
    /// Docker version that built the image.
    pub docker_version: String,
    /// Author.
    pub author: String,
    /// Run config (`null` when the image has none).
    pub config: Option<ContainerConfig>,
    /// `amd64`, ...
    pub architecture: String,
    /// Architecture variant (omitted when empty).
    #[serde(skip_serializing_if = "is_empty_str")]
    pub variant: String,
    /// `linux`.
    pub os: String,
    /// OS version (omitted when empty).
    #[serde(skip_serializing_if = "is_empty_str")]
    pub os_version: String,
    /// Size in bytes.
    pub size: i64,
    /// Same as `Size` (deprecated, still sent by API 1.41).
    pub virtual_size: i64,
    /// Storage driver data.
    pub graph_driver: GraphDriver,
    /// Layers.
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    /// Local metadata.
    pub metadata: ImageMetadata,
}

/// One row of `GET /images/{name}/history`; keys sorted, as dockerd's generated struct prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HistoryItem {
    /// History comment.
    pub comment: String,
    /// Unix seconds.
    pub created: i64,
    /// The instruction that made the layer.
    pub created_by: String,
    /// Image id for the top row, `<missing>` for the others.
    #[serde(rename = "Id")]
    pub id: String,
    /// Layer size (0 for empty layers).
    pub size: i64,
    /// Tags of that image (`null` when none).
    pub tags: Option<Vec<String>>,
}

/// One item of `DELETE /images/{name}` and of an image prune: exactly one key is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeleteItem {
    /// Removed reference (`repo:tag` or `repo@digest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    /// Deleted image id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

impl DeleteItem {
    /// `{"Untagged": reference}`.
    pub fn untagged(reference: impl Into<String>) -> DeleteItem {
        DeleteItem {
            untagged: Some(reference.into()),
            deleted: None,
        }
    }

    /// `{"Deleted": id}`.
    pub fn deleted(id: impl Into<String>) -> DeleteItem {
        DeleteItem {
            untagged: None,
            deleted: Some(id.into()),
        }
    }
}

/// Response of `POST /images/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImagesPruneReport {
    /// What was untagged/deleted (`null` when nothing).
    pub images_deleted: Option<Vec<DeleteItem>>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}
