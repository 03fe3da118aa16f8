//! Every corpus OPT parses, with the template id the manifest states, and spot checks of facts
//! read from the files themselves.

use std::collections::HashMap;

use cdr_template::{parse_opt, CObjectKind, CPrimitive, Template};

use crate::support::{corpus_dir, corpus_opts};

fn manifest_ids() -> HashMap<String, String> {
    let Some(dir) = corpus_dir() else {
        return HashMap::new();
    };
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("read manifest.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    let mut ids = HashMap::new();
    for t in json["templates"].as_array().expect("templates array") {
        let slug = t["slug"].as_str().expect("slug").to_owned();
        let id = t["template_id"].as_str().expect("template_id").to_owned();
        ids.insert(slug, id);
    }
    ids
}

fn load(slug: &str) -> Option<Template> {
    let dir = corpus_dir()?;
    let bytes = std::fs::read(dir.join(slug).join("template.opt")).expect("read template.opt");
    Some(parse_opt(&bytes).unwrap_or_else(|e| panic!("{slug}: {e}")))
}

#[test]
fn every_corpus_opt_parses_with_manifest_template_id() {
    let opts = corpus_opts();
    if opts.is_empty() {
        return;
    }
    let ids = manifest_ids();
    assert!(
        opts.len() >= 17,
        "expected the 17 corpus OPTs, found {}",
        opts.len()
    );
    for (slug, bytes) in &opts {
        let t = parse_opt(bytes).unwrap_or_else(|e| panic!("{slug}: {e}"));
        let expected = ids
            .get(slug)
            .unwrap_or_else(|| panic!("{slug} missing from manifest"));
        assert_eq!(&t.template_id, expected, "{slug}");
        assert_eq!(t.definition.rm_type_name, "COMPOSITION", "{slug}");
        assert!(
            t.definition.as_archetype_root().is_some(),
            "{slug}: root is an archetype root"
        );
        assert!(!t.language.is_empty(), "{slug}: language");
        let root = t.nodes_at("/");
        assert_eq!(root.len(), 1, "{slug}");
        // Every route in the index leads to a node.
        let mut count = 0;
        for (path, routes) in &t.path_index {
            for r in routes {
                assert!(t.node(r).is_some(), "{slug}: dangling route at {path}");
                count += 1;
            }
        }
        eprintln!("{slug}: {} paths, {count} nodes", t.path_index.len());
    }
}
