//! Algorithm 1, line by line, as tables: each row is a description, an
//! input, the outputs it must produce, and the state it must leave
//! (round, step, locked, valid). Four validators of power 1 unless stated:
//! 2f+1 = 3 votes, f+1 = 2.

mod common;

use cairn_consensus::{Ignored, Input, Output, Step};
use cairn_types::{Commit, CommitSig, SignedVote, SigningKey, Vote, VoteKind};
use common::*;

use Step::{Precommit as PC, Prevote as PV, Propose as PP};

#[allow(clippy::large_enum_variant)]
enum Act {
    Start,
    In(Input),
    Many(Vec<Input>),
    /// Sign the previous row's SignVote / SignProposal outputs and feed them back.
    FeedBack,
}

struct Row {
    desc: &'static str,
    act: Act,
    expect: Vec<Out>,
    state: St,
}

fn row(desc: &'static str, act: Act, expect: Vec<Out>, state: St) -> Row {
    Row {
        desc,
        act,
        expect,
        state,
    }
}

/// Runs the rows in order against one core; returns the core for extra checks.
fn run(w: &World, name: &str, rows: Vec<Row>) -> cairn_consensus::Core {
    run_core(w, w.core(), name, rows)
}

/// As [`run`], against `core` (a mutant, say).
fn run_core(
    w: &World,
    mut core: cairn_consensus::Core,
    name: &str,
    rows: Vec<Row>,
) -> cairn_consensus::Core {
    let mut last: Vec<Output> = Vec::new();
    for (i, r) in rows.into_iter().enumerate() {
        let inputs = match r.act {
            Act::Start => {
                last = core.start(T);
                None
            }
            Act::In(input) => Some(vec![input]),
            Act::Many(inputs) => Some(inputs),
            Act::FeedBack => Some(w.feed_back(&last)),
        };
        if let Some(inputs) = inputs {
            last = inputs.into_iter().flat_map(|i| core.handle(T, i)).collect();
        }
        assert_eq!(
            w.project(&last),
            r.expect,
            "{name}, row {i} ({}): outputs",
            r.desc
        );
        assert_eq!(state(&core), r.state, "{name}, row {i} ({}): state", r.desc);
    }
    core
}

fn t_propose(r: u32) -> Out {
    Out::Timeout(PP, r, 3000 + 500 * u64::from(r))
}
fn t_prevote(r: u32) -> Out {
    Out::Timeout(PV, r, 1000 + 500 * u64::from(r))
}
fn t_precommit(r: u32) -> Out {
    Out::Timeout(PC, r, 1000 + 500 * u64::from(r))
}

/// Round 0: proposal A, prevotes for A from us and two others: locked on A.
fn lock_a_in_round_0(w: &World) -> Vec<Row> {
    let o = w.others();
    vec![
        row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
        row(
            "proposal A",
            Act::In(w.proposal(0, 'A', None, true)),
            vec![Out::Prevote(0, Some('A'))],
            (0, PV, None, None),
        ),
        row(
            "own prevote counted",
            Act::FeedBack,
            vec![],
            (0, PV, None, None),
        ),
        row(
            "two more prevotes for A: polka",
            Act::Many(w.prevotes(&o[..2], 0, Some('A'))),
            vec![t_prevote(0), Out::Precommit(0, Some('A'))],
            (0, PC, Some((0, 'A')), Some((0, 'A'))),
        ),
    ]
}

/// After `lock_a_in_round_0`: others precommit nil, the round times out.
fn to_round_1(w: &World) -> Vec<Row> {
    let o = w.others();
    vec![
        row(
            "own precommit counted",
            Act::FeedBack,
            vec![],
            (0, PC, Some((0, 'A')), Some((0, 'A'))),
        ),
        row(
            "two nil precommits: 2f+1 precommits for anything",
            Act::Many(w.precommits(&o[..2], 0, None)),
            vec![t_precommit(0)],
            (0, PC, Some((0, 'A')), Some((0, 'A'))),
        ),
        row(
            "timeoutPrecommit: round 1",
            Act::In(w.timeout(0, PC)),
            vec![t_propose(1)],
            (1, PP, Some((0, 'A')), Some((0, 'A'))),
        ),
    ]
}

#[test]
fn l11_21_start_round_not_proposer() {
    let w = World::four();
    run(
        &w,
        "L11-21",
        vec![row(
            "StartRound(0): not the proposer, schedule timeoutPropose (L20-21)",
            Act::Start,
            vec![t_propose(0)],
            (0, PP, None, None),
        )],
    );
}

