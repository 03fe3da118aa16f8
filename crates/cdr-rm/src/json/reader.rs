//! A JSON reader over a byte slice that implements `serde::Deserializer`: the decoding hot path
//! of [`crate::from_json`], feeding the same visitors as every other input.
//!
//! It accepts exactly what serde_json accepts (RFC 8259, no trailing commas or comments, strings
//! without lone surrogates or raw control characters, at most 128 nested containers) and reports
//! errors with the same messages and 1-based line and byte column. What makes it faster than
//! serde_json on canonical JSON:
//!
//! - whitespace is skipped a word at a time after a newline (indentation is half of a
//!   pretty-printed document);
//! - strings are scanned a word at a time for `"`, `\` and control characters, and strings
//!   without escapes are handed to visitors borrowed from the input;
//! - the input is checked as UTF-8 once, up front, and strings are sliced from it without
//!   further checks (in a document that is not UTF-8, strings past the first invalid sequence
//!   are checked one by one, so that the error comes where serde_json gives it);
//! - positions are computed only for an error.
//!
//! One difference is deliberate: where a visitor asks for a number or a boolean and the input
//! holds a string, the string goes to the visitor (serde_json refuses it itself). serde's own
//! visitors refuse it with serde_json's message; cdr-rm's primitives take a string that converts
//! exactly (see `field.rs`).

use serde::de::{self, DeserializeSeed, Expected, MapAccess, SeqAccess, Unexpected, Visitor};
use std::fmt;

/// Containers nested deeper than this are refused (serde_json's default).
const MAX_DEPTH: u16 = 128;

const EOF_VALUE: &str = "EOF while parsing a value";
const EOF_LIST: &str = "EOF while parsing a list";
const EOF_OBJECT: &str = "EOF while parsing an object";
const EOF_STRING: &str = "EOF while parsing a string";
const EXPECTED_COLON: &str = "expected `:`";
const EXPECTED_LIST_COMMA_OR_END: &str = "expected `,` or `]`";
const EXPECTED_OBJECT_COMMA_OR_END: &str = "expected `,` or `}`";
const EXPECTED_IDENT: &str = "expected ident";
const EXPECTED_VALUE: &str = "expected value";
const INVALID_ESCAPE: &str = "invalid escape";
const INVALID_NUMBER: &str = "invalid number";
const NUMBER_OUT_OF_RANGE: &str = "number out of range";
const INVALID_UNICODE: &str = "invalid unicode code point";
const CONTROL_CHARACTER: &str = "control character (\\u0000-\\u001F) found while parsing a string";
const KEY_MUST_BE_A_STRING: &str = "key must be a string";
const LONE_SURROGATE: &str = "lone leading surrogate in hex escape";
const TRAILING_COMMA: &str = "trailing comma";
const TRAILING_CHARACTERS: &str = "trailing characters";
const END_OF_HEX_ESCAPE: &str = "unexpected end of hex escape";
const RECURSION_LIMIT: &str = "recursion limit exceeded";

/// A decoding error: a message and, once known, the input offset it is reported at (the
/// position just past the offending byte, as serde_json counts).
#[derive(Debug)]
pub(crate) struct Error(Box<ErrorInner>);

#[derive(Debug)]
struct ErrorInner {
    message: String,
    at: Option<usize>,
}

impl Error {
    fn at(message: &str, at: usize) -> Self {
        Error(Box::new(ErrorInner {
            message: message.to_owned(),
            at: Some(at),
        }))
    }

    pub(crate) fn message(&self) -> &str {
        &self.0.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(Box::new(ErrorInner {
            message: msg.to_string(),
            at: None,
        }))
    }

    /// As serde_json words it: `null` rather than "unit value", floats with a decimal point.
    #[cold]
    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        match unexp {
            Unexpected::Unit => Self::custom(format_args!("invalid type: null, expected {exp}")),
            Unexpected::Float(v) => Self::custom(format_args!(
                "invalid type: floating point `{}`, expected {exp}",
                FloatText(v)
            )),
            u => Self::custom(format_args!("invalid type: {u}, expected {exp}")),
        }
    }

    #[cold]
    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        match unexp {
            Unexpected::Unit => Self::custom(format_args!("invalid value: null, expected {exp}")),
            Unexpected::Float(v) => Self::custom(format_args!(
                "invalid value: floating point `{}`, expected {exp}",
                FloatText(v)
            )),
            u => Self::custom(format_args!("invalid value: {u}, expected {exp}")),
        }
    }
}

