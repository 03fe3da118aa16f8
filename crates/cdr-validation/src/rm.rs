//! RM-level checks, independent of any template (rule D of openehr-digest §6.3): mandatory
//! attributes, openEHR terminology bindings, data-value and structural invariants.

use crate::iso8601;
use crate::issue::{Constraint, ValidationIssue};
use crate::terminology::{self, openehr_group};
use crate::validate::code_of;
use cdr_rm::meta::{Attr, RmObject, Value};

const MAX_DEPTH: usize = 256;

pub(crate) struct RmWalker<'a> {
    pub(crate) issues: Vec<ValidationIssue>,
    /// The composition's language (`en`, `de`, …), for judging rubrics.
    language: Option<String>,
    path: Vec<(&'static str, Option<usize>)>,
    archetype_path: Vec<(&'static str, &'a str)>,
}

fn str_attr<'a>(o: &'a dyn RmObject, name: &str) -> Option<&'a str> {
    o.attr(name).one().and_then(Value::as_str)
}

fn obj_attr<'a>(o: &'a dyn RmObject, name: &str) -> Option<&'a dyn RmObject> {
    o.attr(name).one().and_then(Value::as_object)
}

fn num(o: &dyn RmObject, name: &str) -> Option<f64> {
    match o.attr(name).one()? {
        Value::Real(r) => Some(r),
        Value::Int(i) => Some(i as f64),
        _ => None,
    }
}

fn bool_attr(o: &dyn RmObject, name: &str) -> Option<bool> {
    match o.attr(name).one()? {
        Value::Bool(b) => Some(b),
        _ => None,
    }
}

/// Whether `s` is a URI reference (RFC 3986), relative ones included: not empty; only the
/// characters a URI may hold (unreserved, reserved and `%` with two hex digits; other non-ASCII
/// characters as an IRI has them; no space or control character); at most one `#`; and where a
/// `:` comes before any `/`, `?` or `#`, a scheme before it (a letter, then letters, digits,
/// `+`, `-` or `.`).
fn is_uri(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || s.matches('#').count() > 1 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |k: usize| b.get(k).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
                continue;
            }
            c if c.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&c) => {}
            c if c >= 0x80 => {}
            _ => return false,
        }
        i += 1;
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let head_end = s.find(['/', '?', '#']).unwrap_or(s.len());
    match s[..head_end].find(':') {
        None => true,
        Some(colon) => {
            let scheme = &s[..colon];
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
    }
}

