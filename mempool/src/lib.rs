//! cairn-mempool (placeholder)
