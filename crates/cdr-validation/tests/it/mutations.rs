//! Mutation tests: each valid canonical JSON composition of the corpus is broken in ways its
//! template forbids, and each broken copy must be rejected with an issue at the broken node.
//!
//! Targets are chosen with the template itself (through its path index), so a mutation is
//! only applied where the template really forbids the result.

use crate::corpus;
use cdr_rm::Composition;
use cdr_template::{CObjectKind, Template};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A node of the instance tree: its JSON pointer-like location, instance path and archetype path.
#[derive(Debug, Clone)]
struct Node {
    /// Steps to reach the node from the root: object keys and array indexes.
    steps: Vec<Step>,
    ipath: String,
    apath: String,
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn collect(
    v: &Value,
    steps: &mut Vec<Step>,
    ipath: &str,
    apath: &str,
    out: &mut Vec<(Node, Value)>,
) {
    let Value::Object(map) = v else { return };
    out.push((
        Node {
            steps: steps.clone(),
            ipath: ipath.to_owned(),
            apath: apath.to_owned(),
        },
        v.clone(),
    ));
    for (k, child) in map {
        if k.starts_with('_') {
            continue;
        }
        let seg = |c: &Value| match c.get("archetype_node_id").and_then(Value::as_str) {
            Some(id) => format!("{k}[{id}]"),
            None => k.clone(),
        };
        let join = |base: &str, s: &str| {
            if base == "/" {
                format!("/{s}")
            } else {
                format!("{base}/{s}")
            }
        };
        match child {
            Value::Object(_) => {
                steps.push(Step::Key(k.clone()));
                collect(
                    child,
                    steps,
                    &join(ipath, k),
                    &join(apath, &seg(child)),
                    out,
                );
                steps.pop();
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    steps.push(Step::Key(k.clone()));
                    steps.push(Step::Index(i));
                    collect(
                        item,
                        steps,
                        &join(ipath, &format!("{k}[{i}]")),
                        &join(apath, &seg(item)),
                        out,
                    );
                    steps.pop();
                    steps.pop();
                }
            }
            _ => {}
        }
    }
}

fn get_mut<'a>(root: &'a mut Value, steps: &[Step]) -> &'a mut Value {
    let mut cur = root;
    for s in steps {
        cur = match s {
            Step::Key(k) => &mut cur[k.as_str()],
            Step::Index(i) => &mut cur[*i],
        };
    }
    cur
}

fn ty(v: &Value) -> &str {
    v.get("_type").and_then(Value::as_str).unwrap_or_default()
}

/// The outcome of one mutation: which kind, which file, where the issue is expected.
struct Mutation {
    kind: &'static str,
    doc: Value,
    expect_prefix: String,
}