#[test]
fn l13_18_proposer_gets_a_value_and_proposes() {
    let w = World::four_proposing_in(0);
    let core = run(
        &w,
        "L13-18",
        vec![
            row(
                "StartRound(0) as proposer without valid value: getValue() (L16)",
                Act::Start,
                vec![Out::GetValue(0), t_propose(0)],
                (0, PP, None, None),
            ),
            row(
                "value ready: broadcast PROPOSAL with vr = -1 (L18)",
                Act::In(Input::ValueReady {
                    height: HEIGHT,
                    round: 0,
                    block: letter_block('A'),
                }),
                vec![Out::Propose(0, 'A', None)],
                (0, PP, None, None),
            ),
            row(
                "own proposal back: prevote it (L22-24)",
                Act::FeedBack,
                vec![Out::Prevote(0, Some('A'))],
                (0, PV, None, None),
            ),
            row(
                "a second value for the round is not expected",
                Act::In(Input::ValueReady {
                    height: HEIGHT,
                    round: 0,
                    block: letter_block('B'),
                }),
                vec![Out::Ignored(Ignored::UnexpectedValue)],
                (0, PV, None, None),
            ),
        ],
    );
    // The proposal is what the shell re-sends while the round makes no progress.
    let again = core.rebroadcast();
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(matches!(&again[0], cairn_consensus::Message::Proposal(p, _) if p.proposal.round == 0));
}

#[test]
fn l14_15_proposer_reproposes_its_valid_value() {
    let w = World::four_proposing_in(1);
    let mut rows = lock_a_in_round_0(&w);
    let o = w.others();
    rows.extend(vec![
        row(
            "own precommit counted",
            Act::FeedBack,
            vec![],
            (0, PC, Some((0, 'A')), Some((0, 'A'))),
        ),
        row(
            "two nil precommits",
            Act::Many(w.precommits(&o[..2], 0, None)),
            vec![t_precommit(0)],
            (0, PC, Some((0, 'A')), Some((0, 'A'))),
        ),
        row(
            "round 1, we propose: validValue A with validRound 0 (L14-15, L18)",
            Act::In(w.timeout(0, PC)),
            vec![Out::Propose(1, 'A', Some(0)), t_propose(1)],
            (1, PP, Some((0, 'A')), Some((0, 'A'))),
        ),
        row(
            "own proposal back: L28 with vr = 0, POL known: prevote A",
            Act::FeedBack,
            vec![Out::Prevote(1, Some('A'))],
            (1, PV, Some((0, 'A')), Some((0, 'A'))),
        ),
    ]);
    run(&w, "L14-15", rows);
}

#[test]
fn l22_27_fresh_proposal() {
    let w = World::four();
    run(
        &w,
        "L22-24 valid",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "valid proposal, not locked: prevote id(v) (L24), step prevote (L27)",
                Act::In(w.proposal(0, 'A', None, true)),
                vec![Out::Prevote(0, Some('A'))],
                (0, PV, None, None),
            ),
            row(
                "the same proposal again is a duplicate",
                Act::In(w.proposal(0, 'A', None, true)),
                vec![Out::Ignored(Ignored::Duplicate)],
                (0, PV, None, None),
            ),
        ],
    );
    run(
        &w,
        "L25-26 invalid",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "invalid proposal: prevote nil (L26)",
                Act::In(w.proposal(0, 'A', None, false)),
                vec![Out::Prevote(0, None)],
                (0, PV, None, None),
            ),
        ],
    );
    let mut rows = lock_a_in_round_0(&w);
    rows.extend(to_round_1(&w));
    rows.push(row(
        "locked on A, fresh proposal B: prevote nil (L23 fails)",
        Act::In(w.proposal(1, 'B', None, true)),
        vec![Out::Prevote(1, None)],
        (1, PV, Some((0, 'A')), Some((0, 'A'))),
    ));
    run(&w, "L23 lock holds", rows);
    let mut rows = lock_a_in_round_0(&w);
    rows.extend(to_round_1(&w));
    rows.push(row(
        "locked on A, fresh proposal A: prevote A (lockedValue = v)",
        Act::In(w.proposal(1, 'A', None, true)),
        vec![Out::Prevote(1, Some('A'))],
        (1, PV, Some((0, 'A')), Some((0, 'A'))),
    ));
    run(&w, "L23 same value", rows);
}

