//! Input widgets: the FLAT attributes of a node's value, with the lists, ranges and patterns
//! the template allows.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::{Input, InputValue, Range, Validation};
use cdr_template::{
    CCodePhrase, CDvOrdinal, CDvQuantity, CObject, CObjectKind, CPrimitive, DefaultValue, Interval,
    Term,
};

/// What inputs are resolved against.
#[derive(Debug, Clone, Copy)]
pub(super) struct InputContext<'t> {
    pub lang: &'t str,
    /// The local terms of the enclosing archetype.
    pub terms: Option<&'t HashMap<String, Term>>,
    /// The template's default value for this node's value.
    pub default: Option<&'t DefaultValue>,
}

impl<'t> InputContext<'t> {
    pub(super) fn empty(lang: &'t str) -> Self {
        InputContext {
            lang,
            terms: None,
            default: None,
        }
    }

    fn term(&self, code: &str) -> Option<&'t Term> {
        self.terms.and_then(|t| t.get(code))
    }

    fn default_field(&self, field: &str) -> Option<&'t str> {
        self.default?
            .fields
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.as_str())
    }
}

fn input(suffix: Option<&str>, kind: &str) -> Input {
    Input {
        suffix: suffix.map(str::to_owned),
        kind: kind.to_owned(),
        list: Vec::new(),
        list_open: None,
        terminology: None,
        validation: None,
        default_value: None,
    }
}

/// The inputs of a PARTY_PROXY.
pub(super) fn party() -> Vec<Input> {
    ["id", "id_scheme", "id_namespace", "name"]
        .into_iter()
        .map(|s| input(Some(s), "TEXT"))
        .collect()
}

/// The primitive constraint on attribute `name` of a complex object, if any.
fn primitive<'a>(obj: Option<&'a CObject>, name: &str) -> Option<&'a CPrimitive> {
    obj?.attribute(name)?
        .children
        .iter()
        .find_map(|c| match &c.kind {
            CObjectKind::Primitive(p) => Some(p),
            _ => None,
        })
}

/// The code phrase constraint on attribute `name` of a complex object, if any.
fn code_phrase<'a>(obj: Option<&'a CObject>, name: &str) -> Option<&'a CCodePhrase> {
    obj?.attribute(name)?
        .children
        .iter()
        .find_map(|c| match &c.kind {
            CObjectKind::CodePhrase(p) => Some(p),
            _ => None,
        })
}