/// A float as serde_json shows it in messages: the shortest digits that read back to it,
/// positionally when the decimal exponent is in -5..=15 (`120.0`, `0.00001`), else in
/// scientific notation with a signed exponent (`1.8446744073709552e+19`, `1e-7`).
struct FloatText(f64);

impl fmt::Display for FloatText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if !v.is_finite() {
            return write!(f, "{v}");
        }
        // `{:e}` gives the shortest digits: `-1.25e-7`.
        let sci = format!("{v:e}");
        let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let (sign, mantissa) = match mantissa.strip_prefix('-') {
            Some(m) => ("-", m),
            None => ("", mantissa),
        };
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        f.write_str(sign)?;
        if !(-5..=15).contains(&exp) {
            let (first, rest) = digits.split_at(1);
            let point = if rest.is_empty() { "" } else { "." };
            let exp_sign = if exp < 0 { '-' } else { '+' };
            return write!(f, "{first}{point}{rest}e{exp_sign}{}", exp.abs());
        }
        if exp < 0 {
            let zeros = "0".repeat((-exp - 1) as usize);
            return write!(f, "0.{zeros}{digits}");
        }
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            let zeros = "0".repeat(int_len - digits.len());
            write!(f, "{digits}{zeros}.0")
        } else {
            let (int, frac) = digits.split_at(int_len);
            write!(f, "{int}.{frac}")
        }
    }
}

/// 1-based line and byte column of the position just before `index`, as serde_json reports
/// them (column 0 right after a newline).
pub(crate) fn position(bytes: &[u8], index: usize) -> (usize, usize) {
    let index = index.min(bytes.len());
    let start_of_line = bytes[..index]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let line = 1 + bytes[..start_of_line]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    (line, index - start_of_line)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Bytes of `w` equal to `b`, as the high bit of each such byte; exact for the lowest one.
#[inline(always)]
fn bytes_equal(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * b as u64);
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Bytes of `w` below 0x20, as for [`bytes_equal`].
#[inline(always)]
fn bytes_control(w: u64) -> u64 {
    w.wrapping_sub(ONES * 0x20) & !w & HIGHS
}

/// Index of the first `"`, `\` or control character at or after `i`, or `bytes.len()`.
#[inline(always)]
fn scan_string(bytes: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = bytes.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap());
        let m = bytes_equal(w, b'"') | bytes_equal(w, b'\\') | bytes_control(w);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

/// Index of the first byte other than a space at or after `i`, or `bytes.len()`.
#[inline(always)]
fn skip_spaces(bytes: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = bytes.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap()) ^ (ONES * b' ' as u64);
        if w != 0 {
            return i + (w.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

fn hex_value(b: u8) -> Option<u16> {
    match b {
        b'0'..=b'9' => Some((b - b'0') as u16),
        b'a'..=b'f' => Some((b - b'a' + 10) as u16),
        b'A'..=b'F' => Some((b - b'A' + 10) as u16),
        _ => None,
    }
}

/// A string read from the input: borrowed when it had no escapes, else unescaped into the
/// reader's scratch buffer.
enum Str<'de, 's> {
    Borrowed(&'de str),
    Copied(&'s str),
}

impl<'de> Str<'de, '_> {
    fn visit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Str::Borrowed(s) => visitor.visit_borrowed_str(s),
            Str::Copied(s) => visitor.visit_str(s),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Str::Borrowed(s) => s,
            Str::Copied(s) => s,
        }
    }
}

/// A JSON number, kept as serde_json classifies it.
#[derive(Clone, Copy)]
enum Number {
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Number {
    fn visit<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Number::U64(n) => visitor.visit_u64(n),
            Number::I64(n) => visitor.visit_i64(n),
            Number::F64(n) => visitor.visit_f64(n),
        }
    }

    fn unexpected(self) -> Unexpected<'static> {
        match self {
            Number::U64(n) => Unexpected::Unsigned(n),
            Number::I64(n) => Unexpected::Signed(n),
            Number::F64(n) => Unexpected::Float(n),
        }
    }
}

/// The reader: a position in the input, the remaining nesting depth and a scratch buffer for
/// strings with escapes.
pub(crate) struct Reader<'de> {
    bytes: &'de [u8],
    /// The input's longest valid UTF-8 prefix (all of it, for a valid document).
    text: &'de str,
    pos: usize,
    remaining_depth: u16,
    scratch: Vec<u8>,
}