/// Whether a node id is an archetype id rather than an at-code.
fn is_archetype_id(id: &str) -> bool {
    let mut parts = id.splitn(3, '-');
    let (Some(a), Some(b), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !a.is_empty() && !b.is_empty() && rest.contains('.') && rest.contains(".v")
}

impl<'a> RmWalker<'a> {
    pub(crate) fn new() -> Self {
        RmWalker {
            issues: Vec::new(),
            language: None,
            path: Vec::with_capacity(32),
            archetype_path: Vec::with_capacity(32),
        }
    }

    fn report(
        &mut self,
        extra: Option<&str>,
        constraint: Constraint,
        expected: Option<String>,
        actual: Option<String>,
        message: String,
    ) {
        let mut path = String::new();
        for (a, i) in &self.path {
            path.push('/');
            path.push_str(a);
            if let Some(i) = i {
                path.push_str(&format!("[{i}]"));
            }
        }
        if let Some(e) = extra {
            path.push('/');
            path.push_str(e);
        }
        if path.is_empty() {
            path.push('/');
        }
        let mut archetype_path = String::new();
        for (a, n) in &self.archetype_path {
            archetype_path.push('/');
            archetype_path.push_str(a);
            if !n.is_empty() {
                archetype_path.push('[');
                archetype_path.push_str(n);
                archetype_path.push(']');
            }
        }
        if archetype_path.is_empty() {
            archetype_path.push('/');
        }
        self.issues.push(ValidationIssue {
            path,
            archetype_path,
            constraint,
            expected,
            actual,
            message,
        });
    }

    pub(crate) fn walk(&mut self, obj: &'a dyn RmObject) {
        if self.path.len() >= MAX_DEPTH {
            return;
        }
        if self.path.is_empty() {
            self.language = obj_attr(obj, "language")
                .and_then(|l| code_of(l).1)
                .map(|c| c.chars().take(2).collect());
        }
        self.check_object(obj);
        let infos = obj.attr_infos();
        for (i, info) in infos.iter().enumerate() {
            let attr = obj.attr_at(i);
            if matches!(attr, Attr::Absent) {
                if info.kind.is_mandatory() {
                    self.report(
                        Some(info.name),
                        Constraint::RmMandatoryMissing,
                        Some(format!("{} of type {}", info.name, info.declared)),
                        None,
                        format!(
                            "{}.{} is mandatory in the reference model",
                            obj.rm_type(),
                            info.name
                        ),
                    );
                }
                continue;
            }
            if let Some((group, codes)) = openehr_group(obj.rm_type(), info.name) {
                if let Some(v) = attr.one().and_then(Value::as_object) {
                    self.check_openehr_code(v, info.name, group, codes);
                }
            }
            let many = matches!(attr, Attr::Many(_));
            for (k, v) in attr.values().enumerate() {
                if let Value::Object(child) = v {
                    self.path.push((info.name, many.then_some(k)));
                    let node = child.archetype_node_id().unwrap_or_default();
                    self.archetype_path.push((info.name, node));
                    self.walk(child);
                    self.archetype_path.pop();
                    self.path.pop();
                }
            }
        }
    }

    fn check_openehr_code(
        &mut self,
        coded: &dyn RmObject,
        attr: &str,
        group: &str,
        codes: &'static [(&'static str, &'static str)],
    ) {
        let Some(dc) = obj_attr(coded, "defining_code") else {
            return;
        };
        let (term, code) = code_of(dc);
        let code = code.unwrap_or_default();
        let rubric = terminology::rubric(codes, code);
        if term != Some("openehr") || rubric.is_none() {
            self.report(
                Some(&format!("{attr}/defining_code")),
                Constraint::InvalidCode,
                Some(format!("openehr code of group '{group}'")),
                Some(format!("{}::{code}", term.unwrap_or_default())),
                format!("{attr} must be coded in the openEHR '{group}' group"),
            );
            return;
        }
        // The text must be the code's rubric. Only English rubrics are known here, so
        // compositions in other languages are not judged on it.
        let english = self.language.as_deref().is_none_or(|l| l == "en");
        let value = str_attr(coded, "value").unwrap_or_default();
        if let (Some(r), true) = (rubric, english) {
            // Some rubrics list synonyms ("live audio-only; telephone; …") and producers often
            // write only the first: the leading parts must agree.
            let lead = |s: &'static str| s.split(';').next().unwrap_or_default().trim();
            let given = value.split(';').next().unwrap_or_default().trim();
            if !given.eq_ignore_ascii_case(lead(r)) {
                self.report(
                    Some(&format!("{attr}/value")),
                    Constraint::InvalidCode,
                    Some(r.to_owned()),
                    Some(value.to_owned()),
                    format!("openehr code {code} of group '{group}' is '{r}', not '{value}'"),
                );
            }
        }
    }

    fn invariant(&mut self, extra: Option<&str>, actual: Option<String>, message: String) {
        self.report(extra, Constraint::RmInvariant, None, actual, message);
    }

    fn check_object(&mut self, obj: &dyn RmObject) {
        let ty = obj.rm_type();
        // LOCATABLE: archetype roots carry archetype_details, and only they do.
        if let Some(id) = obj.archetype_node_id() {
            let details = obj_attr(obj, "archetype_details");
            if id.is_empty() {
                self.invariant(
                    Some("archetype_node_id"),
                    None,
                    "archetype_node_id must not be empty".into(),
                );
            } else if is_archetype_id(id) && details.is_none() {
                // Many producers omit archetype_details below the root; EHRbase accepts that.
            } else if !is_archetype_id(id) && details.is_some() {
                self.invariant(
                    Some("archetype_details"),
                    Some(id.to_owned()),
                    format!("only archetype roots carry archetype_details; {id} is an at-code"),
                );
            }
        }
        match ty {
            "DV_TEXT" | "DV_CODED_TEXT" if str_attr(obj, "value").is_some_and(str::is_empty) => {
                self.invariant(
                    Some("value"),
                    Some(String::new()),
                    "DV_TEXT.value must not be empty".into(),
                );
            }
            // A missing value is reported as a missing mandatory attribute.
            "DV_DATE_TIME" | "DV_DATE" | "DV_TIME" if str_attr(obj, "value").is_some() => {
                let v = str_attr(obj, "value").unwrap_or_default();
                let ok = match ty {
                    "DV_DATE_TIME" => iso8601::parse_date_time(v).is_some(),
                    "DV_DATE" => iso8601::parse_date(v).is_some(),
                    _ => iso8601::parse_time(v).is_some(),
                };
                if !ok {
                    self.report(
                        Some("value"),
                        Constraint::InvalidTemporal,
                        Some(format!("ISO 8601 value for {ty}")),
                        Some(v.to_owned()),
                        format!("'{v}' is not a valid ISO 8601 value for {ty}"),
                    );
                }
            }
            "DV_DURATION" if str_attr(obj, "value").is_some() => {
                let v = str_attr(obj, "value").unwrap_or_default();
                if iso8601::parse_duration(v).is_none() {
                    self.report(
                        Some("value"),
                        Constraint::InvalidDuration,
                        Some("ISO 8601 duration".into()),
                        Some(v.to_owned()),
                        format!("'{v}' is not a valid ISO 8601 duration"),
                    );
                }
            }
            "DV_QUANTITY" => {
                if let Some(p) = num(obj, "precision") {
                    if p < -1.0 {
                        self.invariant(
                            Some("precision"),
                            Some(p.to_string()),
                            "precision must be at least -1".into(),
                        );
                    }
                    if p == 0.0 && num(obj, "magnitude").is_some_and(|m| m.fract() != 0.0) {
                        self.invariant(
                            Some("magnitude"),
                            None,
                            "precision 0 requires an integral magnitude".into(),
                        );
                    }
                }
            }
            "DV_URI" | "DV_EHR_URI" => {
                if let Some(v) = str_attr(obj, "value") {
                    if !is_uri(v) {
                        self.report(
                            Some("value"),
                            Constraint::InvalidUri,
                            Some("a URI (RFC 3986)".into()),
                            Some(v.to_owned()),
                            format!("'{v}' is not a URI"),
                        );
                    } else if ty == "DV_EHR_URI"
                        && !v.get(..4).is_some_and(|s| s.eq_ignore_ascii_case("ehr:"))
                        // A LINK's target is not held to it: EHRbase accepts any target, and
                        // published compositions rely on that.
                        && self.path.last().is_none_or(|(a, _)| *a != "target")
                    {
                        self.invariant(
                            Some("value"),
                            Some(v.to_owned()),
                            "a DV_EHR_URI must use the ehr: scheme".into(),
                        );
                    }
                }
            }
            "DV_PROPORTION" => self.check_proportion(obj),
            "DV_INTERVAL" => self.check_interval(obj),
            "DV_MULTIMEDIA" => {
                if num(obj, "size").is_some_and(|s| s < 0.0) {
                    self.invariant(Some("size"), None, "size must not be negative".into());
                }
                if obj.attr("data").count() == 0 && obj.attr("uri").count() == 0 {
                    self.invariant(
                        None,
                        None,
                        "DV_MULTIMEDIA needs inline data or a uri".into(),
                    );
                }
            }
            "DV_IDENTIFIER" if str_attr(obj, "id").is_some_and(str::is_empty) => {
                self.invariant(
                    Some("id"),
                    None,
                    "DV_IDENTIFIER.id must not be empty".into(),
                );
            }
            "TERM_MAPPING" => {
                let m = str_attr(obj, "match").unwrap_or_default();
                if !terminology::MAPPING_MATCH.contains(&m) {
                    self.invariant(
                        Some("match"),
                        Some(m.to_owned()),
                        "match must be one of > = < ?".into(),
                    );
                }
            }
            "ELEMENT" => {
                let has_value = obj.attr("value").count() > 0;
                let has_null = obj.attr("null_flavour").count() > 0;
                if !has_value && !has_null {
                    self.invariant(
                        Some("null_flavour"),
                        None,
                        "an ELEMENT without a value must say why in null_flavour".into(),
                    );
                }
                if has_value && has_null {
                    self.invariant(
                        None,
                        None,
                        "an ELEMENT with a value must not have a null_flavour".into(),
                    );
                }
                if has_value && obj.attr("null_reason").count() > 0 {
                    self.invariant(
                        Some("null_reason"),
                        None,
                        "null_reason is only allowed when the value is null".into(),
                    );
                }
            }
            "PARTY_IDENTIFIED" | "PARTY_RELATED"
                if obj.attr("name").count() == 0
                    && obj.attr("external_ref").count() == 0
                    && obj.attr("identifiers").count() == 0 =>
            {
                self.invariant(
                    None,
                    None,
                    format!("{ty} needs a name, an external_ref or identifiers"),
                );
            }
            "COMPOSITION" => self.check_language_territory(obj),
            _ => {}
        }
        if matches!(
            ty,
            "DV_QUANTITY"
                | "DV_COUNT"
                | "DV_PROPORTION"
                | "DV_DURATION"
                | "DV_DATE_TIME"
                | "DV_DATE"
                | "DV_TIME"
                | "DV_ORDINAL"
                | "DV_SCALE"
        ) {
            self.check_ordered(obj);
        }
    }

    fn check_ordered(&mut self, obj: &dyn RmObject) {
        if let Some(cp) = obj_attr(obj, "normal_status") {
            let (_, code) = code_of(cp);
            if code.is_some_and(|c| !terminology::NORMAL_STATUSES.contains(&c)) {
                self.invariant(
                    Some("normal_status"),
                    code.map(str::to_owned),
                    "normal_status must be one of HHH HH H N L LL LLL".into(),
                );
            }
        }
        if let Some(ms) = str_attr(obj, "magnitude_status") {
            if !terminology::MAGNITUDE_STATUS.contains(&ms) {
                self.invariant(
                    Some("magnitude_status"),
                    Some(ms.to_owned()),
                    "magnitude_status must be one of = < > <= >= ~".into(),
                );
            }
        }
    }

    fn check_language_territory(&mut self, obj: &dyn RmObject) {
        if let Some(lang) = obj_attr(obj, "language") {
            let (t, c) = code_of(lang);
            if t != Some("ISO_639-1") || !c.is_some_and(terminology::is_language_code) {
                self.report(
                    Some("language"),
                    Constraint::InvalidCode,
                    Some("ISO_639-1 language code".into()),
                    Some(format!(
                        "{}::{}",
                        t.unwrap_or_default(),
                        c.unwrap_or_default()
                    )),
                    "language must be an ISO_639-1 code".into(),
                );
            }
        }
        if let Some(ter) = obj_attr(obj, "territory") {
            let (t, c) = code_of(ter);
            if t != Some("ISO_3166-1") || !c.is_some_and(terminology::is_territory_code) {
                self.report(
                    Some("territory"),
                    Constraint::InvalidCode,
                    Some("ISO_3166-1 territory code".into()),
                    Some(format!(
                        "{}::{}",
                        t.unwrap_or_default(),
                        c.unwrap_or_default()
                    )),
                    "territory must be an ISO_3166-1 code".into(),
                );
            }
        }
    }

    fn check_proportion(&mut self, obj: &dyn RmObject) {
        let (Some(n), Some(d), Some(t)) = (
            num(obj, "numerator"),
            num(obj, "denominator"),
            num(obj, "type"),
        ) else {
            return;
        };
        let t = t as i64;
        if !(0..=4).contains(&t) {
            self.invariant(
                Some("type"),
                Some(t.to_string()),
                "type must be 0 (ratio) to 4 (integer fraction)".into(),
            );
            return;
        }
        if d == 0.0 {
            self.invariant(
                Some("denominator"),
                Some("0".into()),
                "denominator must not be 0".into(),
            );
        }
        if t == 1 && d != 1.0 {
            self.invariant(
                Some("denominator"),
                Some(d.to_string()),
                "a unitary proportion has denominator 1".into(),
            );
        }
        if t == 2 && d != 100.0 {
            self.invariant(
                Some("denominator"),
                Some(d.to_string()),
                "a percent proportion has denominator 100".into(),
            );
        }
        if (t == 3 || t == 4) && (n.fract() != 0.0 || d.fract() != 0.0) {
            self.invariant(
                None,
                None,
                "a fraction has an integral numerator and denominator".into(),
            );
        }
    }

    fn check_interval(&mut self, obj: &dyn RmObject) {
        for side in ["lower", "upper"] {
            // A date/time bound without its literal cannot be placed at all: like a literal
            // that does not parse (beside the missing attribute the walk reports).
            if let Some(bound) = obj_attr(obj, side) {
                let ty = bound.rm_type();
                let temporal = matches!(ty, "DV_DATE_TIME" | "DV_DATE" | "DV_TIME");
                if (temporal || ty == "DV_DURATION") && str_attr(bound, "value").is_none() {
                    self.report(
                        Some(&format!("{side}/value")),
                        if temporal {
                            Constraint::InvalidTemporal
                        } else {
                            Constraint::InvalidDuration
                        },
                        Some(format!("ISO 8601 value for {ty}")),
                        None,
                        format!("the {side} bound of the interval is a {ty} without a value"),
                    );
                }
            }
            let unbounded = bool_attr(obj, &format!("{side}_unbounded"));
            let included = bool_attr(obj, &format!("{side}_included"));
            let present = obj.attr(side).count() > 0;
            if unbounded == Some(true) && included == Some(true) {
                self.invariant(
                    Some(&format!("{side}_included")),
                    None,
                    format!("an unbounded {side} end cannot be included"),
                );
            }
            if unbounded == Some(true) && present {
                self.invariant(
                    Some(side),
                    None,
                    format!("an unbounded {side} end has no value"),
                );
            }
            if unbounded == Some(false) && !present {
                self.invariant(
                    Some(side),
                    None,
                    format!("a bounded {side} end needs a value"),
                );
            }
        }
        let (Some(l), Some(u)) = (obj_attr(obj, "lower"), obj_attr(obj, "upper")) else {
            return;
        };
        if l.rm_type() != u.rm_type() {
            self.invariant(
                None,
                None,
                format!(
                    "interval bounds differ in type ({} and {})",
                    l.rm_type(),
                    u.rm_type()
                ),
            );
            return;
        }
        let key = |o: &dyn RmObject| -> Option<f64> {
            match o.rm_type() {
                "DV_QUANTITY" | "DV_COUNT" => num(o, "magnitude"),
                "DV_ORDINAL" | "DV_SCALE" => num(o, "value"),
                "DV_DATE_TIME" => str_attr(o, "value")
                    .and_then(iso8601::parse_date_time)
                    .map(|p| p.approx_seconds()),
                "DV_DATE" => str_attr(o, "value")
                    .and_then(iso8601::parse_date)
                    .map(|p| p.approx_seconds()),
                "DV_TIME" => str_attr(o, "value")
                    .and_then(iso8601::parse_time)
                    .map(|p| p.approx_seconds()),
                "DV_DURATION" => str_attr(o, "value")
                    .and_then(iso8601::parse_duration)
                    .map(|d| d.seconds),
                _ => None,
            }
        };
        let same_units =
            l.rm_type() != "DV_QUANTITY" || str_attr(l, "units") == str_attr(u, "units");
        if let (Some(a), Some(b)) = (key(l), key(u)) {
            if same_units && a > b {
                self.invariant(
                    None,
                    None,
                    "interval lower bound is above its upper bound".into(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_uri;

    #[test]
    fn uris() {
        for ok in [
            "http://example.com/a?b=c#d",
            "ehr:/a0b1/compositions/x",
            "ehr://example.com/abc::1",
            "urn:oid:1.2.3",
            "mailto:x@example.com",
            "relative/path",
            "file:///tmp/a%20b",
            "https://example.com/\u{e4}",
        ] {
            assert!(is_uri(ok), "{ok}");
        }
        for bad in [
            "x yz",
            "",
            "http://a b",
            "1abc:x",
            ":x",
            "a%2",
            "a#b#c",
            "tab\tx",
            "<a>",
        ] {
            assert!(!is_uri(bad), "{bad:?}");
        }
    }
}