/// The inputs of a data value node (and the proportion kinds of a DV_PROPORTION).
/// `attribute` and `owner` name where the value sits (`category` of `COMPOSITION`), which
/// decides the openEHR code group of coded values.
pub(super) fn for_value(
    rm_type: &str,
    obj: Option<&CObject>,
    attribute: &str,
    owner: &str,
    cx: &InputContext<'_>,
) -> (Vec<Input>, Vec<String>) {
    let base = cdr_rm::meta::base_type_name(rm_type);
    let mut proportion_types = Vec::new();
    let mut inputs = match (base, obj.map(|o| &o.kind)) {
        ("DV_QUANTITY", Some(CObjectKind::DvQuantity(q))) => quantity(q, cx),
        ("DV_QUANTITY", _) => vec![
            input(Some("magnitude"), "DECIMAL"),
            input(Some("unit"), "TEXT"),
        ],
        ("DV_ORDINAL", Some(CObjectKind::DvOrdinal(o))) => vec![ordinal(o, cx)],
        ("DV_ORDINAL", _) => vec![input(None, "CODED_TEXT")],
        ("CODE_PHRASE", Some(CObjectKind::CodePhrase(cp))) => {
            code_inputs(Some(cp), attribute, owner, cx)
        }
        ("CODE_PHRASE", _) => Vec::new(),
        ("DV_CODED_TEXT", _) => {
            code_inputs(code_phrase(obj, "defining_code"), attribute, owner, cx)
        }
        ("DV_TEXT", _) | ("STRING", _) => {
            let mut i = string_input(primitive(obj, "value").or_else(|| {
                obj.and_then(|o| match &o.kind {
                    CObjectKind::Primitive(p) => Some(p),
                    _ => None,
                })
            }));
            if let Some(v) = cx.default_field("value") {
                i.default_value = Some(Value::String(v.to_owned()));
            }
            vec![i]
        }
        ("DV_URI" | "DV_EHR_URI" | "DV_MULTIMEDIA", _) => vec![input(None, "TEXT")],
        ("DV_BOOLEAN", _) => vec![boolean(primitive(obj, "value"))],
        ("DV_COUNT", _) => {
            let mut i = input(None, "INTEGER");
            if let Some(CPrimitive::Integer { range: Some(r), .. }) = primitive(obj, "magnitude") {
                i.validation = Some(range_validation(integer_range(r)));
            }
            vec![i]
        }
        ("DV_DATE", _) => vec![temporal(primitive(obj, "value"), "DATE")],
        ("DV_TIME", _) => vec![temporal(primitive(obj, "value"), "TIME")],
        ("DV_DATE_TIME", _) => vec![temporal(primitive(obj, "value"), "DATETIME")],
        ("DV_DURATION", _) => duration(primitive(obj, "value")),
        ("DV_PROPORTION", _) => {
            let (i, kinds) = proportion(obj, cx);
            proportion_types = kinds;
            i
        }
        ("DV_IDENTIFIER", _) => ["id", "type", "issuer", "assigner"]
            .into_iter()
            .map(|s| input(Some(s), "TEXT"))
            .collect(),
        ("DV_PARSABLE", _) => vec![
            input(Some("value"), "TEXT"),
            input(Some("formalism"), "TEXT"),
        ],
        ("DV_STATE", _) => vec![input(Some("code"), "TEXT"), input(Some("value"), "TEXT")],
        _ => Vec::new(),
    };
    if let Some(code) = cx.default_field("defining_code") {
        if let Some(i) = inputs.iter_mut().find(|i| {
            i.suffix.as_deref() == Some("code") || (base == "DV_ORDINAL" && i.suffix.is_none())
        }) {
            i.default_value = Some(Value::String(code.to_owned()));
        }
    }
    (inputs, proportion_types)
}

/// DV_CODED_TEXT that may also be plain text: the code list is open and free text goes to
/// `|other`.
pub(super) fn open_coded_text(inputs: &mut Vec<Input>) {
    if let Some(code) = inputs
        .iter_mut()
        .find(|i| i.suffix.as_deref() == Some("code"))
    {
        code.list_open = Some(true);
    }
    inputs.retain(|i| i.suffix.as_deref() != Some("value"));
    inputs.push(input(Some("other"), "TEXT"));
}

