//! Several full nodes (real RocksDB stores, WAL and guard files, the real
//! consensus driver) in one process, connected by an in-memory hub instead
//! of libp2p: blocks are decided and committed, every store agrees on every
//! block and app hash, transfers are executed, and a node that missed the
//! first blocks (its messages were dropped) catches up by fetching decided
//! blocks and then votes again. The gossip precheck is judged against a
//! store with real heights behind it.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cairn_consensus::Message;
use cairn_genesis::keys::{AccountKeyFile, ValidatorKeyFile};
use cairn_node::chain::StoreView;
use cairn_node::config::Config;
use cairn_node::driver::{NetCommand, NetEvent};
use cairn_node::home::{Home, TestnetOptions, testnet};
use cairn_node::net::precheck;
use cairn_node::node::{Assembled, Shared, assemble};
use cairn_p2p::Acceptance;
use cairn_types::{BlockId, Hash, Msg, NodeId, SignedVote, Tx, TxBody, Vote, VoteKind};
use tokio::sync::{mpsc, watch};

struct Net {
    shared: Vec<Arc<Shared>>,
    online: Vec<Arc<AtomicBool>>,
    shutdown: watch::Sender<bool>,
    accounts: std::path::PathBuf,
    homes: Vec<Home>,
    _dir: tempfile::TempDir,
}

fn fast(config: &mut Config) {
    let c = &mut config.consensus;
    c.timeout_propose_ms = 800;
    c.timeout_propose_delta_ms = 200;
    c.timeout_prevote_ms = 300;
    c.timeout_prevote_delta_ms = 200;
    c.timeout_precommit_ms = 300;
    c.timeout_precommit_delta_ms = 200;
    c.timeout_commit_ms = 50;
    c.rebroadcast_interval_ms = 300;
}

/// Starts `n` validators connected by a hub; each driver starts after its delay.
async fn start(n: usize, delays: &[Duration]) -> Net {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let nodes = testnet(&TestnetOptions {
        output: out.clone(),
        validators: n,
        full_nodes: 0,
        accounts: 2,
        chain_id: "inproc".into(),
        starting_port: 40000,
        overwrite: false,
    })
    .unwrap();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut assembled: Vec<Assembled> = Vec::new();
    let mut inboxes = Vec::new();
    let mut receivers = Vec::new();
    for entry in &nodes.nodes {
        let home = Home::new(&entry.home);
        let mut config = Config::load(&home.config_file(), &[], &[]).unwrap();
        fast(&mut config);
        assembled.push(assemble(&home, &config).unwrap());
        let (tx, rx) = mpsc::channel(100_000);
        inboxes.push(tx);
        receivers.push(rx);
    }
    let shared: Vec<Arc<Shared>> = assembled.iter().map(|a| Arc::clone(&a.shared)).collect();
    let ids: Vec<NodeId> = assembled
        .iter()
        .map(|a| a.node_key.public_key().node_id())
        .collect();
    let online: Vec<Arc<AtomicBool>> = delays
        .iter()
        .map(|d| Arc::new(AtomicBool::new(d.is_zero())))
        .collect();
    for (i, (a, rx)) in assembled.into_iter().zip(receivers).enumerate() {
        let Assembled {
            driver,
            mut net_commands,
            lock,
            vote_query_inbox,
            ..
        } = a;
        // The hub: gossip to every online node, serve decided blocks from the others' stores.
        let inboxes = inboxes.clone();
        let shared = shared.clone();
        let online_hub = online.clone();
        let from = Some(ids[i]);
        tokio::spawn(async move {
            while let Some(cmd) = net_commands.recv().await {
                let to_others = |ev: NetEvent| {
                    for (j, inbox) in inboxes.iter().enumerate() {
                        if j != i && online_hub[j].load(Ordering::SeqCst) {
                            let _ = inbox.try_send(ev.clone());
                        }
                    }
                };
                match cmd {
                    NetCommand::Broadcast(msg) => to_others(NetEvent::Message { msg: *msg, from }),
                    NetCommand::BroadcastEvidence(evidence) => to_others(NetEvent::Evidence {
                        evidence: *evidence,
                        from,
                    }),
                    NetCommand::RequestDecided { height, .. } => {
                        let served = shared
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| *j != i)
                            .find_map(|(_, s)| s.decided(height));
                        if let Some((block, commit)) = served {
                            let _ = inboxes[i].try_send(NetEvent::Decided {
                                block,
                                commit,
                                from: None,
                            });
                        }
                    }
                    // Every message reaches every online node once here; nothing to pull.
                    NetCommand::RequestVotes { .. } => {}
                    NetCommand::Penalise(peer) => panic!("node {i} penalised honest peer {peer}"),
                }
            }
        });
        let delay = delays[i];
        let flag = Arc::clone(&online[i]);
        let shutdown = shutdown_rx.clone();
        tokio::spawn(async move {
            let _lock = lock;
            tokio::time::sleep(delay).await;
            flag.store(true, Ordering::SeqCst);
            driver
                .run(rx, vote_query_inbox, shutdown)
                .await
                .expect("driver failed");
        });
    }
    let homes = nodes.nodes.iter().map(|e| Home::new(&e.home)).collect();
    Net {
        shared,
        online,
        shutdown,
        accounts: out.join("accounts"),
        homes,
        _dir: dir,
    }
}

