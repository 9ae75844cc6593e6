//! `filters` query parsing and matching.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use berth_api::{FilterError, Filters};
use berth_core::{Classify, ErrorKind};

#[test]
fn both_wire_forms_parse_the_same() {
    let new = Filters::parse(Some(r#"{"label":["a=1","b"],"status":["running"]}"#)).unwrap();
    let old = Filters::parse(Some(
        r#"{"label":{"a=1":true,"b":true},"status":{"running":true}}"#,
    ))
    .unwrap();
    assert_eq!(new, old);
    assert_eq!(new.get("label"), vec!["a=1", "b"]);
    assert!(new.contains("status"));
    assert!(!new.contains("name"));
    assert_eq!(new.get("name"), Vec::<&str>::new());
}

#[test]
fn empty_and_bad_input() {
    assert!(Filters::parse(None).unwrap().is_empty());
    assert!(Filters::parse(Some("")).unwrap().is_empty());
    assert!(Filters::parse(Some("{}")).unwrap().is_empty());
    assert!(Filters::parse(Some("null")).unwrap().is_empty());
    let err = Filters::parse(Some("{nope")).unwrap_err();
    assert!(matches!(err, FilterError::Json(_)));
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn validate_names_the_first_unknown_key() {
    let f = Filters::parse(Some(r#"{"name":["x"],"bogus":["y"]}"#)).unwrap();
    assert!(f.validate(&["name", "bogus"]).is_ok());
    let err = f.validate(&["name", "label"]).unwrap_err();
    assert_eq!(err.to_string(), "Invalid filter 'bogus'");
}

#[test]
fn label_matching() {
    let mut f = Filters::new();
    let labels = BTreeMap::from([
        ("a".to_string(), "1".to_string()),
        ("b".to_string(), "2".to_string()),
    ]);
    assert!(f.match_label(&labels));
    f.add("label", "a=1");
    assert!(f.match_label(&labels));
    f.add("label", "b");
    assert!(f.match_label(&labels));
    f.add("label", "b=3");
    assert!(!f.match_label(&labels));
    assert!(
        !Filters::parse(Some(r#"{"label":["c"]}"#))
            .unwrap()
            .match_label(&labels)
    );
    assert!(
        !Filters::parse(Some(r#"{"label":["a"]}"#))
            .unwrap()
            .match_label(&BTreeMap::new())
    );
}

#[test]
fn exact_fuzzy_and_bool() {
    let f = Filters::parse(Some(
        r#"{"id":["de2d"],"status":["exited","created"],"dangling":["true"]}"#,
    ))
    .unwrap();
    assert!(f.fuzzy_match("id", "de2d05bb0219"));
    assert!(!f.fuzzy_match("id", "23baf0cc83be"));
    assert!(f.exact_match("status", "exited"));
    assert!(!f.exact_match("status", "running"));
    assert!(f.exact_match("name", "anything"));
    assert_eq!(f.get_bool("dangling").unwrap(), Some(true));
    assert_eq!(f.get_bool("absent").unwrap(), None);
    let bad = Filters::parse(Some(r#"{"dangling":["maybe"]}"#)).unwrap();
    assert_eq!(
        bad.get_bool("dangling").unwrap_err().to_string(),
        "Invalid filter 'dangling=[maybe]'"
    );
}

#[test]
fn false_entries_of_the_old_form_never_match() {
    let f = Filters::parse(Some(r#"{"status":{"running":false,"exited":true}}"#)).unwrap();
    assert_eq!(f.get("status"), vec!["exited"]);
}

#[test]
fn serializes_to_the_form_every_daemon_accepts() {
    let mut f = Filters::new();
    f.add("label", "a=1");
    f.add("dangling", "true");
    assert_eq!(
        f.to_json(),
        r#"{"dangling":{"true":true},"label":{"a=1":true}}"#
    );
    assert_eq!(Filters::parse(Some(&f.to_json())).unwrap(), f);
}
