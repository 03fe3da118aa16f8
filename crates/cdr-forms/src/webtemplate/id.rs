//! Node ids: the FLAT path segments, derived from node names.

/// The web-template id for a node name, as published web templates derive it:
/// every character that is not a letter, an ASCII digit, `.`, `_` or `-` becomes a space;
/// runs of whitespace collapse to one `_` and the ends are trimmed; the result is lower-cased,
/// and prefixed with `a` when it starts with a digit (`1st visit` → `a1st_visit`). A name
/// with nothing usable gives `id`.
pub fn node_id_from_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_space = false;
    for c in name.chars() {
        let keep = c.is_alphabetic() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
        if keep {
            if pending_space && !out.is_empty() {
                out.push('_');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    if out.is_empty() {
        return "id".to_owned();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'a');
    }
    out
}

/// Makes sibling ids unique in order: the second `x` becomes `x2`, the third `x3`, … (the
/// first keeps its id).
pub(crate) fn make_unique(ids: &mut [&mut String]) {
    let mut seen: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    for id in ids.iter_mut() {
        let n = seen.entry((**id).clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            id.push_str(&n.to_string());
        }
    }
}
