//! The shared test suite every [`GuardStore`] implementation must pass
//! (feature `test-suite`). The node runs it against its file-backed store:
//!
//! ```ignore
//! let report = cairn_consensus::guard::suite::run(&mut MyHarness::new());
//! assert!(report.failed.is_empty(), "{report}");
//! ```
//!
//! Each case builds a guard over a fresh store, signs, and checks the rules
//! of the guard; the restart cases hand the store to [`Harness::reopen`]
//! (drop and open again, as after a crash) and check the rules still hold.

use cairn_types::{Address, BlockId, Hash, Proposal, SigningKey, Time, Vote, VoteKind};

use super::{GuardError, GuardState, GuardStore, SigningGuard, StoreError};
use crate::input::Step;

/// Makes stores for the suite.
pub trait Harness {
    /// The store under test.
    type Store: GuardStore;
    /// A store with nothing saved.
    fn fresh(&mut self) -> Self::Store;
    /// The same storage opened again after a crash: only what `save` made durable remains.
    fn reopen(&mut self, store: Self::Store) -> Self::Store;
}

/// What [`run`] found.
#[derive(Debug, Default)]
pub struct Report {
    /// Cases that passed.
    pub passed: Vec<&'static str>,
    /// Cases that failed, with what went wrong.
    pub failed: Vec<(&'static str, String)>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} passed, {} failed",
            self.passed.len(),
            self.failed.len()
        )?;
        for (case, why) in &self.failed {
            writeln!(f, "  FAIL {case}: {why}")?;
        }
        Ok(())
    }
}

const CHAIN: &str = "suite-chain";

fn key() -> SigningKey {
    SigningKey::from_seed([7; 32])
}

fn id(n: u8) -> BlockId {
    BlockId(Hash([n; 32]))
}

fn vote(kind: VoteKind, height: u64, round: u32, value: Option<u8>, ts: u64) -> Vote {
    Vote {
        kind,
        height,
        round,
        value: value.map(id),
        timestamp: Time(ts),
        validator: key().public_key().address(),
    }
}

fn proposal(height: u64, round: u32, block: u8, ts: u64) -> Proposal {
    Proposal {
        height,
        round,
        pol_round: None,
        block_id: id(block),
        timestamp: Time(ts),
        proposer: key().public_key().address(),
    }
}

type Guard<S> = SigningGuard<SigningKey, S>;
type CaseResult = Result<(), String>;
type Case<H> = (&'static str, fn(&mut H) -> CaseResult);

fn guard<S: GuardStore>(store: S) -> Result<Guard<S>, String> {
    SigningGuard::new(key(), CHAIN, store).map_err(|e| format!("open: {e}"))
}

fn ok<T>(r: Result<T, GuardError>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: unexpected refusal: {e}"))
}

fn refused<T: std::fmt::Debug>(r: Result<T, GuardError>, what: &str) -> CaseResult {
    match r {
        Err(GuardError::Regression { .. } | GuardError::Conflict { .. }) => Ok(()),
        other => Err(format!("{what}: expected a refusal, got {other:?}")),
    }
}

/// Runs every case against stores from `h`.
pub fn run<H: Harness>(h: &mut H) -> Report {
    let mut report = Report::default();
    let cases: Vec<Case<H>> = vec![
        ("steps_in_order_are_signed", steps_in_order_are_signed::<H>),
        (
            "same_vote_returns_stored_signature",
            same_vote_returns_stored::<H>,
        ),
        (
            "same_value_new_timestamp_returns_stored_vote",
            same_value_new_timestamp::<H>,
        ),
        (
            "conflicting_vote_is_refused",
            conflicting_vote_is_refused::<H>,
        ),
        (
            "nil_after_block_is_a_conflict",
            nil_after_block_is_a_conflict::<H>,
        ),
        (
            "height_regression_is_refused",
            height_regression_is_refused::<H>,
        ),
        (
            "round_regression_is_refused",
            round_regression_is_refused::<H>,
        ),
        (
            "step_regression_is_refused",
            step_regression_is_refused::<H>,
        ),
        (
            "same_proposal_returns_stored",
            same_proposal_returns_stored::<H>,
        ),
        (
            "conflicting_proposal_is_refused",
            conflicting_proposal_is_refused::<H>,
        ),
        (
            "wrong_validator_is_refused",
            wrong_validator_is_refused::<H>,
        ),
        ("state_survives_reopen", state_survives_reopen::<H>),
        (
            "reopen_returns_stored_not_new",
            reopen_returns_stored_not_new::<H>,
        ),
        ("lock_survives_reopen", lock_survives_reopen::<H>),
        (
            "failed_save_releases_nothing",
            failed_save_releases_nothing::<H>,
        ),
        ("new_height_clears_lock", new_height_clears_lock::<H>),
    ];
    for (name, case) in cases {
        match case(h) {
            Ok(()) => report.passed.push(name),
            Err(why) => report.failed.push((name, why)),
        }
    }
    report
}

fn steps_in_order_are_signed<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    let p = ok(g.sign_proposal(proposal(1, 0, 1, 5)), "proposal")?;
    let pv = ok(
        g.sign_vote(vote(VoteKind::Prevote, 1, 0, Some(1), 6)),
        "prevote",
    )?;
    let pc = ok(
        g.sign_vote(vote(VoteKind::Precommit, 1, 0, Some(1), 7)),
        "precommit",
    )?;
    ok(
        g.sign_vote(vote(VoteKind::Prevote, 1, 1, None, 8)),
        "next round",
    )?;
    ok(
        g.sign_vote(vote(VoteKind::Prevote, 2, 0, Some(2), 9)),
        "next height",
    )?;
    let key = key().public_key();
    if p.verify(CHAIN, &key).is_err()
        || pv.verify(CHAIN, &key).is_err()
        || pc.verify(CHAIN, &key).is_err()
    {
        return Err("a released signature does not verify".into());
    }
    Ok(())
}

