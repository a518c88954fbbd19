//! Hostile peers (issue #8, item 7). Four validators run; after a baseline,
//! twelve allowlisted peers built on the p2p crate alone (one node key each,
//! so each kind of attack gets its own verdict) attack them for as long,
//! while a fresh full node syncs:
//!
//! | peer | sends | the node must |
//! |---|---|---|
//! | `bad_signature` | prevotes naming a validator, signed by another key | reject, ban |
//! | `non_validator` | prevotes correctly signed by a key in no set | reject, ban |
//! | `far_past` | votes and proposals for height 1 with bad signatures | reject, ban |
//! | `far_future` | votes and proposals for the tip + 1000 | ignore (no set to judge them by), no ban |
//! | `malformed` | undecodable bytes on each topic | reject, ban |
//! | `oversized` | 50 KB above the tx topic's limit, 10 KB above the evidence topic's | reject, ban |
//! | `oversized_frame` | 100 KB above gossipsub's frame limit | dropped by gossipsub's decoder, unpunished |
//! | `bad_txs` | tx batches from a funded account with bad signatures | reject, ban |
//! | `forged_blocks` | advertises a height far ahead; answers block requests with the real block and a commit with corrupted signatures (a block it made up above the heights it downloaded) | ban (reported) |
//! | `mismatched_answers` | same, but the commit is for another block | ban (reported) |
//! | `height_liar` | advertises a height far ahead; answers block requests with no block | ban (reported) |
//! | `height_staller` | advertises a height far ahead; never answers block requests | pass it over as the peer to sync from (no ban: a cut-off honest peer fails the same way), keep `timeout_commit` |
//!
//! Verdict (all strict unless said): every validator and the full node hold
//! the same block hash at every height; each `reject` peer is banned by
//! every validator (its log says so) and in no validator's `net_info` at
//! the end, each unpunished peer banned by none and in every validator's; the full node bans `forged_blocks`
//! (it asks for heights the forger holds real blocks of) and reaches the tip; the
//! chain commits at most 1.25 times its baseline rate (a node that believes a
//! liar's height skips `timeout_commit` and commits back to back); every
//! validator's RSS grows by less than 100 MiB over its value at the end of
//! the baseline; the chain keeps at least 80% of its baseline commit rate
//! in the long form (`CHAOS_SECONDS` >= 300, `scripts/hostile-peer.sh`),
//! and at least 40% in the short form (the rate bound at three times the
//! tolerated loss). `CHAOS_SECONDS` (default 50) is split evenly between
//! baseline and attack. The last line printed is `hostile-peer: PASS ...`
//! or `hostile-peer: FAIL ...`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_node::home::now;
use cairn_p2p::{
    ConsensusMessage, GossipMessage, InboundRequest, Limits, Network, NetworkEvent, Topic,
};
use cairn_types::{
    Address, Block, BlockId, Commit, CommitSig, Hash, NodeId, Proposal, Signature, SignedProposal,
    SignedVote, SigningKey, Vote, VoteKind,
};
use common::{Testnet, metric, rss_kib};

const VALIDATORS: usize = 4;
const MIB: u64 = 1024;
/// Most the commit rate may rise under attack (it has no reason to rise).
const MAX_RATE_RATIO: f64 = 1.25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    BadSignature,
    NonValidator,
    FarPast,
    FarFuture,
    Malformed,
    Oversized,
    OversizedFrame,
    BadTxs,
    ForgedBlocks,
    MismatchedAnswers,
    HeightLiar,
    HeightStaller,
}

impl Attack {
    const ALL: [Attack; 12] = [
        Attack::BadSignature,
        Attack::NonValidator,
        Attack::FarPast,
        Attack::FarFuture,
        Attack::Malformed,
        Attack::Oversized,
        Attack::OversizedFrame,
        Attack::BadTxs,
        Attack::ForgedBlocks,
        Attack::MismatchedAnswers,
        Attack::HeightLiar,
        Attack::HeightStaller,
    ];

