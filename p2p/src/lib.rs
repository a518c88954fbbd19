//! # cairn-p2p (draft docs, completed below)

mod api;
mod config;
mod error;
mod gate;
mod identity;
mod metrics;
mod protocol;
mod ratelimit;
mod service;
mod wire;

pub use api::{
    Acceptance, BanReason, InboundRequest, Network, NetworkEvent, PeerInfo, Responder,
    ValidationToken,
};
pub use config::{Limits, NetworkConfig, PeerAddr};
pub use error::NetworkError;
pub use gate::Denied;
pub use identity::{keypair, node_id_of, peer_id, peer_id_of_key, public_key_of};
pub use libp2p::{Multiaddr, PeerId};
pub use metrics::{Metrics, ProtocolLabel, TopicLabel};
pub use ratelimit::Rate;
pub use service::start;
pub use wire::{
    CatchUpRequest, CatchUpResponse, ConsensusMessage, GossipMessage, Refusal, SyncRequest,
    SyncResponse, Topic, TxBatch, WireError,
};
