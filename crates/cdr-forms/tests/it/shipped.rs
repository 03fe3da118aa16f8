//! The care-plan templates cdr ships (the repository's `templates/`, built from `archetypes/`):
//! each compiles, the OPT reads back with the template id its README names, and its web
//! template and example composition can be made.

use std::path::{Path, PathBuf};

use cdr_forms::webtemplate::WebTemplate;
use cdr_template::compile::compile;
use cdr_template::parse_opt;

fn files_below(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn the_shipped_templates_compile() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let archetypes: Vec<cdr_adl::Archetype> = files_below(&root.join("archetypes"), "adl")
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            cdr_adl::parse(&text, &p.display().to_string()).unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    for oet in files_below(&root.join("templates"), "oet") {
        let xml = compile(&std::fs::read(&oet).unwrap(), &archetypes)
            .unwrap_or_else(|e| panic!("{}: {e:?}", oet.display()));
        let template = parse_opt(xml.as_bytes()).unwrap();
        let readme = std::fs::read_to_string(oet.with_file_name("README.md")).unwrap();
        assert!(
            readme.contains(&template.template_id),
            "{}: the README names {}",
            oet.display(),
            template.template_id
        );
        let web = WebTemplate::from_template(&template);
        assert!(!web.to_json().is_null());
        cdr_forms::example::example_composition(&template, "2026-12-06T08:00:00Z")
            .unwrap_or_else(|e| panic!("{}: {e:?}", oet.display()));
        ids.push(template.template_id);
    }
    assert_eq!(
        ids,
        [
            "cdr_care_and_support_plan.v0",
            "cdr_emergency_care_and_treatment_plan.v0",
            "cdr_urgent_care_plan.v0"
        ]
    );
}
