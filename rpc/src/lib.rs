//! cairn-rpc (placeholder)