impl Net {
    fn height(&self, i: usize) -> u64 {
        self.shared[i].store.latest_height().unwrap()
    }

    async fn wait_all(&self, height: u64, secs: u64) {
        for _ in 0..secs * 10 {
            if (0..self.shared.len()).all(|i| self.height(i) >= height) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let heights: Vec<u64> = (0..self.shared.len()).map(|i| self.height(i)).collect();
        panic!("not every node reached height {height} in {secs} s: {heights:?}");
    }

    /// Every node that has block h holds the same block id and app hash.
    fn assert_agreement(&self, upto: u64) {
        for h in 1..=upto {
            let recs: Vec<_> = self
                .shared
                .iter()
                .map(|s| s.store.height_record(h).unwrap().expect("block present"))
                .collect();
            for r in &recs[1..] {
                assert_eq!(r.block_id, recs[0].block_id, "block id at {h}");
                assert_eq!(r.app_hash, recs[0].app_hash, "app hash at {h}");
            }
        }
    }

    fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = &self.online;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_four_nodes_commit_agree_and_execute_transfers() {
    let net = start(4, &[Duration::ZERO; 4]).await;
    net.wait_all(3, 60).await;

    let (file, key) = AccountKeyFile::load(&net.accounts.join("account0.json")).unwrap();
    let (other, _) = AccountKeyFile::load(&net.accounts.join("account1.json")).unwrap();
    let before = net.shared[2]
        .store
        .account(&other.address())
        .unwrap()
        .balance;
    for nonce in 0..5 {
        let body = TxBody {
            chain_id: "inproc".into(),
            sender: key.public_key(),
            nonce,
            fee: 1_000,
            msg: Msg::Transfer {
                to: other.address(),
                amount: 10,
            },
        };
        let bytes = Tx::sign(body, &key).to_bytes();
        // The hub does not gossip txs: admit the tx at every node.
        for s in &net.shared {
            let view = StoreView(&s.store);
            s.mempool
                .lock()
                .unwrap()
                .check_tx(bytes.clone(), &view)
                .unwrap();
        }
    }
    let start = net.height(0);
    net.wait_all(start + 3, 60).await;
    for s in &net.shared {
        assert_eq!(
            s.store.account(&other.address()).unwrap().balance,
            before + 50
        );
        assert_eq!(s.store.account(&file.address()).unwrap().nonce, 5);
        assert!(s.mempool.lock().unwrap().is_empty());
    }
    let top = (0..4).map(|i| net.height(i)).min().unwrap();
    net.assert_agreement(top);
    net.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_a_late_node_catches_up_by_fetching_decided_blocks() {
    // Node 3 misses everything for 6 s; the other three (3 of 4 equal powers) commit alone.
    let mut delays = [Duration::ZERO; 4];
    delays[3] = Duration::from_secs(6);
    let net = start(4, &delays).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let ahead = net.height(0);
    assert!(ahead >= 3, "three validators kept committing ({ahead})");
    assert_eq!(net.height(3), 0, "the late node has nothing yet");
    net.wait_all(ahead + 3, 60).await;
    let top = (0..4).map(|i| net.height(i)).min().unwrap();
    net.assert_agreement(top);
    // It signs again: its guard recorded a vote at a height it reached by catching up.
    let guard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(net.homes[3].validator_state_file()).unwrap(),
    )
    .unwrap();
    let signed: u64 = guard["height"].as_str().unwrap().parse().unwrap();
    assert!(
        signed > ahead,
        "the late node signed at height {signed}, after catching up past {ahead}"
    );
    net.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_gossip_precheck_ignores_valid_votes_below_the_last_committed_height() {
    let net = start(4, &[Duration::ZERO; 4]).await;
    net.wait_all(4, 60).await;
    // Stopped, so the heights judged against do not move under the test.
    let _ = net.shutdown.send(true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shared = &net.shared[0];
    let latest = net.height(0);
    let key = ValidatorKeyFile::load(&net.homes[1].validator_key_file()).unwrap();
    let other = ValidatorKeyFile::load(&net.homes[2].validator_key_file()).unwrap();
    let vote = |height: u64, signer: &cairn_types::SigningKey| {
        let vote = Vote {
            kind: VoteKind::Precommit,
            height,
            round: 0,
            value: Some(BlockId(Hash::digest(&height.to_le_bytes()))),
            timestamp: cairn_node::home::now(),
            validator: key.public_key().address(),
        };
        Message::Vote(SignedVote::sign(vote, "inproc", signer))
    };
    let judged =
        |height: u64, signer: &cairn_types::SigningKey| precheck(shared, &vote(height, signer));
    // A replay of an old vote: validly signed, not forwarded, not punished.
    assert_eq!(judged(1, &key), Acceptance::Ignore);
    assert_eq!(judged(latest - 1, &key), Acceptance::Ignore);
    // Still judged by its height's set: a bad signature is punished however old.
    assert_eq!(judged(1, &other), Acceptance::Reject);
    // The last committed height (for peers one behind) and the height being decided.
    assert_eq!(judged(latest, &key), Acceptance::Accept);
    assert_eq!(judged(latest + 1, &key), Acceptance::Accept);
    assert_eq!(judged(latest + 1, &other), Acceptance::Reject);
    net.stop();
}
