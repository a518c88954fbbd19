//! The signing guard: the shared suite against the in-memory store, and a
//! check that the suite itself catches a store that forgets.

use cairn_consensus::guard::suite::{self, Harness};
use cairn_consensus::guard::{GuardState, GuardStore, MemoryStore, StoreError};

struct Memory;

impl Harness for Memory {
    type Store = MemoryStore;
    fn fresh(&mut self) -> MemoryStore {
        MemoryStore::default()
    }
    fn reopen(&mut self, store: MemoryStore) -> MemoryStore {
        store
    }
}

#[test]
fn memory_store_passes_the_suite() {
    let report = suite::run(&mut Memory);
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(report.passed.len(), 16, "{report}");
}

/// A store that loses everything on reopen, as a file store that never fsyncs would.
#[derive(Default)]
struct Forgetful(Option<GuardState>);

impl GuardStore for Forgetful {
    fn load(&self) -> Result<Option<GuardState>, StoreError> {
        Ok(self.0.clone())
    }
    fn save(&mut self, state: &GuardState) -> Result<(), StoreError> {
        self.0 = Some(state.clone());
        Ok(())
    }
}

struct ForgetsOnReopen;

impl Harness for ForgetsOnReopen {
    type Store = Forgetful;
    fn fresh(&mut self) -> Forgetful {
        Forgetful::default()
    }
    fn reopen(&mut self, _: Forgetful) -> Forgetful {
        Forgetful::default()
    }
}

#[test]
fn the_suite_fails_a_store_that_forgets() {
    let report = suite::run(&mut ForgetsOnReopen);
    let failed: Vec<&str> = report.failed.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        failed,
        vec![
            "state_survives_reopen",
            "reopen_returns_stored_not_new",
            "lock_survives_reopen",
            "failed_save_releases_nothing"
        ],
        "{report}"
    );
}

#[test]
fn guard_state_round_trips_through_bytes() {
    use cairn_consensus::guard::SigningGuard;
    use cairn_types::{SigningKey, Time, Vote, VoteKind};
    let key = SigningKey::from_seed([3; 32]);
    let addr = key.public_key().address();
    let mut g = SigningGuard::new(key, "c", MemoryStore::default()).unwrap();
    g.sign_vote(Vote {
        kind: VoteKind::Precommit,
        height: 1,
        round: 0,
        value: None,
        timestamp: Time(1),
        validator: addr,
    })
    .unwrap();
    let state = g.last().unwrap().clone();
    assert_eq!(GuardState::from_bytes(&state.to_bytes()).unwrap(), state);
}
