//! Strict-but-tolerant access to the fields of a request payload (docs/BEHAVIOUR.md section 2.3).

use serde_json::{Map, Value};

use crate::{lenient, DecodeError, Permissions, UserId};

/// Maximum serialized size of a custom data object, in bytes (compact JSON).
pub const MAX_CUSTOM_DATA_BYTES: usize = 5120;
/// Maximum conversation title length, in characters.
pub const MAX_TITLE_CHARS: usize = 50;

/// The size of a custom data object as the server measures it against
/// [`MAX_CUSTOM_DATA_BYTES`]: its compact JSON serialization, in bytes.
///
/// ```
/// use chatwire_protocol::{custom_data_fits, custom_data_size};
/// let data = serde_json::json!({"a": 1});
/// assert_eq!(custom_data_size(data.as_object().unwrap()), 7); // {"a":1}
/// assert!(custom_data_fits(data.as_object().unwrap()));
/// ```
pub fn custom_data_size(data: &Map<String, Value>) -> usize {
    serde_json::to_vec(data)
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
}

/// Whether a custom data object is within [`MAX_CUSTOM_DATA_BYTES`] (the check of every
/// `custom_data` and `private_custom_data` field).
///
/// ```
/// use chatwire_protocol::{custom_data_fits, MAX_CUSTOM_DATA_BYTES};
/// let mut data = serde_json::Map::new();
/// data.insert("blob".into(), "x".repeat(MAX_CUSTOM_DATA_BYTES).into());
/// assert!(!custom_data_fits(&data));
/// ```
pub fn custom_data_fits(data: &Map<String, Value>) -> bool {
    custom_data_size(data) <= MAX_CUSTOM_DATA_BYTES
}

/// Whether a conversation title is within [`MAX_TITLE_CHARS`] characters (not bytes).
///
/// ```
/// use chatwire_protocol::title_fits;
/// assert!(title_fits(&"é".repeat(50)));
/// assert!(!title_fits(&"x".repeat(51)));
/// ```
pub fn title_fits(title: &str) -> bool {
    title.chars().count() <= MAX_TITLE_CHARS
}

/// Whether a message text is within [`MAX_TEXT_CHARS`](crate::MAX_TEXT_CHARS) characters (not
/// bytes); longer texts are refused with code 2.
///
/// ```
/// use chatwire_protocol::{text_fits, MAX_TEXT_CHARS};
/// assert!(text_fits(&"ü".repeat(MAX_TEXT_CHARS)));
/// assert!(!text_fits(&"x".repeat(MAX_TEXT_CHARS + 1)));
/// ```
pub fn text_fits(text: &str) -> bool {
    text.chars().count() <= crate::MAX_TEXT_CHARS
}

type Result<T> = std::result::Result<T, DecodeError>;

/// A payload object seen through the value rules: `null` means absent, integers are tolerant,
/// everything else is strict.
pub(crate) struct Fields<'a>(pub &'a Map<String, Value>);

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(DecodeError::invalid(key, "expected a string")),
        }
    }

    pub fn str(&self, key: &str) -> Result<String> {
        self.opt_str(key)?.ok_or_else(|| missing(key))
    }

    pub fn opt_int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => lenient::int_of(v)
                .map(Some)
                .ok_or_else(|| DecodeError::invalid(key, "expected an integer")),
        }
    }

    pub fn int(&self, key: &str) -> Result<i64> {
        self.opt_int(key)?.ok_or_else(|| missing(key))
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(DecodeError::invalid(key, "expected true or false")),
        }
    }

    pub fn bool(&self, key: &str) -> Result<bool> {
        self.opt_bool(key)?.ok_or_else(|| missing(key))
    }

    pub fn opt_list(&self, key: &str) -> Result<Option<&'a Vec<Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(DecodeError::invalid(key, "expected a list")),
        }
    }

    pub fn list(&self, key: &str) -> Result<&'a Vec<Value>> {
        self.opt_list(key)?.ok_or_else(|| missing(key))
    }

    /// An optional custom-data object: must be an object of at most 5 120 bytes.
    pub fn opt_custom_data(&self, key: &str) -> Result<Option<Map<String, Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => {
                if !custom_data_fits(m) {
                    Err(DecodeError::invalid(
                        key,
                        format!("exceeds {MAX_CUSTOM_DATA_BYTES} bytes"),
                    ))
                } else {
                    Ok(Some(m.clone()))
                }
            }
            Some(_) => Err(DecodeError::invalid(key, "expected an object")),
        }
    }

    /// An optional custom-data patch (an object; `custom_data` must be absent).
    pub fn opt_custom_data_patch(&self, key: &str) -> Result<Option<Map<String, Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(_) if self.get("custom_data").is_some() => Err(DecodeError::invalid(
                key,
                "give either custom_data or custom_data_patch, not both",
            )),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(_) => Err(DecodeError::invalid(key, "expected an object")),
        }
    }

    /// An optional conversation title of at most 50 characters.
    pub fn opt_title(&self, key: &str) -> Result<Option<String>> {
        let title = self.opt_str(key)?;
        if let Some(t) = &title {
            if !title_fits(t) {
                return Err(DecodeError::invalid(
                    key,
                    format!("longer than {MAX_TITLE_CHARS} characters"),
                ));
            }
        }
        Ok(title)
    }

    /// An optional list of JSON objects (a message payload).
    pub fn opt_objects(&self, key: &str) -> Result<Option<Vec<Map<String, Value>>>> {
        let Some(list) = self.opt_list(key)? else {
            return Ok(None);
        };
        list.iter()
            .map(|v| match v {
                Value::Object(m) => Ok(m.clone()),
                _ => Err(DecodeError::invalid(key, "every element must be an object")),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

pub(crate) fn missing(key: &str) -> DecodeError {
    DecodeError::invalid(key, "missing")
}

/// An IM user id value: a tolerant integer in `1..2^53`.
pub(crate) fn user_id_of(v: &Value, field: &str) -> Result<UserId> {
    lenient::int_of(v)
        .and_then(|i| u64::try_from(i).ok())
        .and_then(UserId::new)
        .ok_or_else(|| DecodeError::invalid(field, "expected a positive integer user id"))
}

/// A flags value: a tolerant integer in `0..=65535`, normalized.
pub(crate) fn flags_of(v: &Value, field: &str) -> Result<Permissions> {
    lenient::int_of(v)
        .and_then(Permissions::normalize)
        .ok_or_else(|| DecodeError::invalid(field, "flags must be an integer in 0..=65535"))
}

/// Reads every element of a list as an object, naming the list in errors.
pub(crate) fn objects_of<'a>(list: &'a [Value], field: &str) -> Result<Vec<Fields<'a>>> {
    list.iter()
        .map(|v| match v {
            Value::Object(m) => Ok(Fields(m)),
            _ => Err(DecodeError::invalid(
                field,
                "every element must be an object",
            )),
        })
        .collect()
}
