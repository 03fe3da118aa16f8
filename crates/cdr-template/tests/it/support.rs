//! Shared helpers: locating the corpus and building small OPT documents.

use std::path::PathBuf;

/// `shared/testdata`, relative to this crate (`crates/cdr-template/../../../shared/testdata`).
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "corpus absent: ../shared/testdata not found (looked at {})",
            dir.display()
        );
        None
    }
}

/// Every `<slug>/template.opt` of the corpus, sorted by slug, with its bytes.
pub fn corpus_opts() -> Vec<(String, Vec<u8>)> {
    let Some(dir) = corpus_dir() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let opt = entry.path().join("template.opt");
        if opt.is_file() {
            let slug = entry.file_name().to_string_lossy().into_owned();
            out.push((slug, std::fs::read(&opt).expect("read template.opt")));
        }
    }
    out
}

/// An OPT document around `definition_body` (the content of a COMPOSITION root).
pub fn opt(definition_body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<template xmlns="http://schemas.openehr.org/v1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <language><terminology_id><value>ISO_639-1</value></terminology_id><code_string>en</code_string></language>
  <description><original_author id="x">y</original_author></description>
  <uid><value>0b7e5e3d-0000-4000-8000-000000000001</value></uid>
  <template_id><value>fixture.v1</value></template_id>
  <concept>Fixture</concept>
  <definition xsi:type="C_ARCHETYPE_ROOT">
    <rm_type_name>COMPOSITION</rm_type_name>
    <occurrences><lower_included>true</lower_included><upper_included>true</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>false</upper_unbounded><lower>1</lower><upper>1</upper></occurrences>
    <node_id>at0000</node_id>
    {definition_body}
    <archetype_id><value>openEHR-EHR-COMPOSITION.fixture.v1</value></archetype_id>
    <template_id><value>fixture.v1</value></template_id>
    <term_definitions code="at0000"><items id="text">Fixture</items><items id="description">A fixture</items></term_definitions>
  </definition>
</template>"#
    )
}

/// A closed `lower..upper` occurrences element.
pub fn occ(lower: i64, upper: i64) -> String {
    format!(
        "<occurrences><lower_included>true</lower_included><upper_included>true</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>false</upper_unbounded><lower>{lower}</lower><upper>{upper}</upper></occurrences>"
    )
}
