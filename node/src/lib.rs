//! # cairn-node
//!
//! The `cairn` binary: command line, configuration, node homes and (as the
//! node issue lands) the wiring of consensus, mempool, state, p2p and RPC
//! into one process.
//!
//! What exists today:
//! - [`config`]: `config.toml` with documented defaults, unknown keys
//!   refused, every option overridable by `CAIRN_<SECTION>_<KEY>` or
//!   `--set section.key=value`.
//! - [`home`]: CometBFT-style home directories (`init`), local test networks
//!   (`testnet`, with `nodes.json`), and account keys (`keys`).
//! - [`client`]: `cairn tx` and `cairn query`, a reusable JSON-RPC client,
//!   and light-client verification of proofs (`--prove`).
//! - [`persist`]: the signing guard's file (atomic, fsynced before a
//!   signature leaves) and the consensus WAL (fsynced before acting).
//!
//! Invariants: key files are written 0600 and atomically; `init` and
//! `testnet` never modify an existing non-empty directory unless
//! `--overwrite` is given.

pub mod chain;
pub mod client;
pub mod config;
pub mod driver;
pub mod home;
pub mod load;
pub mod metrics;
pub mod net;
pub mod node;
pub mod persist;
pub mod rpc_backend;
pub mod run;
