//! Corpus compositions judged against a published OPT and against its compiled twin (the same
//! template compiled by cdr from its OET and the archetypes of `../shared/models`): each must
//! come out the same way (the same canonical composition when valid, the same problems when
//! not).
//!
//! Two corpus templates have a twin: `idcr-problem-list.v1` (its `template.opt` is the
//! published `IDCR - Problem List.opt` of the models corpus, byte for byte) with its FLAT
//! compositions, and the EHRbase all-types template, whose canonical compositions are judged
//! against the OPT published beside its OET (`ehrbase-all-types/Test_all_types.opt`).

use std::path::{Path, PathBuf};

use cdr_template::{parse_opt, Template};

use crate::corpus::{cases, decode, root};
use crate::flat::{form_cases, judge};

fn models() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("models corpus absent: ../shared/models not found; twin tests skipped");
        None
    }
}

fn archetypes(dir: &Path, out: &mut Vec<cdr_adl::Archetype>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            archetypes(&p, out);
        } else if p.extension().is_some_and(|x| x == "adl") {
            let text = std::fs::read_to_string(&p).unwrap();
            if let Ok(a) = cdr_adl::parse(&text, &p.display().to_string()) {
                out.push(a);
            }
        }
    }
}

fn compiled(oet: &Path, archetypes: &[cdr_adl::Archetype]) -> Template {
    let xml = cdr_template::compile::compile(&std::fs::read(oet).unwrap(), archetypes)
        .unwrap_or_else(|e| panic!("{}: {e:?}", oet.display()));
    parse_opt(xml.as_bytes()).unwrap()
}

/// The composition's issues against `template` (paths and kinds), sorted.
fn issues(template: &Template, composition: &cdr_rm::Composition) -> Vec<String> {
    let mut v: Vec<String> = cdr_validation::validate(template, composition)
        .iter()
        .map(|i| format!("{} [{}]", i.path, i.constraint))
        .collect();
    v.sort();
    v
}

#[test]
fn flat_problem_lists_read_the_same_with_the_compiled_twin() {
    let (Some(models), Some(forms)) = (models(), form_cases("flat")) else {
        return;
    };
    let mut set = Vec::new();
    archetypes(&models.join("ripple/models"), &mut set);
    let slug = "idcr-problem-list.v1";
    let published =
        parse_opt(&std::fs::read(root().join(slug).join("template.opt")).unwrap()).unwrap();
    let twin = compiled(
        &models.join("ripple/models/local/templates/composition/IDCR - Problem List.v1.oet"),
        &set,
    );
    assert_eq!(twin.template_id, published.template_id);
    let (mut valid, mut total) = (0, 0);
    for case in forms.iter().filter(|c| c.slug == slug) {
        let bytes = std::fs::read(root().join(slug).join(&case.file)).unwrap();
        let a = judge(&published, &bytes);
        let b = judge(&twin, &bytes);
        assert_eq!(a, b, "{}: published and compiled twin disagree", case.file);
        total += 1;
        valid += usize::from(a.is_ok());
    }
    println!("{slug}: {total} FLAT compositions, {valid} valid, judged alike by the twin");
    assert!(total > 10 && valid > 0, "{total} {valid}");
}

#[test]
fn all_types_compositions_validate_the_same_with_the_compiled_twin() {
    let (Some(models), Some(cases)) = (models(), cases()) else {
        return;
    };
    let mut set = Vec::new();
    archetypes(&models.join("ehrbase-all-types"), &mut set);
    let dir = models.join("ehrbase-all-types");
    let published = parse_opt(&std::fs::read(dir.join("Test_all_types.opt")).unwrap()).unwrap();
    let mut twin = compiled(&dir.join("Test_all_types.oet"), &set);
    // The OET names the template "Test all types" (and the compiled OPT takes its id from the
    // name, as the Ocean tools do); the published OPT was given the id test_all_types.en.v1,
    // which the compositions carry. The constraints are what is compared.
    assert_eq!(twin.template_id, "Test all types");
    twin.template_id.clone_from(&published.template_id);
    let (mut valid, mut total) = (0, 0);
    for case in cases.iter().filter(|c| c.slug == "test-all-types.en.v1") {
        let Ok(composition) = decode(&case.path) else {
            continue;
        };
        let a = issues(&published, &composition);
        let b = issues(&twin, &composition);
        assert_eq!(
            a,
            b,
            "{}: published and compiled twin disagree",
            case.path.display()
        );
        total += 1;
        valid += usize::from(a.is_empty());
    }
    println!("test-all-types: {total} compositions, {valid} valid against both");
    assert!(total > 3, "{total}");
}
