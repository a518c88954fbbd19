//! cairn-state (placeholder)