fn mutations(doc: &Value, t: &Template) -> Vec<Mutation> {
    let mut nodes = Vec::new();
    collect(doc, &mut Vec::new(), "/", "/", &mut nodes);
    let mut out = Vec::new();
    let mut push = |kind: &'static str, doc: Value, expect_prefix: String| {
        out.push(Mutation {
            kind,
            doc,
            expect_prefix,
        });
    };

    // RM-mandatory attributes of COMPOSITION removed.
    for attr in ["language", "category", "composer", "territory"] {
        let mut d = doc.clone();
        if d.as_object_mut().and_then(|m| m.remove(attr)).is_some() {
            push("rm_mandatory_removed", d, format!("/{attr}"));
        }
    }

    let is_entry = |v: &Value| {
        matches!(
            ty(v),
            "OBSERVATION" | "EVALUATION" | "INSTRUCTION" | "ACTION" | "ADMIN_ENTRY"
        )
    };
    // An entry's archetype id swapped for an unknown one.
    if let Some((n, v)) = nodes.iter().find(|(_, v)| is_entry(v)) {
        let mut d = doc.clone();
        let unknown = format!("openEHR-EHR-{}.cdr_mutation_unknown.v0", ty(v));
        let target = get_mut(&mut d, &n.steps);
        target["archetype_node_id"] = json!(unknown);
        if target.get("archetype_details").is_some() {
            target["archetype_details"]["archetype_id"]["value"] = json!(unknown);
        }
        push("archetype_swapped", d, n.ipath.clone());
    }

    let elements: Vec<&(Node, Value)> = nodes.iter().filter(|(_, v)| ty(v) == "ELEMENT").collect();
    let constraints_at = |apath: &str| t.nodes_at(apath);

    // An unknown local code in a coded element value the template constrains.
    if let Some((n, _)) = elements.iter().find(|(n, v)| {
        v["value"]["defining_code"]["terminology_id"]["value"] == "local"
            && constraints_at(&format!("{}/value/defining_code", n.apath))
                .iter()
                .any(|c| matches!(&c.kind, CObjectKind::CodePhrase(cp) if cp.reference_set_uri.is_none()))
    }) {
        let mut d = doc.clone();
        get_mut(&mut d, &n.steps)["value"]["defining_code"]["code_string"] = json!("at9999");
        push("unknown_local_code", d, format!("{}/value", n.ipath));
    }

    // A DV_QUANTITY replaced by another data type.
    if let Some((n, _)) = elements.iter().find(|(n, v)| {
        ty(&v["value"]) == "DV_QUANTITY"
            && !constraints_at(&format!("{}/value", n.apath))
                .iter()
                .any(|c| c.base_rm_type() == "DV_BOOLEAN")
    }) {
        let mut d = doc.clone();
        get_mut(&mut d, &n.steps)["value"] = json!({"_type": "DV_BOOLEAN", "value": true});
        push("quantity_replaced", d, format!("{}/value", n.ipath));
    }

    // An element with an unknown node id.
    if let Some((n, _)) = elements.first() {
        let mut d = doc.clone();
        get_mut(&mut d, &n.steps)["archetype_node_id"] = json!("at9999");
        push("unknown_node_id", d, n.ipath.clone());
    }

    // A malformed date-time.
    if let Some((n, _)) = nodes.iter().find(|(_, v)| ty(v) == "DV_DATE_TIME") {
        let mut d = doc.clone();
        get_mut(&mut d, &n.steps)["value"] = json!("2021-13-45T99:99:00");
        push("malformed_date_time", d, format!("{}/value", n.ipath));
    }

    // Too many occurrences of a single-occurrence element inside a list.
    if let Some((n, v)) = elements.iter().find(|(n, _)| {
        matches!(n.steps.last(), Some(Step::Index(_)))
            && !constraints_at(&n.apath).is_empty()
            && constraints_at(&n.apath)
                .iter()
                .all(|c| c.occurrences.max_count() == Some(1))
    }) {
        let mut d = doc.clone();
        let (parent_steps, idx) = match n.steps.split_last() {
            Some((Step::Index(i), rest)) => (rest.to_vec(), *i),
            _ => unreachable!(),
        };
        let list = get_mut(&mut d, &parent_steps).as_array_mut().unwrap();
        list.insert(idx + 1, (*v).clone());
        let parent_ipath = n
            .ipath
            .rsplit_once('[')
            .map(|(p, _)| p.to_owned())
            .unwrap_or_default();
        push("too_many_occurrences", d, parent_ipath);
    }

    // A mandatory element removed (the only member matching a 1..* constraint).
    if let Some((n, v)) = elements.iter().find(|(n, v)| {
        let cs = constraints_at(&n.apath);
        matches!(n.steps.last(), Some(Step::Index(_)))
            && !cs.is_empty()
            && cs
                .iter()
                .all(|c| c.occurrences.min_count() >= 1 && c.attribute("name").is_none())
            && elements.iter().filter(|(m, _)| m.apath == n.apath).count() == 1
            && v.get("archetype_node_id").is_some()
    }) {
        let _ = v;
        let mut d = doc.clone();
        let (parent_steps, idx) = match n.steps.split_last() {
            Some((Step::Index(i), rest)) => (rest.to_vec(), *i),
            _ => unreachable!(),
        };
        get_mut(&mut d, &parent_steps)
            .as_array_mut()
            .unwrap()
            .remove(idx);
        let parent_ipath = n
            .ipath
            .rsplit_once('[')
            .map(|(p, _)| p.to_owned())
            .unwrap_or_default();
        // When the list becomes empty the attribute disappears; the issue names the list.
        push("mandatory_removed", d, parent_ipath);
    }

    // Quantity units and magnitudes the template does not allow.
    let quantity_items = |apath: &str| {
        constraints_at(&format!("{apath}/value"))
            .into_iter()
            .filter_map(|c| match &c.kind {
                CObjectKind::DvQuantity(q) if !q.list.is_empty() => Some(q.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    if let Some((n, _)) = elements
        .iter()
        .find(|(n, v)| ty(&v["value"]) == "DV_QUANTITY" && !quantity_items(&n.apath).is_empty())
    {
        let mut d = doc.clone();
        get_mut(&mut d, &n.steps)["value"]["units"] = json!("cdr-not-a-unit");
        push("unit_not_listed", d, format!("{}/value/units", n.ipath));
    }
    for (n, v) in &elements {
        if ty(&v["value"]) != "DV_QUANTITY" {
            continue;
        }
        let units = v["value"]["units"].as_str().unwrap_or_default();
        let bound = quantity_items(&n.apath)
            .iter()
            .flat_map(|q| q.list.clone())
            .find_map(|i| {
                (i.units == units).then_some(())?;
                let m = i.magnitude?;
                m.upper.map(|u| u + 1.0e6).or(m.lower.map(|l| l - 1.0e6))
            });
        if let Some(bad) = bound {
            let mut d = doc.clone();
            get_mut(&mut d, &n.steps)["value"]["magnitude"] = json!(bad);
            push(
                "magnitude_out_of_range",
                d,
                format!("{}/value/magnitude", n.ipath),
            );
            break;
        }
    }
    out
}

#[test]
fn broken_compositions_are_rejected_at_the_broken_node() {
    let Some(cases) = corpus::cases() else { return };
    let templates = corpus::templates();
    let mut applied: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in cases.iter().filter(|c| c.valid && c.format == "json") {
        let Ok(bytes) = std::fs::read(&case.path) else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        // The corpus test checks that every file the manifest marks valid decodes and
        // validates; a failure there is not repeated here.
        let Ok(base) = cdr_rm::from_json::<Composition>(&bytes) else {
            continue;
        };
        let t = &templates[&case.slug];
        if !cdr_validation::validate(t, &base).is_empty() {
            continue;
        }
        for m in mutations(&doc, t) {
            *applied.entry(m.kind).or_default() += 1;
            let c: Composition = match cdr_rm::json::from_json_value(m.doc) {
                Ok(c) => c,
                Err(e) => {
                    failures.push(format!(
                        "{} {}: mutated document does not decode: {e}",
                        case.path.display(),
                        m.kind
                    ));
                    continue;
                }
            };
            let issues = cdr_validation::validate(t, &c);
            if !issues.iter().any(|i| i.path.starts_with(&m.expect_prefix)) {
                failures.push(format!(
                    "{} {}: expected an issue at {}, got [{}]",
                    case.path.display(),
                    m.kind,
                    m.expect_prefix,
                    issues
                        .iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
        }
    }
    eprintln!("mutations applied: {applied:?}");
    for kind in [
        "rm_mandatory_removed",
        "archetype_swapped",
        "unknown_local_code",
        "quantity_replaced",
        "unknown_node_id",
        "malformed_date_time",
        "too_many_occurrences",
        "mandatory_removed",
        "unit_not_listed",
        "magnitude_out_of_range",
    ] {
        assert!(
            applied.get(kind).copied().unwrap_or(0) > 0,
            "mutation {kind} was never applied"
        );
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
