//! Tolerant readers for the value rules of docs/BEHAVIOUR.md section 2.3.
//!
//! Integer fields accept a JSON integer, a JSON number with an integral value (`5.0`) or a string
//! holding a decimal integer (`"5"`). Everything else is strict.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// Reads an integer the tolerant way from a JSON value; `None` if it is not one.
///
/// ```
/// use serde_json::json;
/// use chatwire_protocol::lenient::int_of;
/// assert_eq!(int_of(&json!(5)), Some(5));
/// assert_eq!(int_of(&json!(5.0)), Some(5));
/// assert_eq!(int_of(&json!("5")), Some(5));
/// assert_eq!(int_of(&json!(5.5)), None);
/// assert_eq!(int_of(&json!(true)), None);
/// ```
pub fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i)
            } else if n.is_u64() {
                None // larger than i64::MAX: out of every range we use
            } else {
                float_to_int(n.as_f64()?)
            }
        }
        Value::String(s) => parse_decimal(s),
        _ => None,
    }
}

fn float_to_int(f: f64) -> Option<i64> {
    // 2^63 as f64; anything at or beyond it does not fit an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.is_finite() && f.fract() == 0.0 && f.abs() < LIMIT).then_some(f as i64)
}

fn parse_decimal(s: &str) -> Option<i64> {
    let t = s.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<i64>().ok()
}

/// A `u64` deserialized tolerantly (integer, integral float or decimal string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct U64(pub u64);

/// An `i64` deserialized tolerantly (integer, integral float or decimal string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct I64(pub i64);

struct IntVisitor;

impl Visitor<'_> for IntVisitor {
    type Value = i64;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an integer, an integral number or a decimal string")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        float_to_int(v).ok_or_else(|| E::custom("not an integral number"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        parse_decimal(v).ok_or_else(|| E::custom("not a decimal integer"))
    }
}

impl<'de> Deserialize<'de> for I64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntVisitor).map(I64)
    }
}

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_any(IntVisitor)?;
        u64::try_from(v)
            .map(U64)
            .map_err(|_| de::Error::custom("negative integer"))
    }
}

/// `#[serde(deserialize_with)]` helper for tolerant `i64` fields.
pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    I64::deserialize(d).map(|v| v.0)
}

/// `#[serde(deserialize_with)]` helper for tolerant `u64` fields.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    U64::deserialize(d).map(|v| v.0)
}

/// `#[serde(deserialize_with)]` helper for tolerant optional `u64` fields (`null` = absent).
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<U64>::deserialize(d)?.map(|v| v.0))
}

/// `#[serde(deserialize_with)]` helper for tolerant optional `u32` fields (`null` = absent).
pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match Option::<U64>::deserialize(d)? {
        None => Ok(None),
        Some(U64(v)) => u32::try_from(v)
            .map(Some)
            .map_err(|_| de::Error::custom("integer out of range")),
    }
}

/// `#[serde(deserialize_with)]` helper for tolerant optional `i64` fields (`null` = absent).
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<I64>::deserialize(d)?.map(|v| v.0))
}
