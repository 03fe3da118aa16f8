//! Writes the seeds that are derived from the repository's own sources into the folder given as
//! the one argument (`seed.sh` runs it): for the fixed template, its compiled OPT, one FLAT form
//! per entry of the template's example form (with the `ctx/` and context keys), and each form's
//! canonical JSON and XML; and small OPTs built with `cdr_template::fixtures`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

const NOW: &str = "2026-12-06T09:00:00Z";

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    let p = d.join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

fn main() {
    let Some(out) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: seeds OUT_DIR");
        std::process::exit(2);
    };
    let t = cdr_fuzz::template();
    let folder = cdr_fuzz::TEMPLATE_FOLDER;
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../templates")
        .join(folder)
        .join("example.flat.json");
    let text = std::fs::read(&example).unwrap_or_else(|e| panic!("{}: {e}", example.display()));
    let Ok(Value::Object(form)) = serde_json::from_slice::<Value>(&text) else {
        panic!("{}: not a JSON object", example.display())
    };

    // One form per entry: keys grouped by their first three segments; `ctx/` and the
    // composition's context go into every form.
    let shared = |k: &str| k.starts_with("ctx/") || k.starts_with(&format!("{folder}/context"));
    let mut groups: Vec<(String, Map<String, Value>)> = Vec::new();
    for (k, v) in form.iter().filter(|(k, _)| !shared(k)) {
        let group: String = k.split('/').take(3).collect::<Vec<_>>().join("/");
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, m)) => {
                m.insert(k.clone(), v.clone());
            }
            None => {
                let mut m: Map<String, Value> = form
                    .iter()
                    .filter(|(k, _)| shared(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                m.insert(k.clone(), v.clone());
                groups.push((group, m));
            }
        }
    }
    for (i, (_, m)) in groups.iter().enumerate() {
        let name = format!("{folder}-{i:02}");
        let flat = serde_json::to_vec(m).unwrap_or_default();
        write(&out, "flat", &format!("{name}.json"), &flat);
        let reading = cdr_forms::flat::read_flat(t, m, NOW);
        if let Some(c) = reading.composition {
            let json = cdr_rm::to_json(&c, &cdr_rm::JsonConfig::CANONICAL);
            write(&out, "canonical_json", &format!("{name}.json"), &json);
            let xml = cdr_rm::to_xml(&c, "composition");
            write(
                &out,
                "canonical_xml",
                &format!("{name}.xml"),
                xml.as_bytes(),
            );
        }
    }

    write(
        &out,
        "opt",
        &format!("{folder}.opt"),
        cdr_fuzz::template_opt().as_bytes(),
    );
    use cdr_template::fixtures::{dv, element, fixed_name, object, opt, single, term};
    let small = [
        opt(""),
        opt(&single(
            "content",
            &object(
                "OBSERVATION",
                "at0001",
                0,
                1,
                &single(
                    "data",
                    &element("at0002", 1, 1, &dv("DV_TEXT"), &fixed_name("X")),
                ),
            ),
        )),
        opt(&term("at0001", "Thing")),
    ];
    for (i, xml) in small.iter().enumerate() {
        write(&out, "opt", &format!("fixture-{i}.opt"), xml.as_bytes());
    }
    println!("{} forms from {}", groups.len(), example.display());
}
