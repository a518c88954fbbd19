//! # cairn-rpc
//!
//! (design document: written below once the modules settle)

pub mod backend;
pub mod error;
pub mod events;
pub mod explorer;
mod jsonrpc;
pub mod methods;
pub mod metrics;
pub mod params;
pub mod query;
pub mod render;
pub mod server;
pub mod ws;

pub use backend::*;
pub use error::RpcError;
pub use events::{ChainEvent, RpcEvents};
pub use metrics::Metrics;
pub use server::{RpcConfig, RpcServer, RunningRpc, ServeError};
