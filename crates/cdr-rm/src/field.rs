//! How attribute values are read by the visitors `rm_struct!` generates.
//!
//! An RM primitive (`Real`, `Integer`, `Boolean`) is read from its JSON type and also from a JSON
//! string that converts to it exactly, as some clients send them (`"magnitude": "1.0"`,
//! `"is_modifiable": "true"`): a Real from a string written as a JSON number, an Integer from a
//! string written as a JSON integer (no fraction, exponent, sign `+`, leading zero or space)
//! that fits in 64 bits, a Boolean from `"true"` or `"false"`. Any other string is refused with
//! the message a plain number or boolean field gives. Once read, the value is typed, so the
//! writers emit it as a JSON number or boolean.
//!
//! The JSON reader hands such strings to the visitor (`visit_str`) when a number or boolean is
//! asked for; XML text is converted by the XML reader itself, as before.

use serde::de::{self, DeserializeSeed, Deserializer, Unexpected, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

/// A type an RM attribute can hold, read as the attribute reads it.
pub trait Field<'de>: Deserialize<'de> {
    /// Reads one value; RM classes and families read as they deserialize.
    #[inline]
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::deserialize(d)
    }
}

impl<'de> Field<'de> for String {}

impl<'de, T: Field<'de>> Field<'de> for Box<T> {
    #[inline]
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::read(d).map(Box::new)
    }
}

impl<'de> Field<'de> for f64 {
    #[inline]
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_f64(Real)
    }
}

impl<'de> Field<'de> for i64 {
    #[inline]
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_i64(Integer)
    }
}

impl<'de> Field<'de> for bool {
    #[inline]
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_bool(Boolean)
    }
}

/// Reads an attribute value of type `T` that may be `null`.
pub(crate) struct Maybe<T>(PhantomData<T>);

impl<T> Maybe<T> {
    #[inline]
    pub(crate) fn new() -> Self {
        Maybe(PhantomData)
    }
}

impl<'de, T: Field<'de>> DeserializeSeed<'de> for Maybe<T> {
    type Value = Option<T>;
    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T: Field<'de>> Visitor<'de> for Maybe<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("option")
    }
    #[inline]
    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    #[inline]
    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    #[inline]
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        T::read(d).map(Some)
    }
}

/// Whether `s` is written as a JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
/// With `integer`, without fraction and exponent.
fn json_number(s: &str, integer: bool) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match digits(&mut i) {
        0 => return false,
        n if n > 1 && b[i - n] == b'0' => return false,
        _ => {}
    }
    if integer {
        return i == b.len();
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// The Real a string stands for, if it is written as a finite JSON number.
pub fn real_text(s: &str) -> Option<f64> {
    if !json_number(s, false) {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The Integer a string stands for, if it is written as a JSON integer that fits in 64 bits.
pub fn integer_text(s: &str) -> Option<i64> {
    if !json_number(s, true) {
        return None;
    }
    s.parse().ok()
}

/// The Boolean a string stands for: `true` or `false`.
pub fn boolean_text(s: &str) -> Option<bool> {
    match s {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

struct Real;

impl<'de> Visitor<'de> for Real {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("f64")
    }
    #[inline]
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    #[inline]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    #[inline]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        real_text(v).ok_or_else(|| E::invalid_type(Unexpected::Str(v), &self))
    }
}

struct Integer;

impl<'de> Visitor<'de> for Integer {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("i64")
    }
    #[inline]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    #[inline]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        integer_text(v).ok_or_else(|| E::invalid_type(Unexpected::Str(v), &self))
    }
}

struct Boolean;

impl<'de> Visitor<'de> for Boolean {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean")
    }
    #[inline]
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        boolean_text(v).ok_or_else(|| E::invalid_type(Unexpected::Str(v), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_convert_only_from_json_numbers() {
        for (s, v) in [
            ("1.0", 1.0),
            ("1", 1.0),
            ("-0.5", -0.5),
            ("120", 120.0),
            ("1e3", 1000.0),
            ("2.5E-1", 0.25),
            ("0", 0.0),
        ] {
            assert_eq!(real_text(s), Some(v), "{s}");
        }
        for s in [
            "", " 1", "1 ", "+1", "01", "1.", ".5", "1e", "NaN", "inf", "1,5", "0x10", "1e999",
            "--1", "1.0.0",
        ] {
            assert_eq!(real_text(s), None, "{s:?}");
        }
    }

    #[test]
    fn integers_convert_only_from_json_integers() {
        assert_eq!(integer_text("10"), Some(10));
        assert_eq!(integer_text("-3"), Some(-3));
        assert_eq!(integer_text("0"), Some(0));
        assert_eq!(integer_text("9223372036854775807"), Some(i64::MAX));
        for s in [
            "1.0",
            "1e2",
            " 1",
            "1 ",
            "+1",
            "01",
            "",
            "9223372036854775808",
            "ten",
        ] {
            assert_eq!(integer_text(s), None, "{s:?}");
        }
    }

    #[test]
    fn booleans_convert_only_from_true_and_false() {
        assert_eq!(boolean_text("true"), Some(true));
        assert_eq!(boolean_text("false"), Some(false));
        for s in ["True", "1", "0", "yes", " true", ""] {
            assert_eq!(boolean_text(s), None, "{s:?}");
        }
    }
}