    fn name(self) -> &'static str {
        match self {
            Attack::BadSignature => "bad_signature",
            Attack::NonValidator => "non_validator",
            Attack::FarPast => "far_past",
            Attack::FarFuture => "far_future",
            Attack::Malformed => "malformed",
            Attack::Oversized => "oversized",
            Attack::OversizedFrame => "oversized_frame",
            Attack::BadTxs => "bad_txs",
            Attack::ForgedBlocks => "forged_blocks",
            Attack::MismatchedAnswers => "mismatched_answers",
            Attack::HeightLiar => "height_liar",
            Attack::HeightStaller => "height_staller",
        }
    }

    /// Whether validators must ban the sender. The others send what a node
    /// cannot judge (far-future heights, unanswered requests) or never sees
    /// (frames gossipsub drops).
    fn punished(self) -> bool {
        !matches!(
            self,
            Attack::FarFuture | Attack::OversizedFrame | Attack::HeightStaller
        )
    }

    /// Pause between two sends (for the forgers: between two height lies).
    fn period(self) -> Duration {
        match self {
            Attack::Oversized | Attack::OversizedFrame => Duration::from_millis(250),
            Attack::ForgedBlocks
            | Attack::MismatchedAnswers
            | Attack::HeightLiar
            | Attack::HeightStaller => Duration::from_secs(1),
            _ => Duration::from_millis(20),
        }
    }

    /// Whether it advertises a far height (and is asked for blocks).
    fn forges(self) -> bool {
        matches!(
            self,
            Attack::ForgedBlocks
                | Attack::MismatchedAnswers
                | Attack::HeightLiar
                | Attack::HeightStaller
        )
    }
}

/// What the attackers share.
struct Ctx {
    chain_id: String,
    /// The validators' latest height, as last sampled.
    tip: AtomicU64,
    validators: Vec<Address>,
    /// A key no validator set holds.
    rogue: SigningKey,
    /// A funded account's key (bad-signature txs are then only bad by their signature).
    funded: SigningKey,
    /// The validators' limits (the testnet runs the default parameters).
    limits: Limits,
    /// A real block (height 1): proposals and made-up blocks start from it.
    template: Block,
    /// The real chain up to the attack's start, with commits (the forger serves it).
    chain: BTreeMap<u64, (Block, Commit)>,
    stop: AtomicBool,
}

/// What one attacker did.
#[derive(Default)]
struct Stats {
    sent: AtomicU64,
    refused: AtomicU64,
    answered: AtomicU64,
    /// Requests held unanswered (the staller).
    held: AtomicU64,
    disconnects: AtomicU64,
}

fn consensus(msg: ConsensusMessage) -> (Topic, Vec<u8>) {
    (Topic::Consensus, GossipMessage::Consensus(msg).encode())
}

/// A prevote naming `validator`, signed with the rogue key; `n` makes it unique.
fn vote(ctx: &Ctx, height: u64, validator: Address, n: u64) -> (Topic, Vec<u8>) {
    let vote = Vote {
        kind: VoteKind::Prevote,
        height,
        round: 0,
        value: Some(BlockId(Hash::digest(&n.to_le_bytes()))),
        timestamp: now(),
        validator,
    };
    consensus(ConsensusMessage::Vote(SignedVote::sign(
        vote,
        &ctx.chain_id,
        &ctx.rogue,
    )))
}

/// A proposal of the template block naming a validator, signed with the rogue key.
fn proposal(ctx: &Ctx, height: u64, n: u64) -> (Topic, Vec<u8>) {
    let v = ctx.validators.len() as u64;
    let proposal = Proposal {
        height,
        round: (n % v) as u32,
        pol_round: None,
        block_id: ctx.template.id(),
        timestamp: now(),
        proposer: ctx.validators[(n % v) as usize],
    };
    let signed = SignedProposal::sign(proposal, &ctx.chain_id, &ctx.rogue);
    consensus(ConsensusMessage::Proposal(
        signed,
        Box::new(ctx.template.clone()),
    ))
}

/// `len` bytes that decode as nothing, unique by `n`.
fn junk(len: usize, n: u64) -> Vec<u8> {
    let mut b = vec![0xff; len];
    let at = len - 8;
    b[at..].copy_from_slice(&n.to_le_bytes());
    b
}