fn same_vote_returns_stored<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    let a = ok(
        g.sign_vote(vote(VoteKind::Prevote, 3, 1, Some(4), 10)),
        "first",
    )?;
    let b = ok(
        g.sign_vote(vote(VoteKind::Prevote, 3, 1, Some(4), 10)),
        "again",
    )?;
    if a != b {
        return Err("the same vote was signed anew instead of returned".into());
    }
    Ok(())
}

fn same_value_new_timestamp<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    let a = ok(
        g.sign_vote(vote(VoteKind::Precommit, 3, 1, Some(4), 10)),
        "first",
    )?;
    let b = ok(
        g.sign_vote(vote(VoteKind::Precommit, 3, 1, Some(4), 99)),
        "later timestamp",
    )?;
    if a != b || b.vote.timestamp != Time(10) {
        return Err(format!(
            "expected the stored vote (timestamp 10), got {b:?}"
        ));
    }
    Ok(())
}

fn conflicting_vote_is_refused<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    ok(
        g.sign_vote(vote(VoteKind::Prevote, 3, 1, Some(4), 10)),
        "first",
    )?;
    refused(
        g.sign_vote(vote(VoteKind::Prevote, 3, 1, Some(5), 10)),
        "other block",
    )
}

fn nil_after_block_is_a_conflict<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    ok(
        g.sign_vote(vote(VoteKind::Precommit, 3, 1, Some(4), 10)),
        "first",
    )?;
    refused(
        g.sign_vote(vote(VoteKind::Precommit, 3, 1, None, 10)),
        "nil",
    )
}

fn height_regression_is_refused<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    ok(
        g.sign_vote(vote(VoteKind::Prevote, 5, 0, None, 10)),
        "first",
    )?;
    refused(
        g.sign_vote(vote(VoteKind::Precommit, 4, 9, None, 10)),
        "lower height",
    )?;
    refused(
        g.sign_proposal(proposal(4, 9, 1, 10)),
        "proposal at lower height",
    )
}

fn round_regression_is_refused<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    ok(
        g.sign_vote(vote(VoteKind::Prevote, 5, 3, None, 10)),
        "first",
    )?;
    refused(
        g.sign_vote(vote(VoteKind::Precommit, 5, 2, None, 10)),
        "lower round",
    )
}

fn step_regression_is_refused<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    ok(
        g.sign_vote(vote(VoteKind::Precommit, 5, 3, None, 10)),
        "first",
    )?;
    refused(
        g.sign_vote(vote(VoteKind::Prevote, 5, 3, None, 10)),
        "prevote after precommit",
    )?;
    refused(
        g.sign_proposal(proposal(5, 3, 1, 10)),
        "proposal after votes",
    )
}

fn same_proposal_returns_stored<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    let a = ok(g.sign_proposal(proposal(2, 0, 1, 10)), "first")?;
    let b = ok(g.sign_proposal(proposal(2, 0, 1, 20)), "again")?;
    if a != b {
        return Err("the same proposal was signed anew".into());
    }
    Ok(())
}

