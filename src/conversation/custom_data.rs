//! [`CustomDataPatch`]: changes to a conversation's custom data that keep every key they do not
//! name.
//!
//! The server replaces a conversation's custom data wholesale (`editConversation`); the SDK
//! reads the current value, applies the patch and sends the merged object, so keys such as
//! the stored default permissions ([`PERMISSIONS_KEY`](crate::PERMISSIONS_KEY)) survive.

use chatwire_protocol::JsonMap;
use serde_json::Value;

/// Changes to a conversation's custom data: only the named keys change; the SDK merges them
/// onto the current value, so no other key is lost.
///
/// # Examples
/// ```
/// use chatwire::CustomDataPatch;
/// use serde_json::json;
/// let patch = CustomDataPatch::new().set("topic", json!("Q3 plans")).remove("draft");
/// let mut data = json!({"draft": true, "color": "red"}).as_object().unwrap().clone();
/// patch.apply(&mut data);
/// assert_eq!(serde_json::Value::Object(data), json!({"color": "red", "topic": "Q3 plans"}));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomDataPatch {
    ops: Vec<(String, Option<Value>)>,
}

impl CustomDataPatch {
    /// An empty patch.
    ///
    /// # Examples
    /// ```
    /// use chatwire::CustomDataPatch;
    /// assert_eq!(CustomDataPatch::new(), CustomDataPatch::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`.
    ///
    /// # Examples
    /// ```
    /// use chatwire::CustomDataPatch;
    /// let mut data = chatwire::JsonMap::new();
    /// CustomDataPatch::new().set("pinned", 3).apply(&mut data);
    /// assert_eq!(data["pinned"], 3);
    /// ```
    pub fn set(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.ops.push((key.into(), Some(value.into())));
        self
    }

    /// Deletes `key`.
    ///
    /// # Examples
    /// ```
    /// use chatwire::CustomDataPatch;
    /// let mut data = chatwire::JsonMap::new();
    /// data.insert("draft".into(), true.into());
    /// CustomDataPatch::new().remove("draft").apply(&mut data);
    /// assert!(data.is_empty());
    /// ```
    pub fn remove(mut self, key: impl Into<String>) -> Self {
        self.ops.push((key.into(), None));
        self
    }

    /// Applies the changes in order.
    ///
    /// # Examples
    /// ```
    /// use chatwire::CustomDataPatch;
    /// let mut data = chatwire::JsonMap::new();
    /// // Later changes of the same key win.
    /// CustomDataPatch::new().set("n", 1).set("n", 2).apply(&mut data);
    /// assert_eq!(data["n"], 2);
    /// ```
    pub fn apply(&self, data: &mut JsonMap) {
        for (key, value) in &self.ops {
            match value {
                Some(v) => {
                    data.insert(key.clone(), v.clone());
                }
                None => {
                    data.remove(key);
                }
            }
        }
    }

    /// The patch as the server's `custom_data_patch` (a removed key is `null`); `None` when a
    /// key is set to JSON `null`, which that form cannot say.
    pub(crate) fn to_wire(&self) -> Option<JsonMap> {
        let mut wire = JsonMap::new();
        for (key, value) in &self.ops {
            match value {
                Some(serde_json::Value::Null) => return None,
                Some(v) => wire.insert(key.clone(), v.clone()),
                None => wire.insert(key.clone(), serde_json::Value::Null),
            };
        }
        Some(wire)
    }
}