fn code_inputs(
    cp: Option<&CCodePhrase>,
    attribute: &str,
    owner: &str,
    cx: &InputContext<'_>,
) -> Vec<Input> {
    let Some(cp) = cp else {
        return vec![input(Some("code"), "TEXT"), input(Some("value"), "TEXT")];
    };
    let terminology = match &cp.reference_set_uri {
        Some(uri) => Some(uri.strip_prefix("terminology:").unwrap_or(uri).to_owned()),
        None => cp.terminology_id.clone(),
    }
    .filter(|t| !t.is_empty());
    let mut code = input(Some("code"), "CODED_TEXT");
    if let Some((c, _)) = &cp.assumed {
        code.default_value = Some(Value::String(c.clone()));
    }
    match terminology.as_deref() {
        Some("openehr") => {
            let group = cdr_rm::terminology::openehr_group(owner, attribute).map(|(_, g)| g);
            let codes: Vec<String> = if cp.code_list.is_empty() {
                group
                    .map(|g| g.iter().map(|(c, _)| (*c).to_owned()).collect())
                    .unwrap_or_default()
            } else {
                cp.code_list.clone()
            };
            for c in codes {
                let label = group
                    .and_then(|g| cdr_rm::terminology::rubric(g, &c))
                    .unwrap_or_default()
                    .to_owned();
                code.list.push(InputValue {
                    localized_labels: labels(cx.lang, &label),
                    value: c,
                    label,
                    ordinal: None,
                    localized_descriptions: BTreeMap::new(),
                    current_states: Vec::new(),
                    validation: None,
                });
            }
            code.terminology = Some("openehr".to_owned());
        }
        t => {
            let local = matches!(t, None | Some("local"));
            for c in &cp.code_list {
                let term = cx.term(c).or_else(|| match t {
                    Some(t) if !local => cx.term(&format!("{t}::{c}")),
                    _ => None,
                });
                let Some(term) = term else { continue };
                code.list.push(InputValue {
                    value: c.clone(),
                    label: term.text.clone(),
                    ordinal: None,
                    localized_labels: labels(cx.lang, &term.text),
                    localized_descriptions: labels(cx.lang, &term.description),
                    current_states: Vec::new(),
                    validation: None,
                });
            }
            if !local {
                code.terminology = t.map(str::to_owned);
            }
        }
    }
    if code.list.is_empty() {
        code.kind = "TEXT".to_owned();
        code.terminology = terminology.clone();
        let mut value = input(Some("value"), "TEXT");
        value.terminology = terminology;
        return vec![code, value];
    }
    vec![code]
}

fn labels(lang: &str, text: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(lang.to_owned(), text.to_owned())])
}

fn quantity(q: &CDvQuantity, cx: &InputContext<'_>) -> Vec<Input> {
    let mut magnitude = input(Some("magnitude"), "DECIMAL");
    let mut unit = input(Some("unit"), "CODED_TEXT");
    if let Some((m, u)) = &q.assumed {
        magnitude.default_value = Some(real(*m));
        unit.default_value = Some(Value::String(u.clone()));
    }
    if let Some(m) = cx.default_field("magnitude") {
        magnitude.default_value = m.parse::<f64>().ok().map(real);
    }
    if let Some(u) = cx.default_field("units") {
        unit.default_value = Some(Value::String(u.to_owned()));
    }
    for item in &q.list {
        let range = item.magnitude.as_ref().map(real_range);
        let precision = item.precision.as_ref().map(integer_range);
        let validation = (range.is_some() || precision.is_some()).then_some(Validation {
            range,
            precision,
            pattern: None,
        });
        unit.list.push(InputValue {
            value: item.units.clone(),
            label: item.units.clone(),
            ordinal: None,
            localized_labels: BTreeMap::new(),
            localized_descriptions: BTreeMap::new(),
            current_states: Vec::new(),
            validation,
        });
    }
    if let [only] = unit.list.as_slice() {
        magnitude.validation = only.validation.clone();
    }
    vec![magnitude, unit]
}

fn ordinal(o: &CDvOrdinal, cx: &InputContext<'_>) -> Input {
    let mut i = input(None, "CODED_TEXT");
    for item in &o.list {
        let term = cx.term(&item.code_string);
        let text = term.map(|t| t.text.clone()).unwrap_or_default();
        i.list.push(InputValue {
            value: item.code_string.clone(),
            localized_labels: labels(cx.lang, &text),
            label: text,
            ordinal: Some(item.value),
            localized_descriptions: labels(
                cx.lang,
                term.map(|t| t.description.as_str()).unwrap_or_default(),
            ),
            current_states: Vec::new(),
            validation: None,
        });
    }
    if let Some(v) = o.assumed {
        if let Some(item) = o.list.iter().find(|it| it.value == v) {
            i.default_value = Some(Value::String(item.code_string.clone()));
        }
    }
    i
}