#[test]
fn l28_33_proposal_with_proof_of_lock() {
    let w = World::four();
    let o = w.others();
    // Round 0 missed: we prevote nil by timeout, the others prevote A.
    let missed_round_0 = |w: &World| {
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "timeoutPropose: prevote nil",
                Act::In(w.timeout(0, PP)),
                vec![Out::Prevote(0, None)],
                (0, PV, None, None),
            ),
            row(
                "own prevote counted",
                Act::FeedBack,
                vec![],
                (0, PV, None, None),
            ),
            row(
                "three prevotes for A, but no proposal seen: only timeoutPrevote",
                Act::Many(w.prevotes(&o, 0, Some('A'))),
                vec![t_prevote(0)],
                (0, PV, None, None),
            ),
            row(
                "timeoutPrevote: precommit nil",
                Act::In(w.timeout(0, PV)),
                vec![Out::Precommit(0, None)],
                (0, PC, None, None),
            ),
            row(
                "timeoutPrecommit: round 1",
                Act::In(w.timeout(0, PC)),
                vec![t_propose(1)],
                (1, PP, None, None),
            ),
        ]
    };
    let mut rows = missed_round_0(&w);
    rows.push(row(
        "proposal A with vr = 0 and 2f+1 prevotes for A in round 0: prevote A (L28-30)",
        Act::In(w.proposal(1, 'A', Some(0), true)),
        vec![Out::Prevote(1, Some('A'))],
        (1, PV, None, None),
    ));
    run(&w, "L28-30", rows);

    let mut rows = missed_round_0(&w);
    rows.push(row(
        "same, but the block is invalid: prevote nil (L31-32)",
        Act::In(w.proposal(1, 'A', Some(0), false)),
        vec![Out::Prevote(1, None)],
        (1, PV, None, None),
    ));
    run(&w, "L31-32", rows);

    // The proposal comes before the proof of lock: wait for it.
    run(
        &w,
        "L28 waits for the POL",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "timeoutPropose",
                Act::In(w.timeout(0, PP)),
                vec![Out::Prevote(0, None)],
                (0, PV, None, None),
            ),
            row(
                "timeoutPrevote",
                Act::In(w.timeout(0, PV)),
                vec![Out::Precommit(0, None)],
                (0, PC, None, None),
            ),
            row(
                "timeoutPrecommit",
                Act::In(w.timeout(0, PC)),
                vec![t_propose(1)],
                (1, PP, None, None),
            ),
            row(
                "proposal A with vr = 0 but no POL yet: nothing",
                Act::In(w.proposal(1, 'A', Some(0), true)),
                vec![],
                (1, PP, None, None),
            ),
            row(
                "two prevotes for A in round 0: still short",
                Act::Many(w.prevotes(&o[..2], 0, Some('A'))),
                vec![],
                (1, PP, None, None),
            ),
            row(
                "the third: POL complete, prevote A",
                Act::In(w.prevote(o[2], 0, Some('A'))),
                vec![Out::Prevote(1, Some('A'))],
                (1, PV, None, None),
            ),
        ],
    );

    // Locked on A in round 0; the others prevote B in round 1 (a polka we
    // only see after prevoting nil); round 2 proposes B with vr = 1 >= lockedRound.
    let mut rows = lock_a_in_round_0(&w);
    rows.extend(to_round_1(&w));
    rows.extend(vec![
        row(
            "proposal B in round 1: locked on A, prevote nil",
            Act::In(w.proposal(1, 'B', None, true)),
            vec![Out::Prevote(1, None)],
            (1, PV, Some((0, 'A')), Some((0, 'A'))),
        ),
        row(
            "three prevotes for B in round 1: polka at step prevote: lock B (L36-41)",
            Act::Many(w.prevotes(&o, 1, Some('B'))),
            vec![t_prevote(1), Out::Precommit(1, Some('B'))],
            (1, PC, Some((1, 'B')), Some((1, 'B'))),
        ),
    ]);
    run(&w, "L36 relock on a later polka", rows);

    // lockedRound 1 > vr 0 and another value: prevote nil (L29 fails, L32).
    let mut rows = missed_round_0(&w);
    rows.extend(vec![
        row(
            "round 1: proposal C",
            Act::In(w.proposal(1, 'C', None, true)),
            vec![Out::Prevote(1, Some('C'))],
            (1, PV, None, None),
        ),
        row(
            "own prevote counted",
            Act::FeedBack,
            vec![],
            (1, PV, None, None),
        ),
        row(
            "two prevotes for C: polka, lock C in round 1",
            Act::Many(w.prevotes(&o[..2], 1, Some('C'))),
            vec![t_prevote(1), Out::Precommit(1, Some('C'))],
            (1, PC, Some((1, 'C')), Some((1, 'C'))),
        ),
        row(
            "timeoutPrecommit: round 2",
            Act::In(w.timeout(1, PC)),
            vec![t_propose(2)],
            (2, PP, Some((1, 'C')), Some((1, 'C'))),
        ),
        row(
            "proposal A with vr = 0 (POL for A in round 0 exists): lockedRound 1 > 0, prevote nil",
            Act::In(w.proposal(2, 'A', Some(0), true)),
            vec![Out::Prevote(2, None)],
            (2, PV, Some((1, 'C')), Some((1, 'C'))),
        ),
    ]);
    run(&w, "L29 lock newer than vr", rows);
}

