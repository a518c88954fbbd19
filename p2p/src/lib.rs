//! cairn-p2p (placeholder)
