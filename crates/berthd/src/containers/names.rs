//! Container names: validation, uniqueness, and Docker-style generated names.

use std::collections::HashMap;

use rand::Rng as _;

use crate::error::{ApiError, ApiResult};

/// name (without slash) → container id.
#[derive(Debug, Default)]
pub struct NameIndex(HashMap<String, String>);

impl NameIndex {
    /// Owner of a name.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
    /// Records a name.
    pub fn insert(&mut self, name: &str, id: &str) {
        self.0.insert(name.to_string(), id.to_string());
    }
    /// Frees a name.
    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }
}

/// Checks a user-given name against Docker's pattern `/?[a-zA-Z0-9][a-zA-Z0-9_.-]+`; returns it
/// without the slash.
pub fn validate(name: &str) -> ApiResult<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {
            n.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        }
        _ => false,
    };
    if !ok {
        return Err(ApiError::invalid(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(n.to_string())
}

const LEFT: &[&str] = &[
    "admiring",
    "amazing",
    "awesome",
    "bold",
    "brave",
    "busy",
    "calm",
    "clever",
    "cool",
    "dazzling",
    "eager",
    "elegant",
    "epic",
    "festive",
    "focused",
    "friendly",
    "gallant",
    "gifted",
    "happy",
    "hopeful",
    "jolly",
    "keen",
    "kind",
    "lucid",
    "modest",
    "nifty",
    "nostalgic",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
];
const RIGHT: &[&str] = &[
    "albattani",
    "babbage",
    "bohr",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euclid",
    "faraday",
    "fermat",
    "galileo",
    "gauss",
    "hopper",
    "hypatia",
    "kepler",
    "knuth",
    "lamport",
    "lovelace",
    "maxwell",
    "meitner",
    "newton",
    "noether",
    "pascal",
    "ritchie",
    "shannon",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "wozniak",
];

/// A random `adjective_scientist` name not in use.
pub fn generate(idx: &NameIndex) -> String {
    let mut rng = rand::rng();
    for attempt in 0..100 {
        let mut n = format!(
            "{}_{}",
            LEFT[rng.random_range(0..LEFT.len())],
            RIGHT[rng.random_range(0..RIGHT.len())]
        );
        if attempt > 10 {
            n.push_str(&rng.random_range(0..10).to_string());
        }
        if idx.get(&n).is_none() {
            return n;
        }
    }
    format!("berth_{}", &berth_core::generate_id()[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_like_docker() {
        assert_eq!(validate("/web").unwrap(), "web");
        assert_eq!(validate("a.b-c_d").unwrap(), "a.b-c_d");
        assert!(validate("-x").is_err());
        assert!(validate("x").is_err());
        assert!(validate("a b").is_err());
        assert_eq!(
            validate("bad name").unwrap_err().message,
            "Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
    }

    #[test]
    fn generated_names_avoid_used_ones() {
        let mut idx = NameIndex::default();
        for _ in 0..50 {
            let n = generate(&idx);
            assert!(idx.get(&n).is_none());
            idx.insert(&n, "x");
        }
    }
}