/// The forged proof-of-lock attack on one core: locked on A in round 0, the
/// round-1 proposer proposes B claiming vr = 0, but nobody prevoted B in
/// round 0. L28 needs 2f+1 prevotes for B in vr: the core waits and prevotes
/// nil on timeoutPropose. The `NoPolCheck` mutant believes vr, and since
/// lockedRound 0 <= vr (L29) it prevotes B: the lock is broken.
#[test]
fn l28_forged_proof_of_lock_round() {
    let w = World::four();
    let rows = |w: &World, forged: Vec<Out>, after: Step, timeout: Vec<Out>| {
        let mut rows = lock_a_in_round_0(w);
        rows.extend(to_round_1(w));
        rows.extend(vec![
            row(
                "proposal B with vr = 0, no prevote for B in round 0",
                Act::In(w.proposal(1, 'B', Some(0), true)),
                forged,
                (1, after, Some((0, 'A')), Some((0, 'A'))),
            ),
            row(
                "timeoutPropose (L57)",
                Act::In(w.timeout(1, PP)),
                timeout,
                (1, PV, Some((0, 'A')), Some((0, 'A'))),
            ),
        ]);
        rows
    };
    run(
        &w,
        "L28 refuses a forged vr",
        rows(&w, vec![], PP, vec![Out::Prevote(1, None)]),
    );
    let mut mutant = w.core();
    mutant.set_mutant(Some(cairn_consensus::Mutant::NoPolCheck));
    run_core(
        &w,
        mutant,
        "NoPolCheck believes a forged vr",
        rows(
            &w,
            vec![Out::Prevote(1, Some('B'))],
            PV,
            vec![Out::Ignored(Ignored::StaleTimeout)],
        ),
    );
}

#[test]
fn l34_35_two_thirds_prevotes_for_anything() {
    let w = World::four();
    let o = w.others();
    run(
        &w,
        "L34-35",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "prevotes while at step propose: no timeout yet",
                Act::Many(vec![
                    w.prevote(o[0], 0, Some('A')),
                    w.prevote(o[1], 0, None),
                    w.prevote(o[2], 0, Some('B')),
                ]),
                vec![],
                (0, PP, None, None),
            ),
            row(
                "timeoutPropose: prevote nil, and now at step prevote with 2f+1 mixed prevotes",
                Act::In(w.timeout(0, PP)),
                vec![Out::Prevote(0, None), t_prevote(0)],
                (0, PV, None, None),
            ),
            row(
                "own prevote: no second timeout (for the first time only)",
                Act::FeedBack,
                vec![],
                (0, PV, None, None),
            ),
        ],
    );
}

#[test]
fn l36_43_polka_at_precommit_step_updates_valid_only() {
    let w = World::four();
    let o = w.others();
    run(
        &w,
        "L36-43",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "timeoutPropose",
                Act::In(w.timeout(0, PP)),
                vec![Out::Prevote(0, None)],
                (0, PV, None, None),
            ),
            row(
                "timeoutPrevote: precommit nil",
                Act::In(w.timeout(0, PV)),
                vec![Out::Precommit(0, None)],
                (0, PC, None, None),
            ),
            row(
                "three prevotes for A, no proposal: nothing",
                Act::Many(w.prevotes(&o, 0, Some('A'))),
                vec![],
                (0, PC, None, None),
            ),
            row(
                "the proposal arrives: validValue A, no lock, no precommit (L42-43)",
                Act::In(w.proposal(0, 'A', None, true)),
                vec![],
                (0, PC, None, Some((0, 'A'))),
            ),
        ],
    );
    run(
        &w,
        "L36 needs valid(v)",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "invalid proposal: prevote nil",
                Act::In(w.proposal(0, 'A', None, false)),
                vec![Out::Prevote(0, None)],
                (0, PV, None, None),
            ),
            row(
                "three prevotes for the invalid block: no lock, only timeoutPrevote",
                Act::Many(w.prevotes(&o, 0, Some('A'))),
                vec![t_prevote(0)],
                (0, PV, None, None),
            ),
        ],
    );
}

#[test]
fn l44_46_two_thirds_prevotes_for_nil() {
    let w = World::four();
    let o = w.others();
    run(
        &w,
        "L44-46",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "timeoutPropose",
                Act::In(w.timeout(0, PP)),
                vec![Out::Prevote(0, None)],
                (0, PV, None, None),
            ),
            row("own prevote", Act::FeedBack, vec![], (0, PV, None, None)),
            row(
                "a duplicate nil prevote is not counted twice",
                Act::Many(vec![w.prevote(o[0], 0, None), w.prevote(o[0], 0, None)]),
                vec![Out::Ignored(Ignored::Duplicate)],
                (0, PV, None, None),
            ),
            row(
                "third nil prevote: timeoutPrevote (L34) and precommit nil (L44-46)",
                Act::In(w.prevote(o[1], 0, None)),
                vec![t_prevote(0), Out::Precommit(0, None)],
                (0, PC, None, None),
            ),
        ],
    );
}

