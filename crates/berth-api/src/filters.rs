//! The `filters` query parameter of list, prune and events endpoints.
//!
//! Clients send `{"key":["v1","v2"]}` or the older `{"key":{"v1":true}}`; both parse to the
//! same [`Filters`]. Values of one key are OR-ed, different keys are AND-ed by the callers.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Why a `filters` parameter was rejected. Messages are Docker 20.10's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    /// The parameter is not filter JSON.
    #[error("invalid filter JSON: {0}")]
    Json(String),
    /// A key this endpoint does not know.
    #[error("Invalid filter '{0}'")]
    UnknownKey(String),
    /// A value this key does not accept; Go prints the values as `[a b]`.
    #[error("Invalid filter '{key}=[{}]'", values.join(" "))]
    BadValue {
        /// The filter key.
        key: String,
        /// Its values.
        values: Vec<String>,
    },
}

impl berth_core::Classify for FilterError {
    fn kind(&self) -> berth_core::ErrorKind {
        berth_core::ErrorKind::InvalidArgument
    }
}

/// Parsed filters: key → set of values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    fields: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Values {
    List(Vec<String>),
    Set(BTreeMap<String, bool>),
}

impl Filters {
    /// No filters.
    pub fn new() -> Filters {
        Filters::default()
    }

    /// Parses the `filters` query value; an absent or empty parameter means no filters.
    pub fn parse(json: Option<&str>) -> Result<Filters, FilterError> {
        let Some(json) = json.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(Filters::new());
        };
        let raw: Option<BTreeMap<String, Option<Values>>> =
            serde_json::from_str(json).map_err(|e| FilterError::Json(e.to_string()))?;
        let mut f = Filters::new();
        for (key, values) in raw.unwrap_or_default() {
            let set = f.fields.entry(key).or_default();
            match values {
                None => {}
                Some(Values::List(list)) => set.extend(list),
                // `{"v": false}` never matches in dockerd, so it is dropped here.
                Some(Values::Set(map)) => {
                    set.extend(map.into_iter().filter(|(_, on)| *on).map(|(v, _)| v))
                }
            }
        }
        Ok(f)
    }

    /// Adds `key=value` (the CLI's `--filter key=value`).
    pub fn add(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.fields
            .entry(key.into())
            .or_default()
            .insert(value.into());
    }

    /// True when there are no filters at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The filter keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    /// The values of `key`, sorted (empty when the key is absent).
    pub fn get(&self, key: &str) -> Vec<&str> {
        self.fields
            .get(key)
            .map(|s| s.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether `key` was given.
    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    /// True when `key` is absent or has `value` among its values.
    pub fn exact_match(&self, key: &str, value: &str) -> bool {
        match self.fields.get(key) {
            None => true,
            Some(set) => set.is_empty() || set.contains(value),
        }
    }

    /// True when `key` is absent or one of its values equals `value` or is a prefix of it
    /// (dockerd's `FuzzyMatch`, used for id filters).
    pub fn fuzzy_match(&self, key: &str, value: &str) -> bool {
        match self.fields.get(key) {
            None => true,
            Some(set) => set.is_empty() || set.iter().any(|v| value.starts_with(v.as_str())),
        }
    }

    /// True when every `key` value (`k` or `k=v`) is satisfied by `map` (dockerd's
    /// `MatchKVList`); true when `key` is absent.
    pub fn match_kv_list(&self, key: &str, map: &BTreeMap<String, String>) -> bool {
        let Some(set) = self.fields.get(key).filter(|s| !s.is_empty()) else {
            return true;
        };
        set.iter().all(|want| match want.split_once('=') {
            Some((k, v)) => map.get(k).is_some_and(|have| have == v),
            None => map.contains_key(want.as_str()),
        })
    }

    /// [`Filters::match_kv_list`] for the `label` key.
    pub fn match_label(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_kv_list("label", labels)
    }

    /// The boolean value of `key` (`true`/`1`, `false`/`0`); `None` when absent.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, FilterError> {
        let Some(set) = self.fields.get(key) else {
            return Ok(None);
        };
        let bad = || FilterError::BadValue {
            key: key.to_string(),
            values: set.iter().cloned().collect(),
        };
        let mut result = None;
        for v in set {
            let b = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(bad()),
            };
            if result.is_some_and(|r| r != b) {
                return Err(bad());
            }
            result = Some(b);
        }
        result.map(Some).ok_or_else(bad)
    }

    /// Rejects keys outside `allowed` with Docker's `Invalid filter 'key'`.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), FilterError> {
        match self.fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(FilterError::UnknownKey(k.clone())),
            None => Ok(()),
        }
    }

    /// The `{"key":{"value":true}}` form every dockerd version accepts.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

impl Serialize for Filters {
    fn serialize<S: serde::Serializer>(&self, se: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, BTreeMap<&str, bool>> = self
            .fields
            .iter()
            .map(|(k, vs)| (k.as_str(), vs.iter().map(|v| (v.as_str(), true)).collect()))
            .collect();
        map.serialize(se)
    }
}
