//! Errors of the network handle, classified by whose fault they are.

use cairn_types::NodeId;

use crate::wire::{Refusal, WireError};

/// Why a network operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The node key could not be turned into a libp2p keypair.
    #[error("node key: {0}")]
    Key(String),
    /// Building the transport or listening failed.
    #[error("transport: {0}")]
    Transport(String),
    /// A message to publish is larger than its topic's limit.
    #[error("message of {size} bytes exceeds the topic limit of {max}")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The topic's limit.
        max: usize,
    },
    /// Gossipsub refused to publish (no subscribed peer yet, or the exact
    /// bytes were published recently).
    #[error("publish: {0}")]
    Publish(String),
    /// The peer is not connected.
    #[error("peer {0} is not connected")]
    NotConnected(NodeId),
    /// The request failed in transport (timeout, closed connection, dial failure).
    #[error("request to {peer} failed: {reason}")]
    RequestFailed {
        /// The peer asked.
        peer: NodeId,
        /// What happened.
        reason: String,
    },
    /// The peer refused the request.
    #[error("peer {peer} refused: {refusal}")]
    Refused {
        /// The peer asked.
        peer: NodeId,
        /// Why.
        refusal: Refusal,
    },
    /// The peer answered something that cannot be an answer to the request
    /// (wrong kind, blocks outside the range or out of order, oversize).
    #[error("invalid response from {peer}: {reason}")]
    InvalidResponse {
        /// The peer asked.
        peer: NodeId,
        /// What is wrong.
        reason: String,
    },
    /// Bytes from the network did not decode.
    #[error("wire: {0}")]
    Wire(#[from] WireError),
    /// The network task has stopped.
    #[error("the network task has stopped")]
    Stopped,
}

impl NetworkError {
    /// True when the remote peer broke the protocol (the node should report
    /// it with [`Network::report_bad_peer`](crate::Network::report_bad_peer)).
    pub fn is_bad_peer(&self) -> bool {
        matches!(
            self,
            NetworkError::InvalidResponse { .. } | NetworkError::Wire(_)
        )
    }

    /// True when retrying later or with another peer may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            NetworkError::NotConnected(_)
                | NetworkError::RequestFailed { .. }
                | NetworkError::Refused { .. }
                | NetworkError::Publish(_)
        )
    }
}
