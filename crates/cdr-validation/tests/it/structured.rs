//! STRUCTURED compositions of the corpus: converted to canonical JSON through the template's
//! web template, decoded and validated; round trips through STRUCTURED; and every corpus FLAT
//! file regrouped as STRUCTURED gives the composition its FLAT gives.

use cdr_forms::flat::flat_to_canonical;
use cdr_forms::structured::{
    canonical_to_structured, flat_to_structured, read_structured, structured_to_canonical,
};
use cdr_template::Template;
use serde_json::Value;

use crate::flat::{canonical_round_trips, form_round_trips, judge_corpus, read, validated, NOW};

fn judge(template: &Template, bytes: &[u8]) -> Result<Value, String> {
    let structured: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    read(read_structured(template, &structured, NOW), template)
}

/// canonical → STRUCTURED → canonical.
pub fn through_structured(template: &Template, c: &Value) -> Result<Value, String> {
    let s = canonical_to_structured(template, c).map_err(|e| format!("to STRUCTURED: {e}"))?;
    structured_to_canonical(template, &s, NOW).map_err(|e| format!("back: {e}"))
}

#[test]
fn corpus_structured_compositions_convert_and_validate() {
    judge_corpus("structured", judge);
}

/// STRUCTURED → canonical → STRUCTURED → canonical gives the same composition.
#[test]
fn corpus_structured_round_trips() {
    form_round_trips("structured", judge, through_structured);
}

/// canonical → STRUCTURED → canonical gives the same composition (same exceptions as FLAT).
#[test]
fn corpus_canonical_round_trips_through_structured() {
    canonical_round_trips(through_structured);
}

/// Every corpus FLAT file, regrouped as STRUCTURED, converts as its FLAT does: to the same
/// composition when the FLAT converts and validates, to problems when it does not.
#[test]
fn corpus_flat_files_as_structured() {
    judge_corpus("flat", |template, bytes| {
        let flat: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let map = flat.as_object().ok_or("not a JSON object")?;
        let structured = flat_to_structured(map).map_err(|e| format!("regroup: {e}"))?;
        let canonical = structured_to_canonical(template, &structured, NOW)
            .map_err(|e| format!("convert: {e}"))?;
        if let Ok(direct) = flat_to_canonical(template, map, NOW) {
            if direct != canonical {
                return Err("STRUCTURED gives another composition than FLAT".into());
            }
        }
        validated(template, canonical)
    });
}