#[test]
fn l47_48_two_thirds_precommits_for_anything() {
    let w = World::four();
    let o = w.others();
    run(
        &w,
        "L47-48",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "three mixed precommits, even at step propose: timeoutPrecommit",
                Act::Many(vec![
                    w.precommit(o[0], 0, Some('A')),
                    w.precommit(o[1], 0, None),
                    w.precommit(o[2], 0, Some('B')),
                ]),
                vec![t_precommit(0)],
                (0, PP, None, None),
            ),
            row(
                "timeoutPrecommit (L65-67): round 1",
                Act::In(w.timeout(0, PC)),
                vec![t_propose(1)],
                (1, PP, None, None),
            ),
        ],
    );
}

#[test]
fn l49_54_decide() {
    let w = World::four();
    let o = w.others();
    let core = run(
        &w,
        "L49-54 current round",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "three precommits for A, no proposal: only timeoutPrecommit",
                Act::Many(w.precommits(&o, 0, Some('A'))),
                vec![t_precommit(0)],
                (0, PP, None, None),
            ),
            row(
                "the proposal: decide A (L49-51)",
                Act::In(w.proposal(0, 'A', None, true)),
                vec![Out::Decide('A', 0)],
                (0, PP, None, None),
            ),
            row(
                "after the decision everything is ignored",
                Act::In(w.prevote(o[0], 0, None)),
                vec![Out::Ignored(Ignored::AlreadyDecided)],
                (0, PP, None, None),
            ),
        ],
    );
    let (_, commit) = core.decision().unwrap();
    let me = w.me;
    for (i, sig) in commit.signatures.iter().enumerate() {
        let expect_block = i != me;
        assert_eq!(
            matches!(sig, CommitSig::ForBlock { .. }),
            expect_block,
            "entry {i}"
        );
        assert_eq!(matches!(sig, CommitSig::Absent), !expect_block, "entry {i}");
    }
    run(
        &w,
        "L49 in an earlier round",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "proposal A in round 0",
                Act::In(w.proposal(0, 'A', None, true)),
                vec![Out::Prevote(0, Some('A'))],
                (0, PV, None, None),
            ),
            row(
                "timeoutPrevote",
                Act::In(w.timeout(0, PV)),
                vec![Out::Precommit(0, None)],
                (0, PC, None, None),
            ),
            row(
                "timeoutPrecommit: round 1",
                Act::In(w.timeout(0, PC)),
                vec![t_propose(1)],
                (1, PP, None, None),
            ),
            row(
                "late precommits for A in round 0: decide A in round 0 (any round r)",
                Act::Many(w.precommits(&o, 0, Some('A'))),
                vec![Out::Decide('A', 0)],
                (1, PP, None, None),
            ),
        ],
    );
    run(
        &w,
        "L50 invalid value is not decided",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "invalid proposal",
                Act::In(w.proposal(0, 'A', None, false)),
                vec![Out::Prevote(0, None)],
                (0, PV, None, None),
            ),
            row(
                "three precommits for it: no decision",
                Act::Many(w.precommits(&o, 0, Some('A'))),
                vec![t_precommit(0)],
                (0, PV, None, None),
            ),
        ],
    );
}

#[test]
fn l55_56_round_skip() {
    let w = World::four();
    let o = w.others();
    run(
        &w,
        "L55-56",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "one vote of round 5 (power 1, not f+1): stay",
                Act::In(w.prevote(o[0], 5, None)),
                vec![],
                (0, PP, None, None),
            ),
            row(
                "the same validator again in round 5 (another kind): still one sender",
                Act::In(w.precommit(o[0], 5, None)),
                vec![],
                (0, PP, None, None),
            ),
            row(
                "a second validator in round 5: f+1, StartRound(5) with a longer timeout",
                Act::In(w.precommit(o[1], 5, Some('A'))),
                vec![t_propose(5)],
                (5, PP, None, None),
            ),
        ],
    );
    // Unequal power: one validator holds 4 of 7, more than 1/3 alone.
    let w = World::new(&[4, 1, 1, 1], |s| {
        let busy = [
            s.proposer_for_round(0).address,
            s.proposer_for_round(2).address,
        ];
        s.validators()
            .iter()
            .position(|v| v.power == 1 && !busy.contains(&v.address))
            .unwrap()
    });
    let big = w
        .set
        .validators()
        .iter()
        .position(|v| v.power == 4)
        .unwrap();
    let small: Vec<usize> = w.others().into_iter().filter(|i| *i != big).collect();
    run(
        &w,
        "L55 by power",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "two small validators in round 3 (power 2 of 7): stay",
                Act::Many(w.prevotes(&small, 3, None)),
                vec![],
                (0, PP, None, None),
            ),
            row(
                "the big one in round 2 (power 4 of 7): StartRound(2)",
                Act::In(w.prevote(big, 2, None)),
                vec![t_propose(2)],
                (2, PP, None, None),
            ),
        ],
    );
}

