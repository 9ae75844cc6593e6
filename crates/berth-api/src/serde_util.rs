//! Serde helpers shared by the API types: lenient readers for requests and writers that
//! reproduce what Go's `encoding/json` prints for zero values.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Reads `null` (or a missing field, with `#[serde(default)]`) as `T::default()`.
pub fn deserialize_null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Reads Docker's `StrSlice`: a list of strings, a single string (old clients), or `null`.
pub fn deserialize_str_slice<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StrOrList {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<StrOrList>::deserialize(d)? {
        None => None,
        Some(StrOrList::One(s)) => Some(vec![s]),
        Some(StrOrList::Many(v)) => Some(v),
    })
}

// Writers for `Option` request fields whose Go counterpart is a plain value: an unset field
// prints the Go zero value (`""`, `false`, `0`), never `null`.

/// `None` → `""`.
pub(crate) fn str_or_empty<S: Serializer>(v: &Option<String>, se: S) -> Result<S::Ok, S::Error> {
    se.serialize_str(v.as_deref().unwrap_or(""))
}

/// `None` → `false`.
pub(crate) fn bool_or_false<S: Serializer>(v: &Option<bool>, se: S) -> Result<S::Ok, S::Error> {
    se.serialize_bool(v.unwrap_or(false))
}

/// `None` → `0`.
pub(crate) fn int_or_zero<S: Serializer>(v: &Option<i64>, se: S) -> Result<S::Ok, S::Error> {
    se.serialize_i64(v.unwrap_or(0))
}

/// `None` → `{}` (Go structs whose map the daemon always allocates).
pub(crate) fn map_or_empty<S: Serializer, V: Serialize>(
    v: &Option<BTreeMap<String, V>>,
    se: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(m) => m.serialize(se),
        None => BTreeMap::<String, V>::new().serialize(se),
    }
}

// Predicates for `skip_serializing_if`, mirroring Go's `omitempty`.

/// `omitempty` for an optional bool.
pub(crate) fn none_or_false(v: &Option<bool>) -> bool {
    !v.unwrap_or(false)
}

/// `omitempty` for an optional string.
pub(crate) fn none_or_empty_str(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(str::is_empty)
}

/// `omitempty` for an optional number.
pub(crate) fn none_or_zero(v: &Option<i64>) -> bool {
    v.unwrap_or(0) == 0
}

/// `omitempty` for an optional list.
pub(crate) fn none_or_empty_vec<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

/// `omitempty` for an optional map.
pub(crate) fn none_or_empty_map<V>(v: &Option<BTreeMap<String, V>>) -> bool {
    v.as_ref().is_none_or(BTreeMap::is_empty)
}

/// `omitempty` for a plain string.
pub(crate) fn is_empty_str(v: &str) -> bool {
    v.is_empty()
}

/// `omitempty` for a plain number.
pub(crate) fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

/// `omitempty` for a plain bool.
pub(crate) fn is_false(v: &bool) -> bool {
    !*v
}
