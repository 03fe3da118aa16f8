//! RESULT_SET cells as EHRbase writes them: whole RM objects are canonical JSON, but `_type` is
//! left out of the objects whose declared type is ARCHETYPED, ARCHETYPE_ID, TEMPLATE_ID, LINK or
//! HISTORY (EHRbase's SDK writes `_type` everywhere else, the root included). ITS-JSON allows it:
//! none of these types has subtypes, so `_type` is optional where one of them is declared.
//!
//! Cells hold the stored documents as text (or PostgreSQL's jsonb text, keys in any order), so
//! the members are cut out of the text without decoding it: each `"_type"` key is found with a
//! substring search, and only its own object's surroundings are looked at. Whether a type is
//! declared follows from the object's own `_type`: ARCHETYPED, LINK and HISTORY are only ever
//! declared as themselves (`archetype_details`, `links`, `OBSERVATION.data`/`state`);
//! ARCHETYPE_ID and TEMPLATE_ID also fill attributes declared OBJECT_ID (`OBJECT_REF.id`),
//! where `_type` stays, so they lose it only as `ARCHETYPED.archetype_id` and `template_id`
//! (written first in their object, as both cdr and jsonb write it) and as a cell's root.

use memchr::memmem;

/// Types whose `_type` is left out wherever they are.
const ALWAYS_DECLARED: [&[u8]; 3] = [b"ARCHETYPED", b"LINK", b"HISTORY"];
/// Types whose `_type` is left out where their own attribute holds them (the key, quoted).
const DECLARED_UNDER: [(&[u8], &[u8]); 2] = [
    (b"ARCHETYPE_ID", b"\"archetype_id\""),
    (b"TEMPLATE_ID", b"\"template_id\""),
];

