//! Leaves of the AST: literals, string literals, parameters and identifiers,
//! plus the string escaping used by the printer.

use std::fmt;
use std::hash::{Hash, Hasher};

use crate::span::{AttachedSpan, Span, Spanned};

/// A literal value with its span: `'text'`, `12`, `1.5`, `true`, `NULL`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Literal {
    /// The value.
    pub value: LiteralValue,
    /// Where the literal is.
    pub span: AttachedSpan,
}

/// The value of a [`Literal`].
///
/// Dates, times and date-times are string literals in AQL; use
/// [`LiteralValue::temporal_kind`] to see whether a string has one of their
/// ISO 8601 forms.
#[derive(Debug, Clone)]
pub enum LiteralValue {
    /// A string (escapes already decoded).
    String(String),
    /// An integer without fraction or exponent.
    Integer(i64),
    /// A number with a fraction or an exponent. Always finite.
    Real(f64),
    /// `true` or `false`.
    Boolean(bool),
    /// `NULL`.
    Null,
}

impl PartialEq for LiteralValue {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (LiteralValue::String(a), LiteralValue::String(b)) => a == b,
            (LiteralValue::Integer(a), LiteralValue::Integer(b)) => a == b,
            (LiteralValue::Real(a), LiteralValue::Real(b)) => a.to_bits() == b.to_bits(),
            (LiteralValue::Boolean(a), LiteralValue::Boolean(b)) => a == b,
            (LiteralValue::Null, LiteralValue::Null) => true,
            _ => false,
        }
    }
}

impl Eq for LiteralValue {}

impl Hash for LiteralValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            LiteralValue::String(s) => s.hash(state),
            LiteralValue::Integer(i) => i.hash(state),
            LiteralValue::Real(r) => r.to_bits().hash(state),
            LiteralValue::Boolean(b) => b.hash(state),
            LiteralValue::Null => {}
        }
    }
}

impl LiteralValue {
    /// For a string in an ISO 8601 date, time or date-time form, which one it is.
    pub fn temporal_kind(&self) -> Option<TemporalKind> {
        match self {
            LiteralValue::String(s) => temporal_kind(s),
            _ => None,
        }
    }
}

impl fmt::Display for LiteralValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LiteralValue::String(s) => write_quoted(f, s),
            LiteralValue::Integer(i) => write!(f, "{i}"),
            // `{:?}` always keeps a `.` or an exponent, so the text reads back as a real.
            LiteralValue::Real(r) => write!(f, "{r:?}"),
            LiteralValue::Boolean(b) => write!(f, "{b}"),
            LiteralValue::Null => f.write_str("NULL"),
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl Spanned for Literal {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// The ISO 8601 shape of a string literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemporalKind {
    /// `2024-01-31` or `20240131`.
    Date,
    /// `13:45:00`, `13:45:00.123+01:00`, `134500Z`.
    Time,
    /// A date, `T`, and a time.
    DateTime,
}

/// Classifies `s` as an ISO 8601 date, time or date-time (extended or basic
/// form, optional fraction of a second and time zone), as the AQL lexer's
/// DATE, TIME and DATETIME tokens do.
pub fn temporal_kind(s: &str) -> Option<TemporalKind> {
    if let Some((date, time)) = s.split_once('T') {
        return (is_date(date) && is_time(time)).then_some(TemporalKind::DateTime);
    }
    if is_date(s) {
        Some(TemporalKind::Date)
    } else if is_time(s) {
        Some(TemporalKind::Time)
    } else {
        None
    }
}

fn digits(s: &str, n: usize) -> Option<(u32, &str)> {
    let head = s.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &s[n..]))
}

fn is_date(s: &str) -> bool {
    let extended = s.contains('-');
    let Some((_, rest)) = digits(s, 4) else {
        return false;
    };
    let rest = if extended {
        rest.strip_prefix('-')
    } else {
        Some(rest)
    };
    let Some((month, rest)) = rest.and_then(|r| digits(r, 2)) else {
        return false;
    };
    let rest = if extended {
        rest.strip_prefix('-')
    } else {
        Some(rest)
    };
    let Some((day, rest)) = rest.and_then(|r| digits(r, 2)) else {
        return false;
    };
    rest.is_empty() && (1..=12).contains(&month) && (1..=31).contains(&day)
}