impl<'de> Reader<'de> {
    pub(crate) fn new(bytes: &'de [u8]) -> Self {
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        };
        Reader {
            bytes,
            text,
            pos: 0,
            remaining_depth: MAX_DEPTH,
            scratch: Vec::new(),
        }
    }

    /// Line and column of an error (at the current position if it has none).
    pub(crate) fn position_of(&self, e: &Error) -> (usize, usize) {
        position(self.bytes, e.0.at.unwrap_or(self.pos))
    }

    /// Fails unless only whitespace is left.
    pub(crate) fn end(&mut self) -> Result<(), Error> {
        match self.peek() {
            Some(_) => Err(self.peek_error(TRAILING_CHARACTERS)),
            None => Ok(()),
        }
    }

    /// An error at the last consumed byte.
    #[cold]
    fn error(&self, message: &str) -> Error {
        Error::at(message, self.pos)
    }

    /// An error at the next byte.
    #[cold]
    fn peek_error(&self, message: &str) -> Error {
        Error::at(message, (self.pos + 1).min(self.bytes.len()))
    }

    /// Gives an error raised by a visitor the current position.
    #[cold]
    fn fix_position(&self, mut e: Error) -> Error {
        if e.0.at.is_none() {
            e.0.at = Some(self.pos);
        }
        e
    }

    /// Skips whitespace and returns the next byte without consuming it.
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes;
        let mut i = self.pos;
        loop {
            match bytes.get(i) {
                Some(&b) if b > b' ' => {
                    self.pos = i;
                    return Some(b);
                }
                Some(b'\n') => i = skip_spaces(bytes, i + 1),
                Some(b' ' | b'\t' | b'\r') => i += 1,
                other => {
                    self.pos = i;
                    return other.copied();
                }
            }
        }
    }

    /// As [`Self::peek`], where a value must follow.
    #[inline(always)]
    fn peek_value(&mut self) -> Result<u8, Error> {
        match self.peek() {
            Some(b) => Ok(b),
            None => Err(self.peek_error(EOF_VALUE)),
        }
    }

    /// Consumes `ident` (the rest of `null`, `true` or `false`).
    fn parse_ident(&mut self, ident: &[u8]) -> Result<(), Error> {
        for &expected in ident {
            match self.bytes.get(self.pos) {
                None => return Err(self.error(EOF_VALUE)),
                Some(&b) => {
                    self.pos += 1;
                    if b != expected {
                        return Err(self.error(EXPECTED_IDENT));
                    }
                }
            }
        }
        Ok(())
    }

    /// The input from `start` to `end` as text, unless it is not UTF-8.
    #[inline(always)]
    fn text(&self, start: usize, end: usize) -> Option<&'de str> {
        match self.text.get(start..end) {
            Some(s) => Some(s),
            None => std::str::from_utf8(&self.bytes[start..end]).ok(),
        }
    }

    /// Reads a string whose opening quote has been consumed.
    #[inline(always)]
    fn parse_str(&mut self) -> Result<Str<'de, '_>, Error> {
        let start = self.pos;
        let end = scan_string(self.bytes, start);
        if self.bytes.get(end) == Some(&b'"') {
            self.pos = end + 1;
            return match self.text(start, end) {
                Some(s) => Ok(Str::Borrowed(s)),
                None => Err(self.invalid_utf8(&self.bytes[start..end])),
            };
        }
        self.parse_str_escaped(start, end)
    }

    /// The error for a string (`content`, unescaped) that is not UTF-8, read up to its closing
    /// quote: it points at the first invalid byte, as serde_json does (approximately, when the
    /// string has escapes).
    #[cold]
    fn invalid_utf8(&self, content: &[u8]) -> Error {
        let valid = std::str::from_utf8(content).map_or_else(|e| e.valid_up_to(), str::len);
        Error::at(INVALID_UNICODE, self.pos - (content.len() - valid))
    }

    /// The rest of [`Self::parse_str`] once an escape, a control character or the end is found
    /// at `end`.
    #[cold]
    fn parse_str_escaped(&mut self, start: usize, mut end: usize) -> Result<Str<'de, '_>, Error> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let mut segment = start;
        let result = loop {
            scratch.extend_from_slice(&self.bytes[segment..end]);
            match self.bytes.get(end) {
                None => {
                    self.pos = end;
                    break Err(self.error(EOF_STRING));
                }
                Some(b'"') => {
                    self.pos = end + 1;
                    break match std::str::from_utf8(&scratch) {
                        Ok(_) => Ok(()),
                        Err(_) => Err(self.invalid_utf8(&scratch)),
                    };
                }
                Some(b'\\') => {
                    self.pos = end + 1;
                    if let Err(e) = self.parse_escape(&mut scratch) {
                        break Err(e);
                    }
                    segment = self.pos;
                    end = scan_string(self.bytes, segment);
                }
                Some(_) => {
                    self.pos = end + 1;
                    break Err(self.error(CONTROL_CHARACTER));
                }
            }
        };
        self.scratch = scratch;
        result?;
        // Checked above.
        Ok(Str::Copied(
            std::str::from_utf8(&self.scratch).unwrap_or_default(),
        ))
    }

    fn next_byte(&mut self, eof: &str) -> Result<u8, Error> {
        match self.bytes.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.error(eof)),
        }
    }

    /// Reads the escape after a backslash into `out`.
    fn parse_escape(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let c = match self.next_byte(EOF_STRING)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let n = self.hex_escape()?;
                match n {
                    0xDC00..=0xDFFF => return Err(self.error(LONE_SURROGATE)),
                    0xD800..=0xDBFF => {
                        if self.next_byte(EOF_STRING)? != b'\\'
                            || self.next_byte(EOF_STRING)? != b'u'
                        {
                            return Err(self.error(END_OF_HEX_ESCAPE));
                        }
                        let n2 = self.hex_escape()?;
                        if !(0xDC00..=0xDFFF).contains(&n2) {
                            return Err(self.error(LONE_SURROGATE));
                        }
                        let c = 0x1_0000 + (((n as u32 - 0xD800) << 10) | (n2 as u32 - 0xDC00));
                        char::from_u32(c).ok_or_else(|| self.error(INVALID_UNICODE))?
                    }
                    n => char::from_u32(n as u32).ok_or_else(|| self.error(INVALID_UNICODE))?,
                }
            }
            _ => return Err(self.error(INVALID_ESCAPE)),
        };
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }

    /// Reads the four hex digits of a `\u` escape.
    fn hex_escape(&mut self) -> Result<u16, Error> {
        let Some(digits) = self.bytes.get(self.pos..self.pos + 4) else {
            self.pos = self.bytes.len();
            return Err(self.error(EOF_STRING));
        };
        self.pos += 4;
        let mut n = 0u16;
        for &d in digits {
            match hex_value(d) {
                Some(v) => n = (n << 4) | v,
                None => return Err(self.error(INVALID_ESCAPE)),
            }
        }
        Ok(n)
    }

    /// Skips a string whose opening quote has been consumed; escapes are checked for form only
    /// (as serde_json does for ignored values).
    fn ignore_str(&mut self) -> Result<(), Error> {
        loop {
            let end = scan_string(self.bytes, self.pos);
            match self.bytes.get(end) {
                None => {
                    self.pos = end;
                    return Err(self.error(EOF_STRING));
                }
                Some(b'"') => {
                    self.pos = end + 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos = end + 1;
                    match self.next_byte(EOF_STRING)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            self.hex_escape()?;
                        }
                        _ => return Err(self.error(INVALID_ESCAPE)),
                    }
                }
                Some(_) => {
                    self.pos = end;
                    return Err(self.error(CONTROL_CHARACTER));
                }
            }
        }
    }

    /// Reads a number starting at the current position (a `-` or a digit).
    fn parse_number(&mut self) -> Result<Number, Error> {
        let start = self.pos;
        let (negative, significand, float) = self.scan_number()?;
        if !float {
            return Ok(if !negative {
                Number::U64(significand)
            } else {
                // `-0` and integers below i64::MIN become floats, as in serde_json.
                let n = (significand as i64).wrapping_neg();
                if n >= 0 {
                    Number::F64(-(significand as f64))
                } else {
                    Number::I64(n)
                }
            });
        }
        let value: f64 = self
            .text(start, self.pos)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| self.error(INVALID_NUMBER))?;
        if value.is_infinite() {
            return Err(self.error(NUMBER_OUT_OF_RANGE));
        }
        Ok(Number::F64(value))
    }

    /// Checks the syntax of a number starting at the current position and moves past it.
    /// Returns whether it is negative, the integer's magnitude, and whether it must be read as
    /// a float (a fraction, an exponent, or beyond `u64`).
    fn scan_number(&mut self) -> Result<(bool, u64, bool), Error> {
        let bytes = self.bytes;
        let start = self.pos;
        let negative = bytes[start] == b'-';
        let mut i = start + usize::from(negative);
        let mut significand: u64 = 0;
        let mut overflow = false;
        match bytes.get(i) {
            None => {
                self.pos = i;
                return Err(self.error(EOF_VALUE));
            }
            Some(b'0') => {
                i += 1;
                if bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    self.pos = i;
                    return Err(self.peek_error(INVALID_NUMBER));
                }
            }
            Some(b'1'..=b'9') => {
                while let Some(&d @ b'0'..=b'9') = bytes.get(i) {
                    match significand
                        .checked_mul(10)
                        .and_then(|s| s.checked_add((d - b'0') as u64))
                    {
                        Some(s) => significand = s,
                        None => overflow = true,
                    }
                    i += 1;
                }
            }
            Some(_) => {
                self.pos = i + 1;
                return Err(self.error(INVALID_NUMBER));
            }
        }
        let mut float = overflow;
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            float = true;
            match bytes.get(i) {
                Some(b'0'..=b'9') => {}
                Some(_) => {
                    self.pos = i;
                    return Err(self.peek_error(INVALID_NUMBER));
                }
                None => {
                    self.pos = i;
                    return Err(self.error(EOF_VALUE));
                }
            }
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            float = true;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            match bytes.get(i) {
                Some(b'0'..=b'9') => {}
                Some(_) => {
                    self.pos = i + 1;
                    return Err(self.error(INVALID_NUMBER));
                }
                None => {
                    self.pos = i;
                    return Err(self.error(EOF_VALUE));
                }
            }
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        self.pos = i;
        Ok((negative, significand, float))
    }

    /// The digits of an integer for a 128-bit type (as serde_json reads them: no fraction or
    /// exponent), with its sign; the `-`, if any, has been consumed.
    fn integer128(&mut self, negative: bool) -> Result<String, Error> {
        let start = self.pos;
        match self.bytes.get(self.pos) {
            Some(b'0') => {
                self.pos += 1;
                if self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    return Err(self.peek_error(INVALID_NUMBER));
                }
            }
            Some(b'1'..=b'9') => {
                while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    self.pos += 1;
                }
            }
            _ => {
                self.pos = (self.pos + 1).min(self.bytes.len());
                return Err(self.error(INVALID_NUMBER));
            }
        }
        let digits = String::from_utf8_lossy(&self.bytes[start..self.pos]);
        Ok(if negative {
            format!("-{digits}")
        } else {
            digits.into_owned()
        })
    }

    /// Skips one value without building it.
    fn ignore_value(&mut self) -> Result<(), Error> {
        // The open containers, innermost last (not limited in depth, as in serde_json).
        let mut open: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.peek_error(EOF_VALUE));
            };
            let mut accept_comma = true;
            match b {
                b'n' => {
                    self.pos += 1;
                    self.parse_ident(b"ull")?;
                }
                b't' => {
                    self.pos += 1;
                    self.parse_ident(b"rue")?;
                }
                b'f' => {
                    self.pos += 1;
                    self.parse_ident(b"alse")?;
                }
                b'-' | b'0'..=b'9' => {
                    self.scan_number()?;
                }
                b'"' => {
                    self.pos += 1;
                    self.ignore_str()?;
                }
                b'[' | b'{' => {
                    self.pos += 1;
                    open.push(b);
                    accept_comma = false;
                }
                _ => return Err(self.peek_error(EXPECTED_VALUE)),
            }
            // After a value (or an opening bracket): close containers, or find the next value.
            loop {
                let Some(&frame) = open.last() else {
                    return Ok(());
                };
                match self.peek() {
                    Some(b',') if accept_comma => {
                        self.pos += 1;
                        break;
                    }
                    Some(b']') if frame == b'[' => {}
                    Some(b'}') if frame == b'{' => {}
                    Some(_) if accept_comma => {
                        return Err(self.peek_error(if frame == b'[' {
                            EXPECTED_LIST_COMMA_OR_END
                        } else {
                            EXPECTED_OBJECT_COMMA_OR_END
                        }))
                    }
                    Some(_) => break,
                    None => {
                        return Err(self.peek_error(if frame == b'[' {
                            EOF_LIST
                        } else {
                            EOF_OBJECT
                        }))
                    }
                }
                // A closing bracket.
                self.pos += 1;
                open.pop();
                accept_comma = true;
            }
            if open.last() == Some(&b'{') {
                // A key and its colon come first in an object.
                match self.peek() {
                    Some(b'"') => {
                        self.pos += 1;
                        self.ignore_str()?;
                    }
                    Some(_) => return Err(self.peek_error(KEY_MUST_BE_A_STRING)),
                    None => return Err(self.peek_error(EOF_OBJECT)),
                }
                self.parse_colon()?;
            }
        }
    }

    #[inline(always)]
    fn parse_colon(&mut self) -> Result<(), Error> {
        // Canonical JSON puts the colon right after the key.
        if self.bytes.get(self.pos) == Some(&b':') {
            self.pos += 1;
            return Ok(());
        }
        match self.peek() {
            Some(b':') => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(self.peek_error(EXPECTED_COLON)),
            None => Err(self.peek_error(EOF_OBJECT)),
        }
    }

    #[inline]
    fn end_seq(&mut self) -> Result<(), Error> {
        match self.peek() {
            Some(b']') => {
                self.pos += 1;
                Ok(())
            }
            Some(b',') => {
                self.pos += 1;
                match self.peek() {
                    Some(b']') => Err(self.peek_error(TRAILING_COMMA)),
                    _ => Err(self.peek_error(TRAILING_CHARACTERS)),
                }
            }
            Some(_) => Err(self.peek_error(TRAILING_CHARACTERS)),
            None => Err(self.peek_error(EOF_LIST)),
        }
    }

    #[inline]
    fn end_map(&mut self) -> Result<(), Error> {
        match self.peek() {
            Some(b'}') => {
                self.pos += 1;
                Ok(())
            }
            Some(b',') => Err(self.peek_error(TRAILING_COMMA)),
            Some(_) => Err(self.peek_error(TRAILING_CHARACTERS)),
            None => Err(self.peek_error(EOF_OBJECT)),
        }
    }

    /// Enters a container whose opening bracket is next.
    #[inline]
    fn descend(&mut self) -> Result<(), Error> {
        self.remaining_depth -= 1;
        if self.remaining_depth == 0 {
            return Err(self.peek_error(RECURSION_LIMIT));
        }
        self.pos += 1;
        Ok(())
    }

    /// Visits the array whose `[` is next.
    fn visit_array<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        self.descend()?;
        let mut value = visitor.visit_seq(Seq {
            de: self,
            first: true,
        });
        self.remaining_depth += 1;
        // The closing bracket is read even after an error, for the error's position.
        let end = self.end_seq();
        self.settle(&mut value, end);
        value
    }

    /// Visits the object whose `{` is next.
    #[inline]
    fn visit_object<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        self.descend()?;
        let mut value = visitor.visit_map(Map {
            de: self,
            first: true,
        });
        self.remaining_depth += 1;
        // The closing bracket is read even after an error, for the error's position.
        let end = self.end_map();
        self.settle(&mut value, end);
        value
    }

    /// Gives the error of `value`, else of `end`, the current position if it has none.
    #[inline(always)]
    fn settle<T>(&self, value: &mut Result<T, Error>, end: Result<(), Error>) {
        if let Err(e) = end {
            if value.is_ok() {
                *value = Err(e);
            }
        }
        if let Err(e) = value {
            if e.0.at.is_none() {
                e.0.at = Some(self.pos);
            }
        }
    }

    /// The error for a value of the wrong JSON type (next in the input) for `exp`.
    #[cold]
    fn invalid_type(&mut self, exp: &dyn Expected) -> Error {
        let e = match self.peek() {
            Some(b'n') => {
                self.pos += 1;
                if let Err(e) = self.parse_ident(b"ull") {
                    return e;
                }
                de::Error::invalid_type(Unexpected::Unit, exp)
            }
            Some(b't') => {
                self.pos += 1;
                if let Err(e) = self.parse_ident(b"rue") {
                    return e;
                }
                de::Error::invalid_type(Unexpected::Bool(true), exp)
            }
            Some(b'f') => {
                self.pos += 1;
                if let Err(e) = self.parse_ident(b"alse") {
                    return e;
                }
                de::Error::invalid_type(Unexpected::Bool(false), exp)
            }
            Some(b'-' | b'0'..=b'9') => match self.parse_number() {
                Ok(n) => de::Error::invalid_type(n.unexpected(), exp),
                Err(e) => return e,
            },
            Some(b'"') => {
                self.pos += 1;
                match self.parse_str() {
                    Ok(s) => de::Error::invalid_type(Unexpected::Str(s.as_str()), exp),
                    Err(e) => return e,
                }
            }
            Some(b'[') => de::Error::invalid_type(Unexpected::Seq, exp),
            Some(b'{') => de::Error::invalid_type(Unexpected::Map, exp),
            _ => return self.peek_error(EXPECTED_VALUE),
        };
        self.fix_position(e)
    }

    /// A number, or a string for the visitor to judge (serde's own number visitors refuse it
    /// with the message serde_json gives; cdr-rm's primitives take one that converts exactly).
    #[inline]
    fn deserialize_number<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        let value = match self.peek_value()? {
            b'-' | b'0'..=b'9' => self.parse_number()?.visit(visitor),
            b'"' => {
                self.pos += 1;
                self.parse_str()?.visit(visitor)
            }
            _ => return Err(self.invalid_type(&visitor)),
        };
        value.map_err(|e| self.fix_position(e))
    }
}