#[test]
fn quorum_is_by_power_not_count() {
    let w = World::new(&[4, 1, 1, 1], |s| {
        let busy = [
            s.proposer_for_round(0).address,
            s.proposer_for_round(2).address,
        ];
        s.validators()
            .iter()
            .position(|v| v.power == 1 && !busy.contains(&v.address))
            .unwrap()
    });
    let big = w
        .set
        .validators()
        .iter()
        .position(|v| v.power == 4)
        .unwrap();
    let small: Vec<usize> = w.others().into_iter().filter(|i| *i != big).collect();
    run(
        &w,
        "power",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "timeoutPropose: prevote nil",
                Act::In(w.timeout(0, PP)),
                vec![Out::Prevote(0, None)],
                (0, PV, None, None),
            ),
            row("own prevote", Act::FeedBack, vec![], (0, PV, None, None)),
            row(
                "three of four validators prevoted nil, but only power 3 of 7: nothing",
                Act::Many(w.prevotes(&small, 0, None)),
                vec![],
                (0, PV, None, None),
            ),
            row(
                "the big one (4 + 3 = 7 of 7): precommit nil",
                Act::In(w.prevote(big, 0, None)),
                vec![t_prevote(0), Out::Precommit(0, None)],
                (0, PC, None, None),
            ),
        ],
    );
}

#[test]
fn l57_67_timeouts() {
    let w = World::four();
    run(
        &w,
        "L57-67",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "timeoutPrevote while at propose: stale (L62)",
                Act::In(w.timeout(0, PV)),
                vec![Out::Ignored(Ignored::StaleTimeout)],
                (0, PP, None, None),
            ),
            row(
                "timeoutPropose of another round: stale (L58)",
                Act::In(w.timeout(1, PP)),
                vec![Out::Ignored(Ignored::StaleTimeout)],
                (0, PP, None, None),
            ),
            row(
                "timeoutPropose: prevote nil (L57-60)",
                Act::In(w.timeout(0, PP)),
                vec![Out::Prevote(0, None)],
                (0, PV, None, None),
            ),
            row(
                "timeoutPropose again: stale",
                Act::In(w.timeout(0, PP)),
                vec![Out::Ignored(Ignored::StaleTimeout)],
                (0, PV, None, None),
            ),
            row(
                "timeoutPrevote: precommit nil (L61-64)",
                Act::In(w.timeout(0, PV)),
                vec![Out::Precommit(0, None)],
                (0, PC, None, None),
            ),
            row(
                "timeoutPrecommit: StartRound(1) (L65-67)",
                Act::In(w.timeout(0, PC)),
                vec![t_propose(1)],
                (1, PP, None, None),
            ),
            row(
                "timeoutPrecommit even at step propose: StartRound(2); timeouts grow",
                Act::In(w.timeout(1, PC)),
                vec![t_propose(2)],
                (2, PP, None, None),
            ),
            row(
                "timeoutPrecommit of an old round: stale",
                Act::In(w.timeout(1, PC)),
                vec![Out::Ignored(Ignored::StaleTimeout)],
                (2, PP, None, None),
            ),
        ],
    );
}

#[test]
fn vote_keeper_equivocation_becomes_evidence_counted_once() {
    let w = World::four();
    let o = w.others();
    let core = run(
        &w,
        "equivocation",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "proposal A",
                Act::In(w.proposal(0, 'A', None, true)),
                vec![Out::Prevote(0, Some('A'))],
                (0, PV, None, None),
            ),
            row(
                "o0 prevotes B",
                Act::In(w.prevote(o[0], 0, Some('B'))),
                vec![],
                (0, PV, None, None),
            ),
            row(
                "o0 also prevotes A: evidence; counts for A, not again for 'any'",
                Act::In(w.prevote(o[0], 0, Some('A'))),
                vec![Out::Evidence(o[0])],
                (0, PV, None, None),
            ),
            row(
                "o0 prevotes A again: duplicate",
                Act::In(w.prevote(o[0], 0, Some('A'))),
                vec![Out::Ignored(Ignored::Duplicate)],
                (0, PV, None, None),
            ),
            row(
                "o0 prevotes nil too: already reported, dropped",
                Act::In(w.prevote(o[0], 0, None)),
                vec![Out::Ignored(Ignored::AlreadyReported(
                    w.set.validators()[o[0]].address,
                ))],
                (0, PV, None, None),
            ),
            row(
                "o1 prevotes A: A has o0 and o1 (2), any has 2 validators: nothing",
                Act::In(w.prevote(o[1], 0, Some('A'))),
                vec![],
                (0, PV, None, None),
            ),
            row(
                "own prevote A: A = 3 (a polka that includes o0's A), any = 3 validators",
                Act::In(Input::Vote(SignedVote::sign(
                    Vote {
                        kind: VoteKind::Prevote,
                        height: HEIGHT,
                        round: 0,
                        value: Some(id('A')),
                        timestamp: T,
                        validator: w.set.validators()[w.me].address,
                    },
                    CHAIN,
                    &w.keys[w.me],
                ))),
                vec![t_prevote(0), Out::Precommit(0, Some('A'))],
                (0, PC, Some((0, 'A')), Some((0, 'A'))),
            ),
        ],
    );
    // The evidence orders the votes canonically and names the powers.
    drop(core);
    let mut core = w.core();
    core.start(T);
    core.handle(T, w.prevote(o[0], 0, Some('B')));
    let out = core.handle(T, w.prevote(o[0], 0, None));
    let Some(Output::Evidence(ev)) = out.first() else {
        panic!("expected evidence, got {out:?}");
    };
    assert_eq!(ev.vote_a.vote.value, None);
    assert_eq!(ev.vote_b.vote.value, Some(id('B')));
    assert_eq!((ev.validator_power, ev.total_power), (1, 4));
    ev.check_shape().unwrap();
}

