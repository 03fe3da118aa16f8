//! Typed comparison, equality and ordering of JSON values, as SEMANTICS.md defines them.

use std::cmp::Ordering;

use cdr_aql::ast::{temporal_kind, ComparisonOp, LiteralValue, TemporalKind};
use serde_json::{Number, Value};

/// The JSON value of a literal.
pub(crate) fn literal_json(lit: &LiteralValue) -> Value {
    match lit {
        LiteralValue::String(s) => Value::String(s.clone()),
        LiteralValue::Integer(i) => Value::from(*i),
        LiteralValue::Real(r) => Number::from_f64(*r).map_or(Value::Null, Value::Number),
        LiteralValue::Boolean(b) => Value::Bool(*b),
        LiteralValue::Null => Value::Null,
    }
}

/// Numeric order: exact for two integers, as `f64` otherwise.
pub(crate) fn cmp_numbers(a: &Number, b: &Number) -> Ordering {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x.cmp(&y);
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x.cmp(&y);
    }
    let x = a.as_f64().unwrap_or(0.0);
    let y = b.as_f64().unwrap_or(0.0);
    x.partial_cmp(&y).unwrap_or(Ordering::Equal)
}

/// A date or date-time string as an instant: (seconds since the epoch in UTC, nanoseconds).
///
/// Accepts what the AQL lexer calls a DATE or DATETIME (extended or basic form, optional
/// fraction and zone). A date is its midnight UTC; a date-time without zone is UTC. Strings of
/// that shape that name no real day or time (`2024-02-30`, second 60) are not instants.
pub(crate) fn instant(s: &str) -> Option<(i64, u32)> {
    match temporal_kind(s)? {
        TemporalKind::Date => {
            let date = parse_date(s)?;
            Some((date.and_hms_opt(0, 0, 0)?.and_utc().timestamp(), 0))
        }
        TemporalKind::DateTime => {
            let (d, t) = s.split_once('T')?;
            let date = parse_date(d)?;
            let (hour, minute, second, fraction, zone) = clock(t)?;
            let nanos = fraction_nanos(fraction)?;
            let time = chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
            if second > 59 {
                return None;
            }
            let local = date.and_time(time).and_utc().timestamp();
            Some((local - zone_seconds(zone)?, nanos))
        }
        TemporalKind::Time => None,
    }
}

fn parse_date(s: &str) -> Option<chrono::NaiveDate> {
    let digits: String = s.chars().filter(|c| *c != '-').collect();
    let year = digits.get(0..4)?.parse().ok()?;
    let month = digits.get(4..6)?.parse().ok()?;
    let day = digits.get(6..8)?.parse().ok()?;
    chrono::NaiveDate::from_ymd_opt(year, month, day)
}

fn fraction_nanos(fraction: &str) -> Option<u32> {
    let mut nanos = 0u32;
    for i in 0..9 {
        let digit = match fraction.as_bytes().get(i) {
            Some(b) if b.is_ascii_digit() => u32::from(b - b'0'),
            Some(_) => return None,
            None => 0,
        };
        nanos = nanos * 10 + digit;
    }
    Some(nanos)
}

/// The zone's offset east of UTC in seconds: `Z`, `` (UTC), `+hh`, `+hh:mm`, `+hhmm`.
fn zone_seconds(zone: &str) -> Option<i64> {
    if zone.is_empty() || zone == "Z" {
        return Some(0);
    }
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    let hours: i64 = digits.get(0..2)?.parse().ok()?;
    let minutes: i64 = match digits.get(2..4) {
        Some(m) => m.parse().ok()?,
        None => 0,
    };
    Some(sign * (hours * 3600 + minutes * 60))
}

