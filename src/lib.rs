//! chatwire SDK (work in progress).