macro_rules! forward_to_number {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                self.deserialize_number(visitor)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let value = match self.peek_value()? {
            b'n' => {
                self.pos += 1;
                self.parse_ident(b"ull")?;
                visitor.visit_unit()
            }
            b't' => {
                self.pos += 1;
                self.parse_ident(b"rue")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.pos += 1;
                self.parse_ident(b"alse")?;
                visitor.visit_bool(false)
            }
            b'-' | b'0'..=b'9' => self.parse_number()?.visit(visitor),
            b'"' => {
                self.pos += 1;
                self.parse_str()?.visit(visitor)
            }
            b'[' => return self.visit_array(visitor),
            b'{' => return self.visit_object(visitor),
            _ => return Err(self.peek_error(EXPECTED_VALUE)),
        };
        value.map_err(|e| self.fix_position(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let value = match self.peek_value()? {
            b't' => {
                self.pos += 1;
                self.parse_ident(b"rue")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.pos += 1;
                self.parse_ident(b"alse")?;
                visitor.visit_bool(false)
            }
            // As for numbers: the visitor judges a string.
            b'"' => {
                self.pos += 1;
                self.parse_str()?.visit(visitor)
            }
            _ => return Err(self.invalid_type(&visitor)),
        };
        value.map_err(|e| self.fix_position(e))
    }

    // Every number type reads the number as it is written and lets the visitor judge it.
    forward_to_number! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_u8
        deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32 deserialize_f64
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let negative = self.peek_value()? == b'-';
        self.pos += usize::from(negative);
        let value = match self.integer128(negative)?.parse() {
            Ok(n) => visitor.visit_i128(n),
            Err(_) => return Err(self.error(NUMBER_OUT_OF_RANGE)),
        };
        value.map_err(|e| self.fix_position(e))
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.peek_value()? == b'-' {
            return Err(self.peek_error(NUMBER_OUT_OF_RANGE));
        }
        let value = match self.integer128(false)?.parse() {
            Ok(n) => visitor.visit_u128(n),
            Err(_) => return Err(self.error(NUMBER_OUT_OF_RANGE)),
        };
        value.map_err(|e| self.fix_position(e))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    #[inline]
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek_value()? {
            b'"' => {
                self.pos += 1;
                let value = self.parse_str()?.visit(visitor);
                value.map_err(|e| self.fix_position(e))
            }
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek_value()? {
            b'"' => {
                self.pos += 1;
                let value = match self.parse_str()? {
                    Str::Borrowed(s) => visitor.visit_borrowed_bytes(s.as_bytes()),
                    Str::Copied(s) => visitor.visit_bytes(s.as_bytes()),
                };
                value.map_err(|e| self.fix_position(e))
            }
            b'[' => self.visit_array(visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    #[inline]
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek_value()? {
            b'n' => {
                self.pos += 1;
                self.parse_ident(b"ull")?;
                visitor.visit_none()
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek_value()? {
            b'n' => {
                self.pos += 1;
                self.parse_ident(b"ull")?;
                visitor.visit_unit().map_err(|e| self.fix_position(e))
            }
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    #[inline]
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek_value()? {
            b'[' => self.visit_array(visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    #[inline]
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek_value()? {
            b'{' => self.visit_object(visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.peek_value()? {
            b'{' => self.visit_object(visitor),
            b'[' => self.visit_array(visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.peek_value()? {
            b'{' => {
                self.descend()?;
                let value = visitor.visit_enum(Variant { de: self });
                self.remaining_depth += 1;
                let value = value.map_err(|e| self.fix_position(e))?;
                match self.peek() {
                    Some(b'}') => {
                        self.pos += 1;
                        Ok(value)
                    }
                    Some(_) => Err(self.error(EXPECTED_VALUE)),
                    None => Err(self.error(EOF_OBJECT)),
                }
            }
            b'"' => visitor
                .visit_enum(UnitVariant { de: self })
                .map_err(|e| self.fix_position(e)),
            _ => Err(self.peek_error(EXPECTED_VALUE)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.ignore_value()?;
        visitor.visit_unit()
    }
}

/// The elements of an array.
struct Seq<'a, 'de> {
    de: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> SeqAccess<'de> for Seq<'_, 'de> {
    type Error = Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let de = &mut *self.de;
        match de.peek() {
            Some(b']') => return Ok(None),
            Some(b',') if !self.first => {
                de.pos += 1;
                if de.peek() == Some(b']') {
                    return Err(de.peek_error(TRAILING_COMMA));
                }
            }
            Some(_) if self.first => self.first = false,
            Some(_) => return Err(de.peek_error(EXPECTED_LIST_COMMA_OR_END)),
            None => return Err(de.peek_error(EOF_LIST)),
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

/// The entries of an object.
struct Map<'a, 'de> {
    de: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Map<'_, 'de> {
    type Error = Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let de = &mut *self.de;
        let next = match de.peek() {
            Some(b'}') => return Ok(None),
            Some(b',') if !self.first => {
                de.pos += 1;
                de.peek()
            }
            Some(b) if self.first => {
                self.first = false;
                Some(b)
            }
            Some(_) => return Err(de.peek_error(EXPECTED_OBJECT_COMMA_OR_END)),
            None => return Err(de.peek_error(EOF_OBJECT)),
        };
        match next {
            Some(b'"') => {
                de.pos += 1;
                seed.deserialize(KeyReader { de }).map(Some)
            }
            Some(b'}') => Err(de.peek_error(TRAILING_COMMA)),
            Some(_) => Err(de.peek_error(KEY_MUST_BE_A_STRING)),
            None => Err(de.peek_error(EOF_VALUE)),
        }
    }

    #[inline]
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        self.de.parse_colon()?;
        seed.deserialize(&mut *self.de)
    }
}

/// An object key, whose opening quote has been consumed: always a string.
struct KeyReader<'a, 'de> {
    de: &'a mut Reader<'de>,
}

impl<'de> de::Deserializer<'de> for KeyReader<'_, 'de> {
    type Error = Error;

    #[inline]
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.de.parse_str()?.visit(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.de.pos -= 1;
        visitor.visit_enum(UnitVariant { de: self.de })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// An enum written as `{"Variant": value}`, whose `{` is consumed.
struct Variant<'a, 'de> {
    de: &'a mut Reader<'de>,
}

impl<'de> de::EnumAccess<'de> for Variant<'_, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let value = seed.deserialize(&mut *self.de)?;
        self.de.parse_colon()?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(self.de)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self.de, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self.de, "", &[], visitor)
    }
}

/// An enum written as a string (a unit variant), whose opening quote is next.
struct UnitVariant<'a, 'de> {
    de: &'a mut Reader<'de>,
}

impl<'de> de::EnumAccess<'de> for UnitVariant<'_, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let value = seed.deserialize(&mut *self.de)?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitVariant<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _seed: T) -> Result<T::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"newtype variant",
        ))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"tuple variant",
        ))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"struct variant",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_find_the_first_special_byte() {
        let s = b"abcdefgh\"ijklmnop";
        assert_eq!(scan_string(s, 0), 8);
        assert_eq!(scan_string(b"ab\\cdefghij\"", 0), 2);
        assert_eq!(scan_string(b"abcdefghij\x1fk\"", 0), 10);
        assert_eq!(scan_string("é\u{7f}ü€ abcdefgh\"".as_bytes(), 0), 17);
        assert_eq!(scan_string(b"abc", 0), 3);
        assert_eq!(skip_spaces(b"             x", 0), 13);
        assert_eq!(skip_spaces(b"   ", 0), 3);
        assert_eq!(skip_spaces(b"  \t", 0), 2);
    }

    #[test]
    fn floats_are_shown_as_serde_json_shows_them() {
        for (v, text) in [
            (1.5, "1.5"),
            (120.0, "120.0"),
            (-0.0, "-0.0"),
            (0.00001, "0.00001"),
            (1e-6, "1e-6"),
            (1.25e-7, "1.25e-7"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (18446744073709551616.0, "1.8446744073709552e+19"),
            (-9223372036854775809.0, "-9.223372036854776e+18"),
        ] {
            assert_eq!(FloatText(v).to_string(), text);
        }
    }

    #[test]
    fn positions_are_one_based_lines_and_byte_columns() {
        let b = b"{\n  \"a\": x\n}";
        assert_eq!(position(b, 0), (1, 0));
        assert_eq!(position(b, 1), (1, 1));
        assert_eq!(position(b, 2), (2, 0));
        assert_eq!(position(b, 10), (2, 8));
        assert_eq!(position(b, 99), (3, 1));
    }
}
