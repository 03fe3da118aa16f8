//! cdr-rm's JSON reader against serde_json's: on every canonical JSON composition of the corpus
//! and on damaged copies of a small one, `from_json` must give what serde_json's `from_str`
//! (cdr-rm's decoding before it had its own reader) gives through the same visitors: the same
//! value, or an error with the same message, line and column.

use crate::corpus;
use cdr_rm::{from_json, to_json, Composition, JsonConfig};
use serde::de::DeserializeOwned;

type Outcome<T> = Result<T, (String, usize, usize)>;

/// What `from_json` gave when it decoded through serde_json.
fn through_serde_json<T: DeserializeOwned>(bytes: &[u8]) -> Outcome<T> {
    let result = match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    };
    result.map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let message = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
        (message, line, column)
    })
}

/// Differences between the two readers on `bytes`, described.
fn difference<T: DeserializeOwned + PartialEq + std::fmt::Debug>(bytes: &[u8]) -> Option<String> {
    let ours: Outcome<T> = from_json(bytes).map_err(|e| (e.message, e.line, e.column));
    let theirs = through_serde_json::<T>(bytes);
    if ours == theirs {
        return None;
    }
    let shown = |r: &Outcome<T>| match r {
        Ok(_) => "Ok(..)".to_owned(),
        Err(e) => format!("Err({e:?})"),
    };
    Some(format!(
        "{:?}: ours {} serde_json {}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(80)]),
        shown(&ours),
        shown(&theirs)
    ))
}