fn is_time(s: &str) -> bool {
    let (clock, zone) = match s.find(['Z', '+', '-']) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let (clock, fraction) = match clock.split_once(['.', ',']) {
        Some((c, frac)) => (c, Some(frac)),
        None => (clock, None),
    };
    if let Some(frac) = fraction {
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    let extended = clock.contains(':');
    let Some((hour, rest)) = digits(clock, 2) else {
        return false;
    };
    let rest = if extended {
        rest.strip_prefix(':')
    } else {
        Some(rest)
    };
    let Some((minute, rest)) = rest.and_then(|r| digits(r, 2)) else {
        return false;
    };
    let rest = if extended {
        rest.strip_prefix(':')
    } else {
        Some(rest)
    };
    let Some((second, rest)) = rest.and_then(|r| digits(r, 2)) else {
        return false;
    };
    rest.is_empty() && hour <= 23 && minute <= 59 && second <= 60 && is_zone(zone)
}

fn is_zone(zone: &str) -> bool {
    if zone.is_empty() || zone == "Z" {
        return true;
    }
    let Some(rest) = zone.strip_prefix(['+', '-']) else {
        return false;
    };
    let Some((hour, rest)) = digits(rest, 2) else {
        return false;
    };
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    hour <= 23 && (rest.is_empty() || digits(rest, 2).is_some_and(|(m, r)| m <= 59 && r.is_empty()))
}

/// A string literal where only a string is allowed (LIKE patterns, node
/// names, TERMINOLOGY arguments, regex defaults).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StringLiteral {
    /// The decoded text.
    pub value: String,
    /// Where the literal is, quotes included.
    pub span: AttachedSpan,
}

impl fmt::Display for StringLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_quoted(f, &self.value)
    }
}

impl Spanned for StringLiteral {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// A query parameter, `$name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Parameter {
    /// The name without the `$`.
    pub name: String,
    /// Where the parameter is, `$` included.
    pub span: AttachedSpan,
}

impl fmt::Display for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}", self.name)
    }
}

impl Spanned for Parameter {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// An identifier: a variable, class name, attribute name or alias, spelled
/// as written (the parser does not change its case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    /// The identifier.
    pub name: String,
    /// Where it is.
    pub span: AttachedSpan,
}

