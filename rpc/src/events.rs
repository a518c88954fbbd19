//! The event handle the node publishes committed blocks and txs into.
//!
//! Flow: the node calls [`RpcEvents::publish_block`] and then
//! [`RpcEvents::publish_tx`] for each tx of the block, after the block is
//! durably committed. These only push `Arc`s into a bounded
//! [`tokio::sync::broadcast`] channel: publishing never blocks and never
//! waits for a subscriber. Two kinds of readers consume the channel:
//! - `broadcast_tx_commit` callers, which wait for their tx's hash;
//! - one renderer task per server ([`crate::server`]), which turns each event
//!   into CometBFT's JSON once and fans it out to websocket clients (see
//!   [`crate::ws`]), so a block is serialised once however many clients listen.
//!
//! A reader that falls more than the channel capacity behind gets
//! `RecvError::Lagged`: a commit waiter then looks its tx up instead, and the
//! renderer logs the loss. Websocket clients are fed from their own bounded
//! queues ([`crate::ws`]): a client too slow for its queue is told and
//! disconnected, never buffered without bound.

use std::sync::Arc;

use cairn_types::Block;
use tokio::sync::broadcast;

use crate::backend::{BlockResults, TxRecord};

/// Default capacity of the event channel (events, not bytes; blocks are shared
/// `Arc`s). A block publishes one event per tx plus its NewBlock, so this
/// exceeds the txs a full block can hold; less, and a full block makes every
/// websocket client lose events.
pub const DEFAULT_EVENT_CAPACITY: usize = 32 * 1024;

/// One committed-chain event.
#[derive(Debug, Clone)]
pub enum ChainEvent {
    /// A block was committed.
    NewBlock {
        /// The block.
        block: Arc<Block>,
        /// Its execution results.
        results: Arc<BlockResults>,
    },
    /// A tx was committed (successfully or not).
    Tx(Arc<TxRecord>),
}

/// The publishing handle. Cheap to clone; every clone feeds the same channel.
#[derive(Debug, Clone)]
pub struct RpcEvents {
    sender: broadcast::Sender<ChainEvent>,
}

impl Default for RpcEvents {
    fn default() -> Self {
        RpcEvents::new(DEFAULT_EVENT_CAPACITY)
    }
}

impl RpcEvents {
    /// A handle whose channel keeps at most `capacity` unread events per reader.
    pub fn new(capacity: usize) -> RpcEvents {
        let (sender, _) = broadcast::channel(capacity.max(1));
        RpcEvents { sender }
    }

    /// Announces a committed block (call after the commit is durable).
    pub fn publish_block(&self, block: Arc<Block>, results: Arc<BlockResults>) {
        // An error only means nobody listens right now.
        let _ = self.sender.send(ChainEvent::NewBlock { block, results });
    }

    /// Announces a committed tx (call after [`RpcEvents::publish_block`] for its block).
    pub fn publish_tx(&self, record: TxRecord) {
        let _ = self.sender.send(ChainEvent::Tx(Arc::new(record)));
    }

    /// A new reader that sees events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ChainEvent> {
        self.sender.subscribe()
    }

    /// Readers currently attached.
    pub fn receiver_count(&self) -> usize {
        self.sender.receiver_count()
    }
}