#[test]
fn same_result_as_serde_json_on_the_corpus() {
    let mut diffs = Vec::new();
    for f in corpus::canonical("json") {
        let bytes = std::fs::read(&f.path).unwrap();
        if let Some(d) = difference::<Composition>(&bytes) {
            diffs.push(format!("{}: {d}", f.path.display()));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// Bytes that change JSON structure, escapes, numbers and literals.
const SUBSTITUTES: &[u8] = b"\"{}[]:,0-.e+a_\\/u\n \t\x01\xff\xc3n";

#[test]
fn same_result_as_serde_json_on_damaged_documents() {
    let c: Composition = from_json(
        r#"{"_type":"COMPOSITION","name":{"value":"Caf\u00e9 \"x\"\n"},
        "archetype_node_id":"openEHR-EHR-COMPOSITION.encounter.v1",
        "language":{"terminology_id":{"value":"ISO_639-1"},"code_string":"en"},
        "territory":{"terminology_id":{"value":"ISO_3166-1"},"code_string":"DE"},
        "category":{"value":"event","defining_code":{"terminology_id":{"value":"openehr"},
        "code_string":"433"}},"composer":{"_type":"PARTY_SELF"},
        "content":[{"_type":"OBSERVATION","name":{"value":"Ü 😀"},"archetype_node_id":"at1",
        "language":{"terminology_id":{"value":"ISO_639-1"},"code_string":"en"},
        "encoding":{"terminology_id":{"value":"IANA_character-sets"},"code_string":"UTF-8"},
        "subject":{"_type":"PARTY_SELF"},"data":{"name":{"value":"h"},"archetype_node_id":"at2",
        "origin":{"value":"2024-01-01"},"events":[{"_type":"POINT_EVENT","name":{"value":"e"},
        "archetype_node_id":"at3","time":{"value":"2024-01-01"},"data":{"_type":"ITEM_TREE",
        "name":{"value":"t"},"archetype_node_id":"at4","items":[{"_type":"ELEMENT",
        "name":{"value":"q"},"archetype_node_id":"at5","value":{"_type":"DV_QUANTITY",
        "magnitude":-12.5e-1,"units":"kg","precision":0}},{"_type":"ELEMENT",
        "name":{"value":"c"},"archetype_node_id":"at6","value":{"_type":"DV_COUNT",
        "magnitude":-3}}]}}]}}]}"#
            .as_bytes(),
    )
    .unwrap();
    let compact = to_json(&c, &JsonConfig::MINIMAL);
    let pretty = cdr_rm::json::to_json_pretty(&c, &JsonConfig::CANONICAL);
    let mut diffs = Vec::new();
    let mut check = |bytes: &[u8]| {
        if let Some(d) = difference::<Composition>(bytes) {
            diffs.push(d);
        }
    };
    for input in [&compact, &pretty] {
        for cut in 0..input.len() {
            check(&input[..cut]);
        }
        for i in 0..input.len() {
            // A rotating share of the substitutes at each position, to keep the test quick.
            for k in 0..6 {
                let b = SUBSTITUTES[(i * 6 + k) % SUBSTITUTES.len()];
                if input[i] != b {
                    let mut v = input.clone();
                    v[i] = b;
                    check(&v);
                }
            }
            let mut v = input.clone();
            v.remove(i);
            check(&v);
        }
    }
    // Escapes, numbers and literals of every kind, in a meta key (ignored) and in values.
    for value in [
        r#""\u00e9\ud83d\ude00\/\b\f\n\r\t""#,
        r#""\ud83d""#,
        r#""\ude00""#,
        r#""\ud83dx""#,
        r#""\ud83d\u0041""#,
        r#""\u12""#,
        r#""\x""#,
        "\"\u{1}\"",
        "1e400",
        "-1e400",
        "1.5e-400",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "-0",
        "-0.0",
        "120.0",
        "0.00001",
        "1e-6",
        "1.25e-7",
        "1e15",
        "1e16",
        "12345678901234567890123",
        "01",
        "1.",
        "1.e5",
        "1e",
        "1e+",
        "-",
        "nul",
        "nulx",
        "tru",
        "[1,]",
        "{\"a\":1,}",
        "[1 2]",
        "{\"a\" 1}",
        "{1:2}",
        "[[[[]]]]",
        "{}",
        "[]",
    ] {
        for key in ["_x", "accuracy", "units", "precision"] {
            let doc =
                format!(r#"{{"_type":"DV_QUANTITY","magnitude":1,"units":"kg","{key}":{value}}}"#);
            diffs.extend(difference::<cdr_rm::DataValue>(doc.as_bytes()));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences, first ones:\n{}",
        diffs.len(),
        diffs[..diffs.len().min(30)].join("\n")
    );
}

#[test]
fn same_result_as_serde_json_when_nesting_is_deep() {
    for depth in [60usize, 62, 63, 64, 65, 100] {
        let mut inner = String::from(
            r#"{"_type":"ELEMENT","name":{"value":"leaf"},"archetype_node_id":"at1"}"#,
        );
        for _ in 0..depth {
            inner = format!(
                r#"{{"_type":"CLUSTER","name":{{"value":"c"}},"archetype_node_id":"at2","items":[{inner}]}}"#
            );
        }
        let doc = format!(
            r#"{{"_type":"OBSERVATION","archetype_node_id":"o","name":{{"value":"o"}},"data":{{"archetype_node_id":"h","name":{{"value":"h"}},"events":[{{"_type":"POINT_EVENT","archetype_node_id":"e","name":{{"value":"e"}},"data":{{"_type":"ITEM_TREE","archetype_node_id":"t","name":{{"value":"t"}},"items":[{inner}]}}}}]}}}}"#
        );
        let doc = format!(
            r#"{{"_type":"COMPOSITION","archetype_node_id":"c","name":{{"value":"c"}},"content":[{doc}],"_meta":{}{}}}"#,
            "[".repeat(depth * 2),
            "]".repeat(depth * 2)
        );
        assert_eq!(
            difference::<Composition>(doc.as_bytes()),
            None,
            "depth {depth}"
        );
    }
}

/// A type with every kind of enum variant, for the reader's enum support.
#[derive(Debug, PartialEq, serde::Deserialize)]
enum Shape {
    Unit,
    Newtype(i64),
    Tuple(u8, String),
    Struct { a: Option<bool>, b: Vec<f32> },
}

/// A struct with the serde types that RM classes do not use.
#[derive(Debug, PartialEq, serde::Deserialize)]
struct Other {
    shape: Shape,
    big: i128,
    ubig: u128,
    c: char,
    unit: (),
    pair: (i16, u32),
    map: std::collections::BTreeMap<String, Option<f64>>,
    #[serde(default)]
    rest: Vec<Shape>,
}

#[test]
fn same_result_as_serde_json_for_other_types() {
    let mut diffs = Vec::new();
    for doc in [
        r#"{"shape":"Unit","big":-170141183460469231731687303715884105728,"ubig":1,"c":"x","unit":null,"pair":[-1,2],"map":{}}"#,
        r#"{"shape":{"Newtype":-5},"big":5,"ubig":340282366920938463463374607431768211455,"c":"é","unit":null,"pair":[1,2],"map":{"a":1.5,"b":null}}"#,
        r#"{"shape":{"Tuple":[7,"s"]},"big":0,"ubig":0,"c":"\u00e9","unit":null,"pair":[0,0],"map":{},"rest":["Unit",{"Struct":{"a":true,"b":[1,2.5]}}]}"#,
        r#"{"shape":{"Struct":{"a":null,"b":[]}},"big":1,"ubig":2,"c":"ab","unit":null,"pair":[0,0],"map":{}}"#,
        r#"{"shape":"Nope","big":1,"ubig":2,"c":"a","unit":null,"pair":[0,0],"map":{}}"#,
        r#"{"shape":{"Unit":null},"big":1,"ubig":2,"c":"a","unit":null,"pair":[0,0],"map":{}}"#,
        r#"{"shape":{"Newtype":1,"x":2},"big":1,"ubig":2,"c":"a","unit":null,"pair":[0,0],"map":{}}"#,
        r#"{"shape":"Unit","big":1.5,"ubig":-2,"c":"a","unit":0,"pair":[0,0,0],"map":[]}"#,
        r#"{"shape":"Unit","big":1,"ubig":2,"c":"a","unit":null,"pair":[70000,0],"map":{}}"#,
        r#"{"shape":"Unit","big":"1","ubig":2,"c":"a","unit":null,"pair":[0,0],"map":{}}"#,
        r#"{"shape":"Unit","big":-,"ubig":2,"c":"a","unit":null,"pair":[0,0],"map":{}}"#,
        r#"{"shape":"Unit","big":01,"ubig":2,"c":"a","unit":null,"pair":[0,0],"map":{}}"#,
        r#"{"shape":"Unit","big":1,"ubig":-1,"c":"a","unit":null,"pair":[0,0],"map":{}}"#,
        r#"{"shape":"Unit","big":1,"ubig":340282366920938463463374607431768211456,"c":"a"}"#,
        r#"{"shape":"Unit","big":1,"ubig":"#,
        r#"{"shape":"Unit","big":1,"ubig":2,"c":"a","unit":null,"pair":{"0":1},"map":{"k":"v"}}"#,
    ] {
        diffs.extend(difference::<Other>(doc.as_bytes()));
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
