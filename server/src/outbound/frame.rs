//! One encoded server frame, serialized once and shared by every connection it goes to.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// One encoded server frame (JSON text). A clone is a reference count, so a broadcast is
/// serialized once and the same text goes into every receiver's queue.
///
/// The transport sends it in its own form (for WebSocket, the library's text type), obtained
/// with [`Frame::into_wire`]: without copying the text when the frame has one receiver, and
/// with one copy in all for a frame shared by many (the first receiver converts, the others
/// clone the result).
#[derive(Clone)]
pub(crate) struct Frame(Arc<Shared>);

struct Shared {
    text: String,
    /// The transport's form of a shared frame, made by the first receiver that asks. Typed
    /// `Any` because this layer cannot name the transport's types.
    wire: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl Frame {
    /// The JSON text.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn as_str(&self) -> &str {
        &self.0.text
    }

    /// This receiver's copy of the frame in the transport's form `W`, which `convert` makes
    /// from the text. The sole holder of a frame gets the text itself converted (no copy); a
    /// frame still shared by other receivers is converted once, and every later call clones
    /// that result (for a reference-counted `W`, a count).
    pub fn into_wire<W>(self, convert: fn(String) -> W) -> W
    where
        W: Clone + Send + Sync + 'static,
    {
        // A shared frame some receiver already converted (the common case of a broadcast).
        if let Some(w) = self.0.wire.get().and_then(|w| w.downcast_ref::<W>()) {
            return w.clone();
        }
        match Arc::try_unwrap(self.0) {
            // The only receiver: its text becomes the wire form without a copy.
            Ok(shared) => convert(shared.text),
            // The first of several receivers to convert (another may be converting right now:
            // then this waits for its result).
            Err(shared) => {
                let wire = shared
                    .wire
                    .get_or_init(|| Box::new(convert(shared.text.clone())));
                match wire.downcast_ref::<W>() {
                    Some(w) => w.clone(),
                    // Converted to another type before (never with one transport).
                    None => convert(shared.text.clone()),
                }
            }
        }
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Self {
        Frame(Arc::new(Shared {
            text,
            wire: OnceLock::new(),
        }))
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Frame").field(&self.0.text).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A wire form that counts the conversions (each one copies the text).
    #[derive(Clone, Debug, PartialEq)]
    struct Wire(Arc<str>);

    static CONVERSIONS: AtomicUsize = AtomicUsize::new(0);

    fn convert(text: String) -> Wire {
        CONVERSIONS.fetch_add(1, Ordering::SeqCst);
        Wire(text.into())
    }

    #[test]
    fn one_conversion_per_frame_however_many_receivers() {
        let before = CONVERSIONS.load(Ordering::SeqCst);
        let frame = Frame::from(r#"{"service":"chat"}"#.to_string());
        let receivers: Vec<Frame> = (0..100).map(|_| frame.clone()).collect();
        drop(frame);
        let wires: Vec<Wire> = receivers
            .into_iter()
            .map(|f| f.into_wire(convert))
            .collect();
        assert_eq!(CONVERSIONS.load(Ordering::SeqCst) - before, 1);
        // Every receiver holds the same converted text.
        assert!(wires.iter().all(|w| Arc::ptr_eq(&w.0, &wires[0].0)));
        assert_eq!(&*wires[0].0, r#"{"service":"chat"}"#);
    }

    #[test]
    fn a_sole_receiver_converts_the_text_itself() {
        let text = String::from("{}");
        let ptr = text.as_ptr();
        let wire = Frame::from(text).into_wire(|s: String| s);
        assert_eq!(wire, "{}");
        assert_eq!(wire.as_ptr(), ptr, "no copy");
    }

    #[test]
    fn frames_read_as_their_text() {
        let frame = Frame::from("abc".to_string());
        assert_eq!(frame.clone().as_str(), "abc");
        assert_eq!(format!("{frame:?}"), r#"Frame("abc")"#);
    }
}
