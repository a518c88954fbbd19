//! cairn-genesis (placeholder)
