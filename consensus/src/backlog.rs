//! A bounded buffer of messages for the next heights.
//!
//! Peers that decided first send votes and proposals of the next height
//! before we get there. Keeping a few saves a round trip; keeping them all
//! would let a peer fill our memory. The backlog keeps at most `capacity`
//! messages, for heights within `max_ahead` of ours, and drops the newest
//! when full (the oldest are the likeliest to be needed first).

use std::collections::VecDeque;

use crate::output::Message;

/// Messages for heights above the current one, bounded.
#[derive(Debug, Clone)]
pub struct Backlog {
    capacity: usize,
    max_ahead: u64,
    items: VecDeque<Message>,
}

impl Backlog {
    /// An empty backlog of at most `capacity` messages, for heights at most `max_ahead` above ours.
    pub fn new(capacity: usize, max_ahead: u64) -> Backlog {
        Backlog {
            capacity,
            max_ahead,
            items: VecDeque::new(),
        }
    }

    /// Keeps `msg` if it is for a height in `(current, current + max_ahead]`
    /// and there is room. Returns whether it was kept.
    pub fn push(&mut self, current: u64, msg: Message) -> bool {
        let h = msg.height();
        if h <= current || h > current.saturating_add(self.max_ahead) {
            return false;
        }
        if self.items.len() >= self.capacity || self.items.contains(&msg) {
            return false;
        }
        self.items.push_back(msg);
        true
    }

    /// Removes and returns the messages for `height`; drops those below it.
    pub fn take(&mut self, height: u64) -> Vec<Message> {
        let (now, later): (Vec<Message>, Vec<Message>) = self
            .items
            .drain(..)
            .filter(|m| m.height() >= height)
            .partition(|m| m.height() == height);
        self.items = later.into();
        now
    }

    /// Number of messages held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