#[test]
fn malformed_and_stale_inputs_are_ordinary_results() {
    let w = World::four();
    let o = w.others();
    let addr = |i: usize| w.set.validators()[i].address;
    let mut forged = w.signed_vote(o[0], VoteKind::Prevote, 0, None);
    forged.signature = w.signed_vote(o[1], VoteKind::Prevote, 0, None).signature;
    let stranger = SigningKey::from_seed([99; 32]);
    let strange_vote = SignedVote::sign(
        Vote {
            kind: VoteKind::Prevote,
            height: HEIGHT,
            round: 0,
            value: None,
            timestamp: T,
            validator: stranger.public_key().address(),
        },
        CHAIN,
        &stranger,
    );
    let other_chain = SignedVote::sign(
        w.signed_vote(o[0], VoteKind::Prevote, 0, None).vote,
        "other-chain",
        &w.keys[o[0]],
    );
    let mut other_height = w.signed_vote(o[0], VoteKind::Prevote, 0, None).vote;
    other_height.height = HEIGHT + 1;
    let other_height = SignedVote::sign(other_height, CHAIN, &w.keys[o[0]]);
    let not_proposer = w.proposer(1);
    let mismatched = Input::Proposal {
        proposal: w.signed_proposal(w.proposer(0), 0, 'A', None),
        block: letter_block('B'),
        valid: true,
    };
    let ignored = |i: Ignored| vec![Out::Ignored(i)];
    run(
        &w,
        "rejections",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "signature of another validator",
                Act::In(Input::Vote(forged)),
                ignored(Ignored::BadSignature(addr(o[0]))),
                (0, PP, None, None),
            ),
            row(
                "signed for another chain",
                Act::In(Input::Vote(other_chain)),
                ignored(Ignored::BadSignature(addr(o[0]))),
                (0, PP, None, None),
            ),
            row(
                "not a validator",
                Act::In(Input::Vote(strange_vote)),
                ignored(Ignored::UnknownValidator(stranger.public_key().address())),
                (0, PP, None, None),
            ),
            row(
                "next height: buffered by the shell, not here",
                Act::In(Input::Vote(other_height)),
                ignored(Ignored::OtherHeight {
                    height: HEIGHT + 1,
                    current: HEIGHT,
                }),
                (0, PP, None, None),
            ),
            row(
                "far-future round",
                Act::In(w.prevote(o[0], 65, None)),
                ignored(Ignored::FarFutureRound {
                    round: 65,
                    current: 0,
                }),
                (0, PP, None, None),
            ),
            row(
                "proposal from the proposer of another round",
                Act::In(Input::Proposal {
                    proposal: w.signed_proposal(not_proposer, 0, 'A', None),
                    block: letter_block('A'),
                    valid: true,
                }),
                ignored(Ignored::NotProposer {
                    round: 0,
                    got: addr(not_proposer),
                }),
                (0, PP, None, None),
            ),
            row(
                "block does not match the proposal",
                Act::In(mismatched),
                ignored(Ignored::BlockMismatch),
                (0, PP, None, None),
            ),
            row(
                "proof-of-lock round not below the round",
                Act::In(w.proposal(0, 'A', Some(0), true)),
                ignored(Ignored::BadPolRound {
                    round: 0,
                    pol_round: 0,
                }),
                (0, PP, None, None),
            ),
        ],
    );
    assert!(
        Ignored::BadPolRound {
            round: 0,
            pol_round: 0
        }
        .is_misbehaviour()
    );
    assert!(!Ignored::Duplicate.is_misbehaviour());
    assert!(
        Ignored::OtherHeight {
            height: 6,
            current: 5
        }
        .is_future_height()
    );
}