impl Ident {
    /// An identifier with an empty span, for building ASTs in code.
    pub fn new(name: impl Into<String>) -> Self {
        Ident {
            name: name.into(),
            span: AttachedSpan::default(),
        }
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Spanned for Ident {
    fn span(&self) -> Span {
        self.span.get()
    }
}

/// Writes `s` as a single-quoted AQL string literal.
///
/// Backslash and `'` are escaped, as are newline, carriage return and tab;
/// other control characters become `\uXXXX`.
pub fn write_quoted(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('\'')?;
    for c in s.chars() {
        match c {
            '\\' => out.write_str("\\\\")?,
            '\'' => out.write_str("\\'")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if c.is_control() => write!(out, "\\u{:04X}", u32::from(c))?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('\'')
}

/// Why a string literal could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadEscape {
    /// Byte offset of the backslash within the literal (quotes included).
    pub offset: usize,
    /// Byte length of the offending escape.
    pub len: usize,
}

/// Decodes a quoted string literal (quotes included, as the grammar matched
/// it): `\n \t \r \b \f \v \a \? \' \" \\`, `\uXXXX` (surrogate pairs
/// joined) and octal `\N`, `\NN`, `\NNN` (at most `\377`).
pub(crate) fn unescape(quoted: &str) -> Result<String, BadEscape> {
    let inner = quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default();
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    let mut pos = 1; // offset of `rest` within `quoted`
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let start = pos + i;
        let esc = &rest[i + 1..];
        let (decoded, used) = decode_escape(esc).ok_or_else(|| BadEscape {
            offset: start,
            len: 1 + esc.chars().next().map_or(0, char::len_utf8),
        })?;
        out.push(decoded);
        rest = &esc[used..];
        pos = start + 1 + used;
    }
    out.push_str(rest);
    Ok(out)
}

/// Decodes the escape after a backslash: the char and the bytes used.
fn decode_escape(esc: &str) -> Option<(char, usize)> {
    let first = esc.chars().next()?;
    let simple = match first {
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'v' => Some('\u{b}'),
        'a' => Some('\u{7}'),
        '?' | '\'' | '"' | '\\' => Some(first),
        _ => None,
    };
    if let Some(c) = simple {
        return Some((c, 1));
    }
    if first == 'u' {
        let high = hex4(esc.get(1..5)?)?;
        if (0xD800..0xDC00).contains(&high) {
            let low = esc
                .get(5..11)
                .and_then(|s| s.strip_prefix("\\u"))
                .and_then(hex4)?;
            if !(0xDC00..0xE000).contains(&low) {
                return None;
            }
            let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            return Some((char::from_u32(c)?, 11));
        }
        return Some((char::from_u32(high)?, 5));
    }
    if ('0'..='7').contains(&first) {
        let max = if first <= '3' { 3 } else { 2 };
        let len = esc
            .bytes()
            .take(max)
            .take_while(|b| (b'0'..=b'7').contains(b))
            .count();
        let value = u32::from_str_radix(&esc[..len], 8).ok()?;
        return Some((char::from_u32(value)?, len));
    }
    None
}

fn hex4(s: &str) -> Option<u32> {
    if s.len() == 4 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        u32::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &str) -> String {
        let mut out = String::new();
        write_quoted(&mut out, s).unwrap();
        out
    }

    #[test]
    fn escapes_round_trip() {
        for s in [
            "",
            "plain",
            "it's",
            "a\\b",
            "tab\tnl\ncr\r",
            "\u{1}\u{7f}",
            "é😀",
        ] {
            assert_eq!(unescape(&quoted(s)).unwrap(), s, "{s:?}");
        }
    }

    #[test]
    fn decodes_every_escape_form() {
        assert_eq!(
            unescape(r#"'\n\t\r\b\f\v\a\?\'\"\\'"#).unwrap(),
            "\n\t\r\u{8}\u{c}\u{b}\u{7}?'\"\\"
        );
        assert_eq!(unescape(r"'\u00e9\uD83D\uDE00'").unwrap(), "é😀");
        assert_eq!(unescape(r"'\101\60\7x\0'").unwrap(), "A0\u{7}x\0");
        assert_eq!(unescape(r#""say \"hi\"""#).unwrap(), "say \"hi\"");
    }

    #[test]
    fn rejects_bad_escapes_with_their_position() {
        assert_eq!(unescape(r"'ab\*'"), Err(BadEscape { offset: 3, len: 2 }));
        assert_eq!(unescape(r"'\uD83D'"), Err(BadEscape { offset: 1, len: 2 }));
        assert_eq!(unescape(r"'\u12'"), Err(BadEscape { offset: 1, len: 2 }));
    }

    #[test]
    fn classifies_temporal_strings() {
        assert_eq!(temporal_kind("2024-01-31"), Some(TemporalKind::Date));
        assert_eq!(temporal_kind("20240131"), Some(TemporalKind::Date));
        assert_eq!(temporal_kind("13:45:00"), Some(TemporalKind::Time));
        assert_eq!(
            temporal_kind("13:45:00.123+01:00"),
            Some(TemporalKind::Time)
        );
        assert_eq!(temporal_kind("134500Z"), Some(TemporalKind::Time));
        assert_eq!(
            temporal_kind("2024-01-31T13:45:00.5Z"),
            Some(TemporalKind::DateTime)
        );
        assert_eq!(temporal_kind("2024-13-01"), None);
        assert_eq!(temporal_kind("2019-0?-*"), None);
        assert_eq!(temporal_kind("hello"), None);
    }
}
