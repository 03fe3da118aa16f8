//! Templates compiled from their sources (`../shared/models`: OET + ADL 1.4) against the OPTs
//! their authors published: the web templates of both, node for node by id path, rmType,
//! min, max and aqlPath. Prints the match per template and in total (run with
//! `cargo test -p cdr-forms --test it compile_corpus -- --nocapture`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cdr_forms::webtemplate::WebTemplateNode;
use cdr_forms::Forms;
use cdr_template::compile::compile;
use cdr_template::parse_opt;

/// The differences left, each explained: the archetypes under `../shared/models` have moved on
/// since these OPTs were exported (read from the published OPTs' own term definitions).
/// (published OPT, id path of the node, why).
const EXPLAINED: &[(&str, &str, &str)] = &[
    (
        "operational/IDCR - Relevant contacts.opt",
        "/relevant_contacts_list/relevant_contacts/relevant_contact/individual_person/address",
        "address_uk.v0's concept was then \"Address\" (now \"Address - (UK)\"), so the \
         template's name \"Address\" was its own and fixed no name: no ,'Address' in the aqlPath",
    ),
    (
        "operational/IDCR - Relevant contacts.opt",
        "/relevant_contacts_list/relevant_contacts/relevant_contact/individual_person/address/address_description",
        "the same name predicate, on the child's aqlPath",
    ),
    (
        "operational/IDCR - Relevant contacts.opt",
        "/relevant_contacts_list/relevant_contacts/relevant_contact/individual_person/address/state",
        "address_uk.v0 had no State (at0023) then: the published OPT has no such term",
    ),
    (
        "operational/IDCR - Relevant contacts.opt",
        "/relevant_contacts_list/relevant_contacts/relevant_contact/individual_person/contact_details/method",
        "the published OPT lists Method (at0020) among telecom_uk.v1's terms but has no \
         ELEMENT[at0020]: the archetype exported then lacked the node the current one has",
    ),
    (
        "operational/LCR_Medication_List.v0.opt",
        "/current_medication_list/medication_and_medical_devices/current_medication/medication_statement/medication_item/course_details/end_datetime",
        "an older export (its twin `LCR Medication List.opt` matches fully): medication_item.v1 \
         had End datetime (at0040) as a term but no node",
    ),
    (
        "operational/LCR_Medication_List.v0.opt",
        "/current_medication_list/medication_and_medical_devices/current_medication/medication_statement/medication_item/route",
        "the same older export: Route's value was then DV_CODED_TEXT only, so the template's \
         `Text` choice kept nothing but the coded form",
    ),
];

/// The share of nodes that must match in total (what the compiler achieves; it may only rise).
const FLOOR_PERCENT: f64 = 98.8;

/// `shared/models`, relative to this crate.
fn models_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "models corpus absent: ../shared/models not found (looked at {})",
            dir.display()
        );
        None
    }
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// Every archetype below `dir` (those that do not parse are left out, as the Ocean tools do).
fn archetypes(dir: &Path) -> Vec<cdr_adl::Archetype> {
    let mut paths = Vec::new();
    files(dir, "adl", &mut paths);
    paths.sort();
    paths
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            cdr_adl::parse(&text, &p.display().to_string()).ok()
        })
        .collect()
}

/// Every node of a web template by id path: (rmType, min, max, aqlPath).
pub fn rows(node: &WebTemplateNode, prefix: &str, out: &mut BTreeMap<String, String>) {
    let path = format!("{prefix}/{}", node.id);
    out.insert(
        path.clone(),
        format!(
            "{} {}..{} {}",
            node.rm_type, node.min, node.max, node.aql_path
        ),
    );
    for c in &node.children {
        rows(c, &path, out);
    }
}

/// (template, OET, published OPT) for the pairs of the models corpus.
fn pairs(models: &Path) -> Vec<(String, PathBuf, PathBuf)> {
    let ripple = models.join("ripple");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ripple.join("manifest.json")).expect("read manifest.json"),
    )
    .expect("manifest.json is JSON");
    let mut out = Vec::new();
    for pair in manifest["pairs"].as_array().expect("pairs") {
        let id = pair.as_str().expect("pair id");
        // Every OPT of that template id exported from this revision of its OET.
        for opt in manifest["files"]
            .as_array()
            .expect("files")
            .iter()
            .filter(|f| {
                f["kind"] == "opt"
                    && f["template_id"] == id
                    && f.get("revision_differs").is_none()
                    && f.get("missing_archetypes").is_none()
            })
        {
            let file = opt["file"].as_str().expect("file");
            let oet = opt["oet"].as_str().expect("oet of the OPT");
            out.push((
                format!("{id} ({file})"),
                ripple.join(oet),
                ripple.join(file),
            ));
        }
    }
    let all = models.join("ehrbase-all-types");
    out.push((
        "Test_all_types".to_owned(),
        all.join("Test_all_types.oet"),
        all.join("Test_all_types.opt"),
    ));
    out
}