/// Compares `left` with `right`, typed by `typed_by` (one of the two): numbers numerically,
/// booleans, date/date-time strings as instants, other strings bytewise. `None` when the other
/// value has the wrong type (or the typing value is null, an array or an object).
pub(crate) fn compare_typed(left: &Value, right: &Value, typed_by: &Value) -> Option<Ordering> {
    match typed_by {
        Value::Number(_) => match (left, right) {
            (Value::Number(a), Value::Number(b)) => Some(cmp_numbers(a, b)),
            _ => None,
        },
        Value::Bool(_) => match (left, right) {
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        },
        Value::String(t) => {
            let (Value::String(a), Value::String(b)) = (left, right) else {
                return None;
            };
            if instant(t).is_some() {
                Some(instant(a)?.cmp(&instant(b)?))
            } else {
                Some(a.as_str().cmp(b.as_str()))
            }
        }
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Whether an ordering satisfies a comparison operator.
pub(crate) fn op_holds(op: ComparisonOp, ord: Ordering) -> bool {
    match op {
        ComparisonOp::Eq => ord == Ordering::Equal,
        ComparisonOp::Ne => ord != Ordering::Equal,
        ComparisonOp::Gt => ord == Ordering::Greater,
        ComparisonOp::Ge => ord != Ordering::Less,
        ComparisonOp::Lt => ord == Ordering::Less,
        ComparisonOp::Le => ord != Ordering::Greater,
    }
}

/// Whether some pair (one value from each side) compares true, typed by the right value when
/// `typed_by_right` (a literal or parameter), else by the left one (path against path).
pub(crate) fn exists_compare(
    left: &[&Value],
    op: ComparisonOp,
    right: &[&Value],
    typed_by_right: bool,
) -> bool {
    left.iter().any(|l| {
        right.iter().any(|r| {
            let typed_by = if typed_by_right { r } else { l };
            compare_typed(l, r, typed_by).is_some_and(|ord| op_holds(op, ord))
        })
    })
}

/// What a value compares by (SEMANTICS.md): a DV_ORDERED object by its natural value
/// (DV_QUANTITY and DV_COUNT magnitude, DV_ORDINAL and DV_SCALE value, DV_PROPORTION
/// numerator/denominator, DV_DURATION its length in seconds, DV_DATE_TIME, DV_DATE and DV_TIME
/// their value string); anything else as it is.
pub(crate) fn natural(v: &Value) -> Value {
    let Some(t) = v
        .get("_type")
        .and_then(Value::as_str)
        .filter(|_| v.is_object())
    else {
        return v.clone();
    };
    let field = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    match t {
        "DV_QUANTITY" | "DV_COUNT" => field("magnitude"),
        "DV_ORDINAL" | "DV_SCALE" => field("value"),
        "DV_PROPORTION" => {
            let n = v.get("numerator").and_then(Value::as_f64);
            let d = v.get("denominator").and_then(Value::as_f64);
            match (n, d) {
                (Some(n), Some(d)) if d != 0.0 => float(n / d),
                _ => Value::Null,
            }
        }
        "DV_DURATION" => v
            .get("value")
            .and_then(Value::as_str)
            .and_then(duration_seconds)
            .map_or(Value::Null, float),
        "DV_DATE_TIME" | "DV_DATE" | "DV_TIME" => field("value"),
        _ => v.clone(),
    }
}

/// What a value orders by (ORDER BY, MIN, MAX): DV_ORDERED objects by their natural value,
/// with dates and date-times as instants (seconds since the epoch) and times as seconds after
/// midnight UTC; DV_TEXT and DV_CODED_TEXT objects by their text; anything else as it is.
pub(crate) fn order_key(v: &Value) -> Value {
    let Some(t) = v
        .get("_type")
        .and_then(Value::as_str)
        .filter(|_| v.is_object())
    else {
        return v.clone();
    };
    let value = v.get("value").and_then(Value::as_str);
    match t {
        "DV_DATE_TIME" | "DV_DATE" => value
            .and_then(instant)
            .map_or(Value::Null, |(s, n)| float(s as f64 + f64::from(n) / 1e9)),
        "DV_TIME" => value.and_then(time_seconds).map_or(Value::Null, float),
        "DV_TEXT" | "DV_CODED_TEXT" => v.get("value").cloned().unwrap_or(Value::Null),
        _ => natural(v),
    }
}

/// Whether `v` compares `op` with literal `lit`, `v` taken by its natural value: a DV_DURATION
/// beside a duration literal (`PT5M`) by length, anything else typed by the literal.
pub(crate) fn compare_natural(v: &Value, op: ComparisonOp, lit: &Value) -> bool {
    let duration = v.get("_type").and_then(Value::as_str) == Some("DV_DURATION");
    if let (true, Some(s)) = (duration, lit.as_str().and_then(duration_seconds)) {
        let n = natural(v);
        return n
            .as_f64()
            .and_then(|x| x.partial_cmp(&s))
            .is_some_and(|ord| op_holds(op, ord));
    }
    compare_typed(&natural(v), lit, lit).is_some_and(|ord| op_holds(op, ord))
}

fn float(x: f64) -> Value {
    Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// An ISO 8601 duration's length in seconds (a month is 30 days, a year 365.25).
pub(crate) fn duration_seconds(s: &str) -> Option<f64> {
    let (sign, body) = match s.strip_prefix('-') {
        Some(b) => (-1.0, b),
        None => (1.0, s),
    };
    let body = body.strip_prefix('P')?;
    let (date, time) = match body.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    let mut total = 0.0;
    let mut any = false;
    let mut read = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut num = String::new();
        let mut next = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                num.push(if c == ',' { '.' } else { c });
                continue;
            }
            let i = units[next..].iter().position(|(u, _)| *u == c)? + next;
            total += num.parse::<f64>().ok()? * units[i].1;
            any = true;
            num.clear();
            next = i + 1;
        }
        num.is_empty().then_some(())
    };
    read(
        date,
        &[
            ('Y', 31_557_600.0),
            ('M', 2_592_000.0),
            ('W', 604_800.0),
            ('D', 86_400.0),
        ],
    )?;
    if let Some(t) = time {
        if t.is_empty() {
            return None;
        }
        read(t, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    any.then_some(sign * total)
}

/// A time of day (`hh:mm:ss[.f][zone]`, extended or basic form) as seconds after midnight
/// UTC (no zone: UTC).
pub(crate) fn time_seconds(s: &str) -> Option<f64> {
    let (hour, minute, second, fraction, zone) = clock(s)?;
    let frac = match fraction {
        "" => 0.0,
        f => format!("0.{f}").parse::<f64>().ok()?,
    };
    Some(f64::from(hour * 3600 + minute * 60 + second) + frac - zone_seconds(zone)? as f64)
}

/// The parts of a clock time `hh:mm[:ss][.f][zone]` (extended or basic form): hour, minute,
/// second (0 when absent), the fraction's digits and the zone's text.
fn clock(t: &str) -> Option<(u32, u32, u32, &str, &str)> {
    let (clock, zone) = match t.find(['Z', '+', '-']) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let (clock, fraction) = match clock.split_once(['.', ',']) {
        Some((c, f)) => (c, f),
        None => (clock, ""),
    };
    let digits: String = clock.chars().filter(|c| *c != ':').collect();
    let hour = digits.get(0..2)?.parse().ok()?;
    let minute = digits.get(2..4)?.parse().ok()?;
    let second = match digits.get(4..6) {
        Some(x) => x.parse().ok()?,
        None => 0,
    };
    Some((hour, minute, second, fraction, zone))
}

/// A string that is equal for two values exactly when they are equal as JSON, numbers
/// compared by value (`120` and `120.0` are equal) and object keys in any order.
pub(crate) fn json_key(v: &Value) -> String {
    let mut out = String::new();
    write_key(v, &mut out);
    out
}

fn write_key(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push('N'),
        Value::Bool(b) => out.push(if *b { 'T' } else { 'F' }),
        Value::Number(n) => {
            out.push('#');
            match n.as_i64() {
                Some(i) if (-(1i64 << 53)..=(1i64 << 53)).contains(&i) => {
                    out.push_str(&format!("{:?}", i as f64));
                }
                Some(i) => out.push_str(&i.to_string()),
                None => out.push_str(&format!("{:?}", n.as_f64().unwrap_or(0.0))),
            }
        }
        Value::String(s) => {
            out.push('"');
            out.push_str(&s.replace('\\', "\\\\").replace('"', "\\\""));
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for item in items {
                write_key(item, out);
                out.push(',');
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for k in keys {
                write_key(&Value::String(k.clone()), out);
                out.push(':');
                write_key(&map[k], out);
                out.push(',');
            }
            out.push('}');
        }
    }
}

/// The total order ORDER BY uses (PostgreSQL's jsonb order of types): strings < numbers <
/// booleans < arrays < objects < null;
/// numbers numerically, strings bytewise, booleans false first, arrays and objects by
/// [`json_key`]. Descending is the exact reverse (so nulls come first).
pub(crate) fn sort_order(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::String(_) => 0,
            Value::Number(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => {
            json_key(a).cmp(&json_key(b))
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn instants_across_zones_and_forms() {
        let utc = instant("2024-03-01T10:00:00Z").unwrap();
        assert_eq!(instant("2024-03-01T11:00:00+01:00"), Some(utc));
        assert_eq!(instant("2024-03-01T05:00:00-0500"), Some(utc));
        assert_eq!(instant("2024-03-01T10:00:00"), Some(utc));
        assert_eq!(instant("20240301T100000Z"), Some(utc));
        assert_eq!(
            instant("2024-03-01T10:00:00.5Z"),
            Some((utc.0, 500_000_000))
        );
        assert_eq!(instant("2024-03-01"), instant("2024-03-01T00:00:00Z"));
        assert_eq!(instant("2024-02-30"), None);
        assert_eq!(instant("2024-03-01T23:59:60Z"), None);
        assert_eq!(instant("10:00:00"), None);
        assert_eq!(instant("hello"), None);
    }

    #[test]
    fn typed_comparison() {
        let c = |l: Value, r: Value| compare_typed(&l, &r, &r);
        assert_eq!(c(json!(120.0), json!(120)), Some(Ordering::Equal));
        assert_eq!(c(json!("120"), json!(120)), None);
        assert_eq!(c(json!(true), json!(false)), Some(Ordering::Greater));
        assert_eq!(
            c(
                json!("2024-01-01T01:00:00+02:00"),
                json!("2023-12-31T23:30:00Z")
            ),
            Some(Ordering::Less)
        );
        assert_eq!(c(json!("abc"), json!("2024-01-01")), None);
        assert_eq!(c(json!("b"), json!("abc")), Some(Ordering::Greater));
        assert_eq!(c(json!("x"), json!(null)), None);
    }

    #[test]
    fn keys_ignore_number_form_and_key_order() {
        assert_eq!(json_key(&json!(120)), json_key(&json!(120.0)));
        assert_eq!(
            json_key(&json!({"a": 1, "b": [2]})),
            json_key(&json!({"b": [2.0], "a": 1}))
        );
        assert_ne!(json_key(&json!("1")), json_key(&json!(1)));
    }

    #[test]
    fn sort_order_puts_null_last() {
        let mut v = vec![json!(null), json!("a"), json!(3), json!(1.5), json!(false)];
        v.sort_by(sort_order);
        assert_eq!(
            v,
            vec![json!("a"), json!(1.5), json!(3), json!(false), json!(null)]
        );
    }
}