/// The `n`th message of `kind`.
fn craft(kind: Attack, ctx: &Ctx, n: u64) -> Vec<(Topic, Vec<u8>)> {
    let tip = ctx.tip.load(Ordering::Relaxed);
    let named = ctx.validators[(n % ctx.validators.len() as u64) as usize];
    match kind {
        Attack::BadSignature => vec![vote(ctx, tip + 1, named, n)],
        Attack::NonValidator => vec![vote(ctx, tip + 1, ctx.rogue.public_key().address(), n)],
        Attack::FarPast if n.is_multiple_of(2) => vec![vote(ctx, 1, named, n)],
        Attack::FarPast => vec![proposal(ctx, 1, n)],
        Attack::FarFuture if n.is_multiple_of(2) => vec![vote(ctx, tip + 1000, named, n)],
        Attack::FarFuture => vec![proposal(ctx, tip + 1000, n)],
        Attack::Malformed => vec![(Topic::ALL[(n % 3) as usize], junk(200, n))],
        Attack::Oversized if n.is_multiple_of(2) => {
            vec![(Topic::Txs, junk(ctx.limits.max_tx_batch_bytes + 50_000, n))]
        }
        Attack::Oversized => vec![(
            Topic::Evidence,
            junk(ctx.limits.max_evidence_msg_bytes + 10_000, n),
        )],
        Attack::OversizedFrame => vec![(
            Topic::Consensus,
            junk(ctx.limits.max_frame_bytes() + 100_000, n),
        )],
        Attack::BadTxs => {
            let txs = (0..8)
                .map(|i| {
                    let to = ctx.rogue.public_key().address();
                    let mut tx =
                        common::signed_transfer(&ctx.chain_id, &ctx.funded, to, 1, n * 8 + i);
                    tx.signature = Signature([(n % 251) as u8; 64]);
                    cairn_types::Bytes(tx.to_bytes())
                })
                .collect();
            vec![(
                Topic::Txs,
                GossipMessage::Txs(cairn_p2p::TxBatch(txs)).encode(),
            )]
        }
        Attack::ForgedBlocks
        | Attack::MismatchedAnswers
        | Attack::HeightLiar
        | Attack::HeightStaller => Vec::new(),
    }
}

/// The forgers' answer to a request for the blocks from `height`: one block
/// with a commit whose signatures are garbage, for the block served or
/// (mismatched) for another.
fn forge(kind: Attack, ctx: &Ctx, height: u64) -> (Block, Commit) {
    if kind == Attack::ForgedBlocks
        && let Some((block, commit)) = ctx.chain.get(&height)
    {
        // The real block passes validation; only the commit can betray it.
        let mut commit = commit.clone();
        for sig in &mut commit.signatures {
            if let CommitSig::ForBlock { signature, .. } = sig {
                signature.0[0] ^= 1;
            }
        }
        return (block.clone(), commit);
    }
    let mut block = ctx.template.clone();
    block.header.height = height;
    let block_id = match kind {
        Attack::MismatchedAnswers => BlockId(Hash::digest(b"not the block served")),
        _ => block.id(),
    };
    let sig = CommitSig::ForBlock {
        timestamp: now(),
        signature: Signature([7; 64]),
    };
    let commit = Commit {
        height,
        round: 0,
        block_id,
        signatures: vec![sig; ctx.validators.len()],
    };
    (block, commit)
}

