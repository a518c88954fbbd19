//! cairn-consensus (placeholder)