fn commit_for(w: &World, signers: &[usize], c: char) -> Commit {
    let signatures = (0..w.keys.len())
        .map(|i| {
            if signers.contains(&i) {
                let v = w.signed_vote(i, VoteKind::Precommit, 0, Some(c));
                CommitSig::ForBlock {
                    timestamp: v.vote.timestamp,
                    signature: v.signature,
                }
            } else {
                CommitSig::Absent
            }
        })
        .collect();
    Commit {
        height: HEIGHT,
        round: 0,
        block_id: id(c),
        signatures,
    }
}

#[test]
fn decision_learned_from_block_sync() {
    let w = World::four();
    let o = w.others();
    let good = commit_for(&w, &o, 'A');
    let short = commit_for(&w, &o[..2], 'A');
    let mut forged = commit_for(&w, &o, 'A');
    forged.signatures[o[0]] = forged.signatures[o[1]].clone();
    run(
        &w,
        "catch-up",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "commit with 2 of 4: refused",
                Act::In(Input::Decided {
                    block: letter_block('A'),
                    commit: short,
                }),
                vec![Out::Ignored(Ignored::BadCommit(
                    cairn_types::validator::CommitError::InsufficientPower {
                        signed: 2,
                        total: 4,
                    },
                ))],
                (0, PP, None, None),
            ),
            row(
                "commit with a forged signature: refused",
                Act::In(Input::Decided {
                    block: letter_block('A'),
                    commit: forged,
                }),
                vec![Out::Ignored(Ignored::BadCommit(
                    cairn_types::validator::CommitError::BadSignature(
                        w.set.validators()[o[0]].address,
                    ),
                ))],
                (0, PP, None, None),
            ),
            row(
                "block that is not the committed one: refused",
                Act::In(Input::Decided {
                    block: letter_block('B'),
                    commit: good.clone(),
                }),
                vec![Out::Ignored(Ignored::BlockMismatch)],
                (0, PP, None, None),
            ),
            row(
                "block A with 3 of 4 precommits: decided",
                Act::In(Input::Decided {
                    block: letter_block('A'),
                    commit: good,
                }),
                vec![Out::Decide('A', 0)],
                (0, PP, None, None),
            ),
        ],
    );
}

#[test]
fn own_vote_from_the_guard_restores_round_step_and_lock() {
    let w = World::four();
    let own = |kind, round, v: Option<char>| {
        Input::Vote(SignedVote::sign(
            Vote {
                kind,
                height: HEIGHT,
                round,
                value: v.map(id),
                timestamp: T,
                validator: w.set.validators()[w.me].address,
            },
            CHAIN,
            &w.keys[w.me],
        ))
    };
    let core = run(
        &w,
        "restore",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "own precommit for A in round 2 (from the guard): round 2, precommit, locked",
                Act::In(own(VoteKind::Precommit, 2, Some('A'))),
                vec![],
                (2, PC, Some((2, 'A')), None),
            ),
            row(
                "own prevote of round 3: round 3, prevote; the lock stays",
                Act::In(own(VoteKind::Prevote, 3, None)),
                vec![],
                (3, PV, Some((2, 'A')), None),
            ),
            row(
                "fresh proposal B in round 4 after a timeout: prevote nil, the lock holds",
                Act::Many(vec![
                    w.timeout(3, PV),
                    w.timeout(3, PC),
                    w.proposal(4, 'B', None, true),
                ]),
                vec![Out::Precommit(3, None), t_propose(4), Out::Prevote(4, None)],
                (4, PV, Some((2, 'A')), None),
            ),
        ],
    );
    // What the shell re-sends: every vote we cast at this height (the two fed back).
    let again = core.rebroadcast();
    assert_eq!(again.len(), 2, "{again:?}");
}

#[test]
fn equivocator_cannot_make_any_quorum_alone() {
    // o0 votes for everything: it is one validator in "any" and in each value.
    let w = World::four();
    let o = w.others();
    run(
        &w,
        "no double counting",
        vec![
            row("start", Act::Start, vec![t_propose(0)], (0, PP, None, None)),
            row(
                "timeoutPropose",
                Act::In(w.timeout(0, PP)),
                vec![Out::Prevote(0, None)],
                (0, PV, None, None),
            ),
            row(
                "o0: nil, then A (evidence), then B (dropped)",
                Act::Many(vec![
                    w.prevote(o[0], 0, None),
                    w.prevote(o[0], 0, Some('A')),
                    w.prevote(o[0], 0, Some('B')),
                ]),
                vec![
                    Out::Evidence(o[0]),
                    Out::Ignored(Ignored::AlreadyReported(w.set.validators()[o[0]].address)),
                ],
                (0, PV, None, None),
            ),
            row(
                "o1 nil: nil has 2, any has 2 validators: still no quorum of anything",
                Act::In(w.prevote(o[1], 0, None)),
                vec![],
                (0, PV, None, None),
            ),
        ],
    );
}