fn string_input(p: Option<&CPrimitive>) -> Input {
    let mut i = input(None, "TEXT");
    if let Some(CPrimitive::String {
        pattern,
        list,
        list_open,
        assumed,
    }) = p
    {
        for v in list {
            i.list.push(InputValue {
                value: v.clone(),
                label: v.clone(),
                ordinal: None,
                localized_labels: BTreeMap::new(),
                localized_descriptions: BTreeMap::new(),
                current_states: Vec::new(),
                validation: None,
            });
        }
        i.list_open = Some(*list_open);
        if let Some(p) = pattern.as_ref().filter(|p| !p.is_empty()) {
            i.validation = Some(Validation {
                range: None,
                precision: None,
                pattern: Some(p.clone()),
            });
        }
        if let Some(a) = assumed {
            i.default_value = Some(Value::String(a.clone()));
        }
    }
    i
}

fn boolean(p: Option<&CPrimitive>) -> Input {
    let mut i = input(None, "BOOLEAN");
    if let Some(CPrimitive::Boolean {
        true_valid,
        false_valid,
        ..
    }) = p
    {
        if true_valid != false_valid {
            let v = true_valid.to_string();
            i.list.push(InputValue {
                value: v.clone(),
                label: v,
                ordinal: None,
                localized_labels: BTreeMap::new(),
                localized_descriptions: BTreeMap::new(),
                current_states: Vec::new(),
                validation: None,
            });
        }
    }
    i
}

fn temporal(p: Option<&CPrimitive>, kind: &str) -> Input {
    let mut i = input(None, kind);
    let pattern = match p {
        Some(
            CPrimitive::Date { pattern, .. }
            | CPrimitive::Time { pattern, .. }
            | CPrimitive::DateTime { pattern, .. },
        ) => pattern.clone(),
        _ => None,
    };
    if let Some(pattern) = pattern.filter(|p| !p.is_empty()) {
        i.validation = Some(Validation {
            range: None,
            precision: None,
            pattern: Some(pattern),
        });
    }
    i
}

/// One INTEGER input per unit the duration pattern allows (all without a pattern), each with
/// the range's bounds for that unit.
fn duration(p: Option<&CPrimitive>) -> Vec<Input> {
    let (pattern, range) = match p {
        Some(CPrimitive::Duration { pattern, range }) => (pattern.clone(), range.clone()),
        _ => (None, None),
    };
    let pattern = pattern.filter(|p| !p.is_empty());
    let (date_part, time_part) = match &pattern {
        Some(p) => match p.find('T') {
            Some(i) => (&p[..i], &p[i..]),
            None => (p.as_str(), ""),
        },
        None => ("", ""),
    };
    let lower = range
        .as_ref()
        .and_then(|r| r.lower.as_deref())
        .map(duration_parts);
    let upper = range
        .as_ref()
        .and_then(|r| r.upper.as_deref())
        .map(duration_parts);
    // Without a pattern every unit, in this order; with one, the units it names in its order.
    let mut units = crate::flat::shapes::DURATION_UNITS.to_vec();
    if pattern.is_some() {
        let named = date_part
            .chars()
            .map(|c| (c, false))
            .chain(time_part.chars().map(|c| (c, true)));
        units = named
            .filter_map(|(c, in_time)| {
                units
                    .iter()
                    .find(|(_, s, t)| *s == c && *t == in_time)
                    .copied()
            })
            .collect();
    }
    let mut out = Vec::new();
    for (suffix, symbol, in_time) in units {
        let key = (symbol, in_time);
        let mut r = Range {
            min_op: Some(">=".to_owned()),
            min: Some(Value::from(0)),
            max_op: None,
            max: None,
        };
        if let Some(v) = lower.as_ref().and_then(|m| m.get(&key)) {
            r.min = Some(Value::from(*v));
            r.min_op = Some(
                if range.as_ref().is_some_and(|r| r.lower_included) {
                    ">="
                } else {
                    ">"
                }
                .to_owned(),
            );
        }
        if let Some(v) = upper.as_ref().and_then(|m| m.get(&key)) {
            r.max = Some(Value::from(*v));
            r.max_op = Some(
                if range.as_ref().is_some_and(|r| r.upper_included) {
                    "<="
                } else {
                    "<"
                }
                .to_owned(),
            );
        }
        let mut i = input(Some(suffix), "INTEGER");
        i.validation = Some(range_validation(r));
        out.push(i);
    }
    out
}