fn conflicting_proposal_is_refused<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    ok(g.sign_proposal(proposal(2, 0, 1, 10)), "first")?;
    refused(g.sign_proposal(proposal(2, 0, 2, 10)), "other block")?;
    let mut with_pol = proposal(2, 0, 1, 10);
    with_pol.pol_round = Some(0);
    refused(g.sign_proposal(with_pol), "other proof-of-lock round")
}

fn wrong_validator_is_refused<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    let mut v = vote(VoteKind::Prevote, 1, 0, None, 1);
    v.validator = Address([9; 20]);
    match g.sign_vote(v) {
        Err(GuardError::WrongValidator { .. }) => Ok(()),
        other => Err(format!("expected WrongValidator, got {other:?}")),
    }
}

fn state_survives_reopen<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    ok(
        g.sign_vote(vote(VoteKind::Precommit, 8, 2, Some(3), 10)),
        "first",
    )?;
    let store = h.reopen(g.into_store());
    let mut g = guard(store)?;
    refused(
        g.sign_vote(vote(VoteKind::Prevote, 8, 2, None, 10)),
        "step regression after reopen",
    )?;
    refused(
        g.sign_vote(vote(VoteKind::Precommit, 8, 2, Some(4), 10)),
        "conflict after reopen",
    )?;
    refused(
        g.sign_vote(vote(VoteKind::Precommit, 7, 0, None, 10)),
        "height regression after reopen",
    )
}

fn reopen_returns_stored_not_new<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    let a = ok(
        g.sign_vote(vote(VoteKind::Prevote, 8, 2, Some(3), 10)),
        "first",
    )?;
    let mut g = guard(h.reopen(g.into_store()))?;
    let b = ok(
        g.sign_vote(vote(VoteKind::Prevote, 8, 2, Some(3), 50)),
        "again after reopen",
    )?;
    if a != b {
        return Err(
            "after reopen the guard signed anew instead of returning the stored vote".into(),
        );
    }
    Ok(())
}

fn lock_survives_reopen<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    let lock = ok(
        g.sign_vote(vote(VoteKind::Precommit, 8, 2, Some(3), 10)),
        "lock",
    )?;
    let last = ok(
        g.sign_vote(vote(VoteKind::Prevote, 8, 3, None, 11)),
        "later prevote",
    )?;
    let g = guard(h.reopen(g.into_store()))?;
    let restored = g.restore_votes(8);
    if restored != vec![lock, last] {
        return Err(format!("restore_votes after reopen: {restored:?}"));
    }
    Ok(())
}

/// A store that fails every save after the first `allow` saves.
struct Failing<S> {
    inner: S,
    allow: usize,
}

impl<S: GuardStore> GuardStore for Failing<S> {
    fn load(&self) -> Result<Option<GuardState>, StoreError> {
        self.inner.load()
    }
    fn save(&mut self, state: &GuardState) -> Result<(), StoreError> {
        if self.allow == 0 {
            return Err(StoreError("injected failure".into()));
        }
        self.allow -= 1;
        self.inner.save(state)
    }
}

fn failed_save_releases_nothing<H: Harness>(h: &mut H) -> CaseResult {
    let store = Failing {
        inner: h.fresh(),
        allow: 1,
    };
    let mut g = guard(store)?;
    ok(
        g.sign_vote(vote(VoteKind::Prevote, 4, 0, Some(1), 10)),
        "first",
    )?;
    match g.sign_vote(vote(VoteKind::Precommit, 4, 0, Some(1), 10)) {
        Err(e) if e.is_fatal() => {}
        other => return Err(format!("a failed save released {other:?}")),
    }
    // The unsaved precommit must not count as signed, before or after a reopen.
    let inner = h.reopen(g.into_store().inner);
    let g = guard(inner)?;
    match g.last() {
        Some(s) if s.step == Step::Prevote => Ok(()),
        other => Err(format!("after a failed save the store holds {other:?}")),
    }
}

fn new_height_clears_lock<H: Harness>(h: &mut H) -> CaseResult {
    let mut g = guard(h.fresh())?;
    ok(
        g.sign_vote(vote(VoteKind::Precommit, 8, 0, Some(3), 10)),
        "lock at 8",
    )?;
    let v = ok(
        g.sign_vote(vote(VoteKind::Prevote, 9, 0, None, 11)),
        "height 9",
    )?;
    let restored = g.restore_votes(9);
    if restored != vec![v] {
        return Err(format!("lock of height 8 leaked into 9: {restored:?}"));
    }
    Ok(())
}