/// Appends the cell text to `out` with the `_type` members EHRbase leaves out cut; whether any
/// was.
pub(crate) fn write_cell(out: &mut String, text: &str) -> bool {
    let b = text.as_bytes();
    let first = b.iter().position(|c| !c.is_ascii_whitespace());
    if !matches!(first.map(|i| b[i]), Some(b'{' | b'[')) {
        out.push_str(text);
        return false;
    }
    let mut from = 0;
    for at in memmem::find_iter(b, b"\"_type\"") {
        // Cuts follow the text; a second `_type` in one object (never written) cannot overlap.
        if let Some((a, z)) = cut_at(b, at).filter(|(a, _)| *a >= from) {
            out.push_str(&text[from..a]);
            from = z;
        }
    }
    out.push_str(&text[from..]);
    from > 0
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The last position before `i` that is not whitespace.
fn back_ws(b: &[u8], i: usize) -> Option<usize> {
    b[..i].iter().rposition(|c| !c.is_ascii_whitespace())
}

/// The range to cut for the `"_type"` found at `at`, if its member is one to leave out.
fn cut_at(b: &[u8], at: usize) -> Option<(usize, usize)> {
    // A quote preceded by an odd run of backslashes is inside a string.
    let slashes = b[..at].iter().rev().take_while(|&&c| c == b'\\').count();
    if slashes % 2 == 1 {
        return None;
    }
    // `"_type" : "NAME"`: a key with a string value (type names have no escapes).
    let colon = skip_ws(b, at + 7);
    if b.get(colon) != Some(&b':') {
        return None;
    }
    let open = skip_ws(b, colon + 1);
    if b.get(open) != Some(&b'"') {
        return None;
    }
    let len = b[open + 1..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\')?;
    let name = &b[open + 1..open + 1 + len];
    let end = open + len + 2;
    if b.get(end - 1) != Some(&b'"') {
        return None;
    }
    let before = back_ws(b, at)?;
    let leave_out = ALWAYS_DECLARED.contains(&name)
        || DECLARED_UNDER
            .iter()
            .any(|(t, key)| *t == name && b[before] == b'{' && held_by(b, before, key));
    if !leave_out {
        return None;
    }
    let next = skip_ws(b, end);
    Some(match (b.get(next), b[before]) {
        // With the comma after it.
        (Some(b','), _) => (at, skip_ws(b, next + 1)),
        // The last member: with the comma before it.
        (_, b',') => (before, end),
        // The only member.
        _ => (at, end),
    })
}

/// Whether the object opening at `brace` is the cell's root or the value of member `key`.
fn held_by(b: &[u8], brace: usize, key: &[u8]) -> bool {
    match back_ws(b, brace) {
        None => true,
        Some(colon) if b[colon] == b':' => {
            back_ws(b, colon).is_some_and(|q| b[..=q].ends_with(key))
        }
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::write_cell;

    /// The cell text with the `_type` members EHRbase leaves out cut.
    fn ehrbase_type_tags(text: &str) -> Cow<'_, str> {
        let mut out = String::new();
        if write_cell(&mut out, text) {
            Cow::Owned(out)
        } else {
            Cow::Borrowed(text)
        }
    }

    fn tags(s: &str) -> String {
        let out = ehrbase_type_tags(s).into_owned();
        serde_json::from_str::<serde_json::Value>(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        out
    }

    #[test]
    fn declared_types_lose_their_tag_others_keep_it() {
        let doc = r#"{"_type":"COMPOSITION","name":{"_type":"DV_TEXT","value":"x"},"archetype_details":{"_type":"ARCHETYPED","archetype_id":{"_type":"ARCHETYPE_ID","value":"a"},"template_id":{"_type":"TEMPLATE_ID","value":"t"},"rm_version":"1.0.4"},"language":{"_type":"CODE_PHRASE","terminology_id":{"_type":"TERMINOLOGY_ID","value":"ISO_639-1"},"code_string":"en"},"content":[{"_type":"OBSERVATION","data":{"_type":"HISTORY","origin":{"_type":"DV_DATE_TIME","value":"2024"}},"links":[{"_type":"LINK","target":{"_type":"DV_EHR_URI","value":"ehr:x"}}]}]}"#;
        assert_eq!(
            tags(doc),
            r#"{"_type":"COMPOSITION","name":{"_type":"DV_TEXT","value":"x"},"archetype_details":{"archetype_id":{"value":"a"},"template_id":{"value":"t"},"rm_version":"1.0.4"},"language":{"_type":"CODE_PHRASE","terminology_id":{"_type":"TERMINOLOGY_ID","value":"ISO_639-1"},"code_string":"en"},"content":[{"_type":"OBSERVATION","data":{"origin":{"_type":"DV_DATE_TIME","value":"2024"}},"links":[{"target":{"_type":"DV_EHR_URI","value":"ehr:x"}}]}]}"#
        );
    }

    #[test]
    fn roots_are_declared_as_what_they_are() {
        assert_eq!(
            tags(r#"{"_type":"HISTORY","events":[]}"#),
            r#"{"events":[]}"#
        );
        assert_eq!(
            tags(r#"{"_type":"ARCHETYPE_ID","value":"a"}"#),
            r#"{"value":"a"}"#
        );
        assert_eq!(
            tags(r#"[{"_type":"LINK","type":{"_type":"DV_TEXT","value":"t"}}]"#),
            r#"[{"type":{"_type":"DV_TEXT","value":"t"}}]"#
        );
        let status = r#"{"_type":"EHR_STATUS","is_queryable":true}"#;
        assert_eq!(tags(status), status);
        assert!(matches!(
            ehrbase_type_tags(status),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    /// An ARCHETYPE_ID where OBJECT_ID is declared keeps its tag: there it is required.
    #[test]
    fn object_ids_keep_their_tag_where_object_id_is_declared() {
        let r = r#"{"_type":"PARTY_REF","id":{"_type":"ARCHETYPE_ID","value":"a"},"type":"X"}"#;
        assert_eq!(tags(r), r);
    }

    /// PostgreSQL's jsonb text: spaces after `:` and `,`, keys in its own order, `_type` first,
    /// in the middle, last or alone; escapes in strings.
    #[test]
    fn any_layout_and_position() {
        assert_eq!(
            tags(
                r#"{"rm_version": "1.0.4", "_type": "ARCHETYPED", "archetype_id": {"_type": "ARCHETYPE_ID", "value": "a\"b"}}"#
            ),
            r#"{"rm_version": "1.0.4", "archetype_id": {"value": "a\"b"}}"#
        );
        // `"_type"` inside a string is text, not a member.
        let quoted = r#"{"_type":"DV_TEXT","value":"\"_type\":\"HISTORY\""}"#;
        assert_eq!(tags(quoted), quoted);
        assert_eq!(
            tags(r#"{ "data" : { "_type" : "HISTORY" } , "x" : [1, 2.5e3, null, true] }"#),
            r#"{ "data" : {  } , "x" : [1, 2.5e3, null, true] }"#
        );
        assert_eq!(
            tags(r#"{"archetype_details": {"_type": "ARCHETYPED"}, "_type": "CLUSTER"}"#),
            r#"{"archetype_details": {}, "_type": "CLUSTER"}"#
        );
        for plain in ["120.5", "\"HISTORY\"", "null", "{}", "[]", "{\"_type\": 1}"] {
            assert_eq!(tags(plain), plain);
        }
    }
}
