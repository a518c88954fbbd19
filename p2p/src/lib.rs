//! # cairn-p2p
//!
//! Cairn's networking: a libp2p swarm that carries gossip (transactions,
//! consensus messages, evidence), block sync and catch-up queries between
//! permissioned nodes. It faces untrusted input, so every byte that comes in
//! is bounded, decoded canonically with a limit, and classified.
//!
//! ## What it owns, and what it does not
//! Owns: the swarm and its transports, the gossip topics and their limits,
//! the wire types ([`ConsensusMessage`], [`TxBatch`], [`SyncRequest`] /
//! [`SyncResponse`], [`CatchUpRequest`] / [`CatchUpResponse`]), the
//! allowlist gate and bans, persistent-peer redial, per-peer request limits,
//! peer height tracking, and metrics hooks ([`Metrics`]).
//! Does not own: any state. p2p never reads the block store, the mempool or
//! the validator set. The node validates gossip (signatures, validator
//! membership, height windows, mempool checks), supplies the data of every
//! response, verifies synced blocks and their commits, and tells p2p who is
//! allowed. p2p depends on `types`, libp2p and tokio only.
//!
//! ## Shape: one task behind typed channels
//! [`start`] builds the swarm and spawns ONE tokio task that owns it. The
//! node holds a [`Network`] handle (cheap to clone; commands over a bounded
//! mpsc channel: publish, request blocks, catch up, set height, set
//! allowlist, report a bad peer, list peers) and receives [`NetworkEvent`]s
//! (gossip with a [`ValidationToken`], requests with a [`Responder`], peer
//! connected / disconnected / height / banned). Replies to commands travel
//! on oneshot channels. The task never awaits the node: events are sent
//! with `try_send`, and if the node falls `event_capacity` behind, events
//! are dropped and counted (`dropped_events`); a dropped gossip message is
//! ignored (not forwarded), a dropped request is answered "unavailable".
//!
//! ## Identity and permission (DESIGN.md §3, §6)
//! The libp2p ed25519 keypair is made from the node key's 32-byte seed, so
//! the PeerId and the NodeId (first 20 bytes of SHA-256 of the public key,
//! 40 lowercase hex) come from one key. A NodeId cannot be turned into a
//! PeerId, but an ed25519 PeerId inlines its public key: after the noise
//! handshake (the earliest point libp2p knows who the remote is) the gate
//! derives the remote's NodeId and keeps the connection only if it is in
//! the allowlist (persistent peers, validators' node ids, extra ids) and not
//! banned, and its key does not have small order. Otherwise the connection
//! is closed before any protocol runs on it, logged, and counted
//! (`denied_connections`). [`Network::set_allowlist`] (on a validator-set
//! change) disconnects peers that lost their place at once. Persistent
//! peers are dialled by address (CometBFT's `id@ip:port`, [`PeerAddr`]),
//! and redialled after any disconnect or failed dial with exponential
//! backoff (`redial_min` doubling to `redial_max`), each dial bounded by
//! `dial_timeout`. The idle timeout is raised from libp2p's 10 s to a day
//! so quiet links stay up; a link that goes dead instead (a partition) is
//! found by ping: a connection whose ping is unanswered for `ping_timeout`
//! is closed and its peer redialled. Keeping it would be worse than
//! closing it: after seconds of loss its TCP retransmission timer has
//! backed off, and the first votes after the partition heals would wait
//! for it (14 s after a 30 s partition in `scripts/chaos-net.sh`).
//!
//! ## Gossip (gossipsub)
//! Topics per chain: `/cairn/<chain id>/{txs,consensus,evidence}/1`.
//! Message id = SHA-256 of the payload (so duplicates from any path are one
//! message). Gossipsub's own signing is off (`Anonymous`): payloads carry
//! their own signatures and noise authenticates links. Validation is manual:
//! a received message is not forwarded until judged. p2p first decodes it
//! with its topic's limit (and, for tx batches, the count and per-tx size
//! limits); undecodable bytes are rejected right there. The rest reach the
//! node with a token: `accept` forwards, `ignore` drops, `reject` drops and
//! penalises the forwarding peer (a strike; more than `max_strikes` in
//! `strike_window` bans it). A token dropped unreported counts as ignore.
//! Sizes: gossipsub's frame limit is raised from its 64 KiB default to the
//! largest topic limit plus framing, so a block fits on the consensus topic;
//! each topic's own limit is applied by p2p's decoding, so a 4 MiB "tx
//! batch" is rejected on receipt and its sender struck (gossipsub's
//! per-topic limit is not used: it drops silently, so the sender would go
//! unpunished). A frame above gossipsub's limit is dropped by its decoder,
//! unpunished. Publishing above a topic's limit fails locally with
//! [`NetworkError::TooLarge`].
//!
//! ## Catch-up and block sync (request-response)
//! Gossip drops duplicates and never re-sends, so peers can ask each other
//! (`/cairn/<chain>/catchup/1`) for the votes of a height and round, the
//! commit of a height, or a block by id; and (`/cairn/<chain>/sync/1`) for
//! blocks with their commits by height range, and for their status (latest
//! and lowest served height: how peers advertise heights; p2p answers
//! status itself from [`Network::set_height`] and polls every connected
//! peer every `status_interval`). Requests are read with a 1 KiB limit;
//! ranges longer than `max_sync_blocks` (or empty, or from 0) are refused
//! without reaching the node; each peer has a token bucket per protocol;
//! a refusal is an answer ([`Refusal`]), not a dropped stream. Responses
//! from the node are trimmed to the response limits (the longest prefix of
//! consecutive blocks from `from` that fits; at most
//! `max_votes_per_response` votes). Answers received are checked
//! structurally before the node sees them: blocks consecutive from `from`
//! within the range, each commit for its block and height; votes of the
//! asked height and round; the commit of the asked height; the block with
//! the asked id. A violation is [`NetworkError::InvalidResponse`]
//! (`is_bad_peer`). Verifying commits needs validator sets: that is the
//! node's sync driver, which reports a peer that served invalid blocks with
//! [`Network::report_bad_peer`]: p2p disconnects it, refuses it for
//! `ban_duration` (not redialled meanwhile) and stops offering it.
//! A peer that advertises a height and later a lower one (CVE-2025-24371:
//! a lie that can stall a syncing node waiting for blocks that never come)
//! is banned by p2p itself ([`BanReason::HeightRegressed`]); sync goes on
//! with the others.
//!
//! ## Limits chosen ([`Limits::from_params`]) and why
//! - Consensus topic: `block_max_bytes` + 256 KiB (a proposal carries its
//!   whole block; 256 KiB covers the signed proposal and framing). Blocks
//!   are sent whole rather than in parts: the 16 MiB cap on
//!   `block_max_bytes` keeps one message bounded, and parts add a
//!   reassembly state machine that buys nothing at this size.
//! - Tx topic: 1 MiB per batch (or one max-size tx plus 1 KiB if larger),
//!   at most 1,024 txs, each at most `tx_max_bytes`: batching amortises
//!   per-message cost and lets the mempool verify a batch's signatures at
//!   once, while a batch stays small next to a block.
//! - Evidence topic: `evidence_max_bytes` clamped to 16..64 KiB (one
//!   DuplicateVote is ~400 bytes).
//! - Requests: 1 KiB (they are a few integers or a hash).
//! - Sync: at most 100 blocks per request; responses at most
//!   max(4 x (block + 256 KiB), 16 MiB) so a full-size block always fits;
//!   10 requests/s per peer, burst 20 (1,000 blocks/s per peer at most).
//! - Catch-up: responses at most a block + 256 KiB, 1,024 votes; 20
//!   requests/s per peer, burst 50 (a node one height behind asks a few).
//! - Connections: 200 established in total, 2 per peer (simultaneous dials),
//!   32 pending incoming handshakes; 32 concurrent streams per protocol.
//! - Strikes: 10 rejected messages per minute, then a 10-minute ban.
//! - Timing: status every 2 s, requests time out after 10 s, redial from
//!   0.5 s doubling to 30 s, gossipsub heartbeat 0.7 s, duplicate cache 2 min.
//!   The limits are read at start; a node that changes consensus
//!   parameters restarts the network to apply new sizes.
//!
//! ## Invariants
//! - No message is forwarded before the node (or p2p's own decoding)
//!   accepted it; rejected messages are never forwarded.
//! - Every connection that stays up belongs to an allowed, unbanned node id.
//! - Every inbound byte is read under a limit; every wait has a timeout.
//! - p2p never answers a data request from its own state (only status).

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