async fn attack(kind: Attack, peer: Network, ctx: Arc<Ctx>, stats: Arc<Stats>) {
    let mut n = 0u64;
    while !ctx.stop.load(Ordering::Relaxed) {
        if kind.forges() {
            // Always higher, never lower (a lower height is banned at once).
            let _ = peer.set_height(1_000_000 + n, 1).await;
        }
        for (topic, data) in craft(kind, &ctx, n) {
            // Refused once banned: no peer left to publish to.
            let counter = match peer.publish_raw(topic, data).await {
                Ok(()) => &stats.sent,
                Err(_) => &stats.refused,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        n += 1;
        tokio::time::sleep(kind.period()).await;
    }
}

async fn handle_events(
    kind: Attack,
    mut events: tokio::sync::mpsc::Receiver<NetworkEvent>,
    ctx: Arc<Ctx>,
    stats: Arc<Stats>,
) {
    // The staller's requests, held unanswered until they time out.
    let mut held = Vec::new();
    while let Some(ev) = events.recv().await {
        match ev {
            NetworkEvent::Request {
                request:
                    InboundRequest::Blocks {
                        from, responder, ..
                    },
                ..
            } if kind.forges() => {
                if kind == Attack::HeightStaller {
                    held.push(responder);
                    stats.held.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let answer = match kind {
                    Attack::HeightLiar => Vec::new(),
                    _ => vec![forge(kind, &ctx, from)],
                };
                responder.send(answer);
                stats.answered.fetch_add(1, Ordering::Relaxed);
            }
            NetworkEvent::PeerDisconnected { .. } => {
                stats.disconnects.fetch_add(1, Ordering::Relaxed);
            }
            // Gossip tokens dropped unreported count as "ignore": nothing is relayed.
            _ => {}
        }
    }
}

/// Heights/s and RSS samples over `dur`.
struct Window {
    rate: f64,
    /// Per validator: the last RSS sample (KiB) and the largest.
    last_rss: Vec<u64>,
    max_rss: Vec<u64>,
}

fn tip(net: &Testnet) -> u64 {
    (0..VALIDATORS).filter_map(|i| net.height(i)).max().unwrap()
}

fn observe(net: &Testnet, dur: Duration, ctx: Option<&Ctx>) -> Window {
    let start = Instant::now();
    let h0 = tip(net);
    let mut last_rss = vec![0; VALIDATORS];
    let mut max_rss = vec![0; VALIDATORS];
    while start.elapsed() < dur {
        for i in 0..VALIDATORS {
            let rss = rss_kib(net.pid(i).unwrap()).unwrap_or_else(|| {
                panic!("validator {i} is not running; log:\n{}", net.tail_log(i))
            });
            last_rss[i] = rss;
            max_rss[i] = max_rss[i].max(rss);
        }
        if let Some(ctx) = ctx {
            ctx.tip.store(tip(net), Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let rate = (tip(net) - h0) as f64 / start.elapsed().as_secs_f64();
    Window {
        rate,
        last_rss,
        max_rss,
    }
}

/// The node ids validator `v` lists as peers (`net_info`).
fn peer_ids(net: &Testnet, v: usize) -> Vec<String> {
    net.rpc(v, "net_info")
        .and_then(|r| r["result"]["peers"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p["node_info"]["id"].as_str().map(str::to_owned))
        .collect()
}

/// Why validator `v` banned `node`, from its log (None: it did not).
fn ban_reason(net: &Testnet, v: usize, node: &str) -> Option<String> {
    let log = std::fs::read_to_string(&net.nodes[v].log).unwrap_or_default();
    let line = log
        .lines()
        .find(|l| l.contains("peer banned") && l.contains(node))?;
    let reason = ["TooManyRejects", "Reported", "HeightRegressed"]
        .into_iter()
        .find(|r| line.contains(r))
        .unwrap_or("other");
    Some(reason.to_owned())
}

#[test]
fn serial_hostile_peers_are_banned_while_the_chain_keeps_its_pace() {
    let total: u64 = std::env::var("CHAOS_SECONDS")
        .ok()
        .map(|s| s.parse().expect("CHAOS_SECONDS"))
        .unwrap_or(50);
    let long = total >= 300;
    let min_ratio = if long { 0.8 } else { 0.4 };
    let half = Duration::from_secs(total / 2);
    let syncing = VALIDATORS + Attack::ALL.len();
    let mut net = Testnet::generate(VALIDATORS, Attack::ALL.len() + 1);
    for i in 0..VALIDATORS {
        net.start(i);
    }
    for i in 0..VALIDATORS {
        net.wait_height(i, 3, 90);
    }

    let baseline = observe(&net, half, None);

    // The attackers connect (they listen where the testnet expects their
    // nodes, so the full node dials them too), then learn a real block.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let validators: Vec<usize> = (0..VALIDATORS).collect();
    let peers: Vec<_> = Attack::ALL
        .iter()
        .enumerate()
        .map(|(k, kind)| {
            let i = VALIDATORS + k;
            let mut config = net.p2p_peer_config(&net.p2p_listen(i), &validators);
            if matches!(kind, Attack::Oversized | Attack::OversizedFrame) {
                // Its own limits must not stop it from sending.
                let big = 2 * config.limits.max_frame_bytes();
                config.limits.max_tx_batch_bytes = big;
                config.limits.max_consensus_msg_bytes = big;
                config.limits.max_evidence_msg_bytes = big;
            }
            // Keep knocking once banned: each refused dial is counted.
            config.redial_max = Duration::from_secs(2);
            rt.block_on(net.start_p2p_peer(i, config))
        })
        .collect();
    let v0 = NodeId::from_hex(&net.nodes[0].node_id).unwrap();
    let mut chain = BTreeMap::new();
    loop {
        let from = chain.len() as u64 + 1;
        let blocks = rt
            .block_on(peers[0].0.request_blocks(v0, from, from + 99))
            .unwrap();
        if blocks.is_empty() {
            break;
        }
        for (b, c) in blocks {
            chain.insert(b.header.height, (b, c));
        }
    }
    let template = chain[&1].0.clone();
    let ctx = Arc::new(Ctx {
        chain_id: net.chain_id.clone(),
        tip: AtomicU64::new(tip(&net)),
        validators: (0..VALIDATORS)
            .map(|i| Address::from_hex(net.nodes[i].validator_address.as_deref().unwrap()).unwrap())
            .collect(),
        rogue: SigningKey::from_seed([42; 32]),
        funded: common::account_key(&net, "account0"),
        limits: Limits::from_params(&cairn_types::ChainParams::default().consensus),
        template,
        chain,
        stop: AtomicBool::new(false),
    });
    // Let gossipsub exchange subscriptions before the first publish.
    std::thread::sleep(Duration::from_secs(2));

    net.start(syncing);
    let stats: Vec<Arc<Stats>> = Attack::ALL.iter().map(|_| Arc::default()).collect();
    // The attackers' networks stay up to the end (an unpunished peer must
    // still be connected then), after their attack tasks stop.
    let mut networks = Vec::new();
    for ((kind, (peer, events)), s) in Attack::ALL.iter().zip(peers).zip(&stats) {
        rt.spawn(handle_events(
            *kind,
            events,
            Arc::clone(&ctx),
            Arc::clone(s),
        ));
        networks.push(peer.clone());
        rt.spawn(attack(*kind, peer, Arc::clone(&ctx), Arc::clone(s)));
    }
    let attacked = observe(&net, half, Some(&ctx));
    ctx.stop.store(true, Ordering::Relaxed);
    // Banned peers keep redialling meanwhile; nobody lets them back in.
    std::thread::sleep(Duration::from_secs(5));

    let mut failures = Vec::new();
    let mut report = Vec::new();
    let (mut punished_ok, mut spared_ok) = (0, 0);
    for (k, kind) in Attack::ALL.iter().enumerate() {
        let node = &net.nodes[VALIDATORS + k].node_id;
        let reasons: Vec<Option<String>> =
            (0..VALIDATORS).map(|v| ban_reason(&net, v, node)).collect();
        let banned_by = reasons.iter().flatten().count();
        // The validators' view: a banned peer that redials may see a
        // connection for the moment its handshake takes, but no validator
        // ever counts it as a peer.
        let connected = (0..VALIDATORS)
            .filter(|&v| peer_ids(&net, v).contains(node))
            .count();
        let s = &stats[k];
        let line = format!(
            "{:<19} sent={} refused={} answered={} held={} disconnects={} banned_by={banned_by}/{VALIDATORS} connected_at_end={connected} reasons={:?}",
            kind.name(),
            s.sent.load(Ordering::Relaxed),
            s.refused.load(Ordering::Relaxed),
            s.answered.load(Ordering::Relaxed),
            s.held.load(Ordering::Relaxed),
            s.disconnects.load(Ordering::Relaxed),
            reasons.iter().flatten().collect::<Vec<_>>(),
        );
        println!("{line}");
        report.push(line);
        if kind.punished() {
            if banned_by == VALIDATORS && connected == 0 {
                punished_ok += 1;
            } else {
                failures.push(format!(
                    "{} banned by {banned_by}/{VALIDATORS}, still connected to {connected}",
                    kind.name()
                ));
            }
        } else if banned_by == 0 && connected == VALIDATORS {
            spared_ok += 1;
        } else {
            failures.push(format!(
                "{} (must be unpunished) banned by {banned_by}, connected to {connected}",
                kind.name()
            ));
        }
    }
    let punished_total = Attack::ALL.iter().filter(|k| k.punished()).count();
    let spared_total = Attack::ALL.len() - punished_total;

    // The full node, which started from nothing, asked the forgers too: it
    // must have banned the one serving real blocks with corrupted commits.
    for (k, kind) in Attack::ALL.iter().enumerate().filter(|(_, k)| k.forges()) {
        let reason = ban_reason(&net, syncing, &net.nodes[VALIDATORS + k].node_id);
        println!("full node on {}: banned={reason:?}", kind.name());
        if *kind == Attack::ForgedBlocks && reason.is_none() {
            failures.push("the full node did not ban forged_blocks".to_owned());
        }
    }
    // The full node reaches the validators' tip despite the forgers.
    let top = tip(&net);
    let synced = (0..120).any(|_| {
        let ok = net.height(syncing).is_some_and(|h| h >= top);
        if !ok {
            std::thread::sleep(Duration::from_millis(500));
        }
        ok
    });
    if !synced {
        failures.push(format!(
            "full node at {:?}, tip {top}; log:\n{}",
            net.height(syncing),
            net.tail_log(syncing)
        ));
    }

    // One chain: same block hash at every height on every node.
    let nodes: Vec<usize> = (0..VALIDATORS).chain([syncing]).collect();
    let common_top = nodes.iter().filter_map(|&i| net.height(i)).min().unwrap();
    for h in 1..=common_top {
        let reference = net.block_hashes(0, h).unwrap();
        for &i in &nodes[1..] {
            if net.block_hashes(i, h).unwrap() != reference {
                failures.push(format!("node {i} differs from node 0 at height {h}"));
            }
        }
    }

    let growth_mib: Vec<u64> = (0..VALIDATORS)
        .map(|i| attacked.max_rss[i].saturating_sub(baseline.last_rss[i]) / MIB)
        .collect();
    let max_growth = *growth_mib.iter().max().unwrap();
    if max_growth >= 100 {
        failures.push(format!("RSS grew by {growth_mib:?} MiB"));
    }
    let ratio = attacked.rate / baseline.rate;
    if ratio < min_ratio {
        failures.push(format!(
            "commit rate {:.2} -> {:.2} heights/s (ratio {ratio:.2} < {min_ratio})",
            baseline.rate, attacked.rate
        ));
    }
    // Faster is wrong too: timeout_commit was skipped on a liar's word.
    if ratio > MAX_RATE_RATIO {
        failures.push(format!(
            "commit rate {:.2} -> {:.2} heights/s (ratio {ratio:.2} > {MAX_RATE_RATIO})",
            baseline.rate, attacked.rate
        ));
    }
    for v in 0..VALIDATORS {
        println!(
            "validator {v}: rss {} -> max {} MiB; banned_peers={} denied_connections={} gossip_rejected={}",
            baseline.last_rss[v] / MIB,
            attacked.max_rss[v] / MIB,
            metric(&net, v, "cairn_p2p_banned_peers_total"),
            metric(&net, v, "cairn_p2p_denied_connections_total"),
            metric(&net, v, "cairn_p2p_gossip_rejected_total"),
        );
    }
    let figures = format!(
        "form={} seconds={total} rate_ratio={ratio:.2} baseline_hps={:.2} attack_hps={:.2} max_rss_growth_mib={max_growth} banned={punished_ok}/{punished_total} unpunished={spared_ok}/{spared_total} full_node_synced={synced} heights_checked={common_top}",
        if long { "long" } else { "short" },
        baseline.rate,
        attacked.rate,
    );
    if failures.is_empty() {
        println!("hostile-peer: PASS {figures}");
    } else {
        println!("hostile-peer: FAIL {} ({figures})", failures.join("; "));
    }
    assert!(failures.is_empty(), "{failures:?}\n{}", report.join("\n"));
}