/// The numbers of an ISO 8601 duration by (designator, in the time part).
fn duration_parts(d: &str) -> HashMap<(char, bool), i64> {
    let mut out = HashMap::new();
    let mut in_time = false;
    let mut digits = String::new();
    for c in d.chars() {
        match c {
            'P' => {}
            'T' => in_time = true,
            '0'..='9' => digits.push(c),
            _ => {
                if let Ok(v) = digits.parse() {
                    out.insert((c, in_time), v);
                }
                digits.clear();
            }
        }
    }
    out
}

fn proportion(obj: Option<&CObject>, cx: &InputContext<'_>) -> (Vec<Input>, Vec<String>) {
    let mut numerator = input(Some("numerator"), "DECIMAL");
    let mut denominator = input(Some("denominator"), "DECIMAL");
    if let Some(CPrimitive::Real { range: Some(r), .. }) = primitive(obj, "numerator") {
        numerator.validation = Some(range_validation(real_range(r)));
    }
    if let Some(CPrimitive::Real { range: Some(r), .. }) = primitive(obj, "denominator") {
        denominator.validation = Some(range_validation(real_range(r)));
    }
    let mut kinds: Vec<String> = match primitive(obj, "type") {
        Some(CPrimitive::Integer { list, .. }) if !list.is_empty() => list
            .iter()
            .filter_map(|k| {
                usize::try_from(*k)
                    .ok()
                    .and_then(|k| super::PROPORTION_KINDS.get(k))
            })
            .map(|k| (*k).to_owned())
            .collect(),
        _ => Vec::new(),
    };
    if kinds.is_empty() {
        kinds = super::build::hash_set_order(
            super::PROPORTION_KINDS
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
        );
    } else if let [only] = kinds.as_slice() {
        let fixed = match only.as_str() {
            "unitary" => Some(1.0),
            "percent" => Some(100.0),
            _ => None,
        };
        if let Some(d) = fixed {
            denominator.validation = Some(range_validation(Range {
                min_op: Some(">=".to_owned()),
                min: Some(real(d)),
                max_op: Some("<=".to_owned()),
                max: Some(real(d)),
            }));
        }
    }
    if let Some(v) = cx.default_field("numerator") {
        numerator.default_value = v.parse::<f64>().ok().map(real);
    }
    if let Some(v) = cx.default_field("denominator") {
        denominator.default_value = v.parse::<f64>().ok().map(real);
    }
    (vec![numerator, denominator], kinds)
}

fn range_validation(r: Range) -> Validation {
    Validation {
        range: Some(r),
        precision: None,
        pattern: None,
    }
}

fn real(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn real_range(i: &Interval<f64>) -> Range {
    Range {
        min_op: i
            .lower
            .map(|_| if i.lower_included { ">=" } else { ">" }.to_owned()),
        min: i.lower.map(real),
        max_op: i
            .upper
            .map(|_| if i.upper_included { "<=" } else { "<" }.to_owned()),
        max: i.upper.map(real),
    }
}

/// An integer interval as an inclusive range (`< 5` becomes `<= 4`).
fn integer_range(i: &Interval<i64>) -> Range {
    let min = i.lower.map(|l| {
        if i.lower_included {
            l
        } else {
            l.saturating_add(1)
        }
    });
    let max = i.upper.map(|u| {
        if i.upper_included {
            u
        } else {
            u.saturating_sub(1)
        }
    });
    Range {
        min_op: min.map(|_| ">=".to_owned()),
        min: min.map(Value::from),
        max_op: max.map(|_| "<=".to_owned()),
        max: max.map(Value::from),
    }
}