/// (matching nodes, nodes in either web template, differences by id path) of one template.
fn compare(
    oet: &Path,
    opt: &Path,
    archetypes: &[cdr_adl::Archetype],
) -> (usize, usize, Vec<(String, String)>) {
    let xml = compile(&std::fs::read(oet).expect("read OET"), archetypes)
        .unwrap_or_else(|e| panic!("{} does not compile: {e:?}", oet.display()));
    let compiled = parse_opt(xml.as_bytes())
        .unwrap_or_else(|e| panic!("compiled {} is not an OPT: {e}", oet.display()));
    let published = parse_opt(&std::fs::read(opt).expect("read OPT")).expect("published OPT");
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    rows(&compiled.web_template().tree, "", &mut a);
    rows(&published.web_template().tree, "", &mut b);
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut same = 0;
    let mut diffs = Vec::new();
    for k in &keys {
        match (a.get(*k), b.get(*k)) {
            (Some(x), Some(y)) if x == y => same += 1,
            (x, y) => diffs.push((
                (*k).clone(),
                format!("{k}: compiled {x:?}, published {y:?}"),
            )),
        }
    }
    (same, keys.len(), diffs)
}

#[test]
fn compiled_templates_match_the_published_ones() {
    let Some(models) = models_dir() else {
        return;
    };
    let archetypes = archetypes(&models);
    let (mut same, mut total) = (0, 0);
    let mut unexplained = Vec::new();
    let mut seen = Vec::new();
    for (id, oet, opt) in pairs(&models) {
        let (s, t, diffs) = compare(&oet, &opt, &archetypes);
        println!(
            "{id}: {s}/{t} nodes match ({:.1} %)",
            100.0 * s as f64 / t as f64
        );
        for (path, d) in &diffs {
            let why = EXPLAINED
                .iter()
                .find(|(o, p, _)| opt.ends_with(o) && p == path);
            match why {
                Some(e) => {
                    println!("    {d}\n      because {}", e.2);
                    seen.push(*e);
                }
                None => unexplained.push(format!("{id}: {d}")),
            }
        }
        same += s;
        total += t;
    }
    let pct = 100.0 * same as f64 / total as f64;
    println!("total: {same}/{total} nodes match ({pct:.1} %)");
    assert!(
        unexplained.is_empty(),
        "differences nobody explained:\n{}",
        unexplained.join("\n")
    );
    let stale: Vec<_> = EXPLAINED.iter().filter(|e| !seen.contains(e)).collect();
    assert!(
        stale.is_empty(),
        "explained differences that are gone: {stale:?}"
    );
    assert!(
        pct >= FLOOR_PERCENT,
        "{pct:.1} % of nodes match, below the floor of {FLOOR_PERCENT} %"
    );
}

/// The lines of an OPT, indentation, byte order mark and comments left out, and the items of
/// terms and the template's metadata (whose order and edge whitespace the tools keep from the
/// sources, which parsed models do not).
fn layout(xml: &str) -> Vec<String> {
    xml.trim_start_matches('\u{feff}')
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| {
            !(l.is_empty()
                || l.starts_with("<!--")
                || l.starts_with("<items id=\"")
                || l.starts_with("<other_details id="))
        })
        .collect()
}

#[test]
fn a_compiled_opt_is_laid_out_as_the_published_one() {
    let Some(models) = models_dir() else {
        return;
    };
    let ripple = models.join("ripple");
    let oet = ripple.join("models/local/templates/composition/RIPPLE - Clinical Note.v0.oet");
    let xml = compile(&std::fs::read(oet).unwrap(), &archetypes(&models)).unwrap();
    let published =
        std::fs::read_to_string(ripple.join("operational/RIPPLE - Clinical Note.opt")).unwrap();
    let (ours, theirs) = (layout(&xml), layout(&published));
    let first = ours.iter().zip(&theirs).position(|(a, b)| a != b);
    assert_eq!(
        (first, ours.len()),
        (None, theirs.len()),
        "first difference: {:?}",
        first.map(|i| (&ours[i], &theirs[i]))
    );
}
