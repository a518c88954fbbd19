//! A realistic in-memory chain for the RPC tests: validators with real keys,
//! blocks whose commits are real precommit signatures (checked with
//! `ValidatorSet::verify_commit`), signed transfer txs with results and
//! events, duplicate-vote evidence, and a mempool that admits signed txs
//! and can be "committed" into a new block on demand.
#![allow(dead_code, unreachable_pub, missing_docs)]
// Test support code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_rpc::query::TxQuery;
use cairn_rpc::*;
use cairn_types::block::{APP_VERSION, BLOCK_VERSION, results_hash};
use cairn_types::vote::{Vote, VoteKind};
use cairn_types::{
    Address, Block, BlockId, ChainParams, Commit, CommitSig, DuplicateVoteEvidence, Evidence, Hash,
    Header, Msg, NodeId, SignedVote, SigningKey, Text, Time, Tx, TxBody, Validator, ValidatorSet,
    Version,
};

pub const CHAIN_ID: &str = "cairn-fixture-1";
pub const GENESIS_TIME: u64 = 1_795_000_000_000_000_000;
pub const FIXTURE_HEIGHT: u64 = 6;
/// Height whose block carries duplicate-vote evidence.
pub const EVIDENCE_HEIGHT: u64 = 4;
pub const START_BALANCE: u64 = 1_000_000;

pub fn val_key(i: u8) -> SigningKey {
    SigningKey::from_seed([i + 1; 32])
}

pub fn user_key(i: u8) -> SigningKey {
    SigningKey::from_seed([100 + i; 32])
}

pub fn node_key() -> SigningKey {
    SigningKey::from_seed([200; 32])
}

pub struct Chain {
    pub blocks: Vec<Block>,
    /// canonical commit of block i+1 is blocks[i+1].last_commit; seen commit of the tip here.
    pub seen_commit: Option<Commit>,
    pub results: Vec<BlockResults>,
    pub txs: HashMap<Hash, TxRecord>,
    pub accounts: BTreeMap<Address, AccountInfo>,
    pub mempool: Vec<Vec<u8>>,
    pub vals: ValidatorSet,
    pub val_keys: Vec<SigningKey>,
    pub params: ChainParams,
    pub evidence: Vec<EvidenceRecord>,
}

pub struct MemBackend {
    pub chain: Mutex<Chain>,
    pub events: RpcEvents,
    /// When non-zero, `status` sleeps this many ms (a slow disk).
    pub slow_status_ms: AtomicU64,
    /// When set, `status` fails as a broken store would.
    pub fail_status: AtomicBool,
}

fn tx_events(tx: &Tx, code: u32) -> Vec<Event> {
    let sender = tx.sender().to_hex();
    // The state's event shapes: `tx` for every tx, `transfer` for transfers.
    let mut evs = vec![Event::new(
        "tx",
        &[
            ("sender", &sender),
            ("nonce", &tx.body.nonce.to_string()),
            ("fee", &tx.body.fee.to_string()),
            ("action", tx.body.msg.kind()),
        ],
    )];
    if let (Msg::Transfer { to, amount }, 0) = (&tx.body.msg, code) {
        evs.push(Event::new(
            "transfer",
            &[
                ("sender", &sender),
                ("recipient", &to.to_hex()),
                ("amount", &amount.to_string()),
            ],
        ));
    }
    evs
}

pub fn transfer(from: u8, to: u8, nonce: u64, amount: u64) -> Tx {
    let key = user_key(from);
    Tx::sign(
        TxBody {
            chain_id: Text::from(CHAIN_ID),
            sender: key.public_key(),
            nonce,
            fee: 500,
            msg: Msg::Transfer {
                to: user_key(to).public_key().address(),
                amount,
            },
        },
        &key,
    )
}

impl Chain {
    fn new() -> Chain {
        let val_keys: Vec<SigningKey> = (0..4).map(val_key).collect();
        let powers = [10u64, 10, 30, 50];
        let vals = ValidatorSet::new(
            val_keys
                .iter()
                .zip(powers)
                .map(|(k, p)| Validator::new(k.public_key(), p))
                .collect(),
        )
        .unwrap();
        let mut accounts = BTreeMap::new();
        for i in 0..3 {
            let a = user_key(i).public_key().address();
            accounts.insert(
                a,
                AccountInfo {
                    address: a,
                    balance: START_BALANCE,
                    nonce: 0,
                    delegated: 0,
                    unbonding: 0,
                },
            );
        }
        Chain {
            blocks: Vec::new(),
            seen_commit: None,
            results: Vec::new(),
            txs: HashMap::new(),
            accounts,
            mempool: Vec::new(),
            vals,
            val_keys,
            params: ChainParams::default(),
            evidence: Vec::new(),
        }
    }

    pub fn height(&self) -> u64 {
        self.blocks.len() as u64
    }

    fn key_of(&self, addr: &Address) -> &SigningKey {
        self.val_keys
            .iter()
            .find(|k| k.public_key().address() == *addr)
            .unwrap()
    }

    /// Signs the commit of `block` with every validator, the last
    /// (in set order) absent on even heights and the third voting nil on odd ones.
    fn sign_commit(&self, block: &Block) -> Commit {
        let h = block.header.height;
        let id = block.id();
        let signatures = self
            .vals
            .validators()
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let ts = block.header.time.plus_millis(1000 + i as u64);
                let absent = i == 3 && h.is_multiple_of(2);
                let nil = i == 2 && h % 2 == 1;
                if absent {
                    return CommitSig::Absent;
                }
                let vote = Vote {
                    kind: VoteKind::Precommit,
                    height: h,
                    round: 0,
                    value: if nil { None } else { Some(id) },
                    timestamp: ts,
                    validator: v.address,
                };
                let sv = SignedVote::sign(vote, CHAIN_ID, self.key_of(&v.address));
                if nil {
                    CommitSig::ForNil {
                        timestamp: ts,
                        signature: sv.signature,
                    }
                } else {
                    CommitSig::ForBlock {
                        timestamp: ts,
                        signature: sv.signature,
                    }
                }
            })
            .collect();
        let c = Commit {
            height: h,
            round: 0,
            block_id: id,
            signatures,
        };
        self.vals.verify_commit(CHAIN_ID, h, &id, &c).unwrap();
        c
    }

    fn execute(&mut self, txs: &[Vec<u8>], height: u64) -> (Vec<TxResultInfo>, Vec<TxRecord>) {
        let mut results = Vec::new();
        let mut records = Vec::new();
        for (i, bytes) in txs.iter().enumerate() {
            let tx = Tx::decode(bytes, 1 << 20, CHAIN_ID).unwrap();
            let sender = tx.sender();
            let (code, log) = match (&tx.body.msg, self.accounts.get(&sender)) {
                (Msg::Transfer { amount, .. }, Some(a))
                    if a.balance >= amount + tx.body.fee && a.nonce == tx.body.nonce =>
                {
                    (0, String::new())
                }
                _ => (5, "insufficient funds or bad nonce".to_owned()),
            };
            if code == 0
                && let Msg::Transfer { to, amount } = &tx.body.msg
            {
                {
                    let a = self.accounts.get_mut(&sender).unwrap();
                    a.balance -= amount + tx.body.fee;
                    a.nonce += 1;
                    let to = *to;
                    let r = self.accounts.entry(to).or_insert(AccountInfo {
                        address: to,
                        balance: 0,
                        nonce: 0,
                        delegated: 0,
                        unbonding: 0,
                    });
                    r.balance += amount;
                }
            }
            let result = TxResultInfo {
                code,
                data: Vec::new(),
                log,
                codespace: String::new(),
                gas_used: tx.body.fee,
                events: tx_events(&tx, code),
            };
            let record = TxRecord {
                hash: cairn_types::tx::tx_hash(bytes),
                height,
                index: i as u32,
                tx: bytes.clone(),
                result: result.clone(),
            };
            self.txs.insert(record.hash, record.clone());
            records.push(record);
            results.push(result);
        }
        (results, records)
    }

    fn state_root(&self, height: u64) -> Hash {
        Hash::digest(format!("state-after-{height}").as_bytes())
    }

    /// Appends a block with `txs` and `evidence`; returns it with its results and tx records.
    pub fn push_block(
        &mut self,
        txs: Vec<Vec<u8>>,
        evidence: Vec<Evidence>,
    ) -> (Block, BlockResults, Vec<TxRecord>) {
        let height = self.height() + 1;
        let prev = self.blocks.last().cloned();
        let last_commit = prev.as_ref().map(|p| self.sign_commit(p));
        let time = match (&last_commit, &prev) {
            (Some(c), Some(_)) => self.vals.median_time(c),
            _ => Time(GENESIS_TIME),
        };
        let last_codes: Vec<u32> = self
            .results
            .last()
            .map(|r| r.txs.iter().map(|t| t.code).collect())
            .unwrap_or_default();
        let mut block = Block {
            header: Header {
                version: Version {
                    block: BLOCK_VERSION,
                    app: APP_VERSION,
                },
                chain_id: Text::from(CHAIN_ID),
                height,
                time,
                last_block_id: prev.as_ref().map(Block::id),
                last_commit_hash: Hash::default(),
                data_hash: Hash::default(),
                validators_hash: self.vals.hash(),
                next_validators_hash: self.vals.hash(),
                consensus_hash: Hash::digest(&cairn_types::codec::encode(&self.params)),
                app_hash: self.state_root(height - 1),
                last_results_hash: results_hash(&last_codes),
                evidence_hash: Hash::default(),
                proposer_address: self.vals.proposer_for_round(height as u32).address,
            },
            txs: txs.iter().map(|t| t.clone().into()).collect(),
            evidence: evidence.clone(),
            last_commit,
        };
        block.header.last_commit_hash = block.compute_last_commit_hash();
        block.header.data_hash = block.compute_data_hash();
        block.header.evidence_hash = block.compute_evidence_hash();
        let (tx_results, records) = self.execute(&txs, height);
        let mut fbe = vec![Event::new(
            "rewards",
            &[("proposer", &block.header.proposer_address.to_hex())],
        )];
        for e in &evidence {
            fbe.push(Event::new(
                "slash",
                &[
                    ("validator", &e.validator().to_hex()),
                    ("reason", "double_sign"),
                ],
            ));
            self.evidence.insert(
                0,
                EvidenceRecord {
                    included_height: height,
                    evidence: e.clone(),
                },
            );
        }
        let results = BlockResults {
            txs: tx_results,
            finalize_block_events: fbe,
            validator_updates: Vec::new(),
            param_updates: None,
            app_hash: self.state_root(height),
        };
        self.seen_commit = Some(self.sign_commit(&block));
        self.blocks.push(block.clone());
        self.results.push(results.clone());
        (block, results, records)
    }

    pub fn duplicate_vote(&self, height: u64) -> Evidence {
        let v = &self.vals.validators()[2];
        let key = self.key_of(&v.address);
        let mk = |value: Option<BlockId>| {
            SignedVote::sign(
                Vote {
                    kind: VoteKind::Prevote,
                    height,
                    round: 0,
                    value,
                    timestamp: Time(GENESIS_TIME).plus_millis(5_000),
                    validator: v.address,
                },
                CHAIN_ID,
                key,
            )
        };
        let a = mk(Some(self.blocks[height as usize - 1].id()));
        let b = mk(Some(BlockId(Hash::digest(b"conflicting block"))));
        Evidence::DuplicateVote(
            DuplicateVoteEvidence::new(
                a,
                b,
                v.power,
                self.vals.total_power(),
                self.blocks[height as usize - 1].header.time,
            )
            .unwrap(),
        )
    }
}

impl MemBackend {
    /// A chain of [`FIXTURE_HEIGHT`] blocks: txs in blocks 2, 3 and 5 (one failing),
    /// evidence in block [`EVIDENCE_HEIGHT`].
    pub fn fixture(events: RpcEvents) -> Arc<MemBackend> {
        let mut c = Chain::new();
        c.push_block(Vec::new(), Vec::new());
        c.push_block(
            vec![
                transfer(0, 1, 0, 1000).to_bytes(),
                transfer(1, 2, 0, 2000).to_bytes(),
            ],
            Vec::new(),
        );
        c.push_block(vec![transfer(0, 2, 1, 3000).to_bytes()], Vec::new());
        let ev = c.duplicate_vote(2);
        c.push_block(Vec::new(), vec![ev]);
        c.push_block(
            vec![
                transfer(2, 0, 0, 10).to_bytes(),
                // Overdraft: committed with code 5.
                transfer(1, 0, 1, 10 * START_BALANCE).to_bytes(),
            ],
            Vec::new(),
        );
        c.push_block(Vec::new(), Vec::new());
        assert_eq!(c.height(), FIXTURE_HEIGHT);
        Arc::new(MemBackend {
            chain: Mutex::new(c),
            events,
            slow_status_ms: AtomicU64::new(0),
            fail_status: AtomicBool::new(false),
        })
    }

    /// Commits the mempool into a new block and publishes its events.
    pub fn commit_mempool(&self) -> Block {
        let (block, results, records) = {
            let mut c = self.chain.lock().unwrap();
            let txs = std::mem::take(&mut c.mempool);
            c.push_block(txs, Vec::new())
        };
        self.events
            .publish_block(Arc::new(block.clone()), Arc::new(results));
        for r in records {
            self.events.publish_tx(r);
        }
        block
    }

    pub fn tx_hashes_at(&self, height: u64) -> Vec<Hash> {
        let c = self.chain.lock().unwrap();
        c.blocks[height as usize - 1]
            .txs
            .iter()
            .map(|t| cairn_types::tx::tx_hash(t))
            .collect()
    }

    fn admit(&self, tx: Vec<u8>, add: bool) -> CheckTxResult {
        let decoded = Tx::decode(&tx, 64 * 1024, CHAIN_ID).and_then(|t| {
            t.verify_signature()?;
            Ok(t)
        });
        match decoded {
            Ok(_) => {
                if add {
                    self.chain.lock().unwrap().mempool.push(tx);
                }
                CheckTxResult::default()
            }
            Err(e) => CheckTxResult {
                code: 1,
                log: e.to_string(),
                codespace: String::new(),
            },
        }
    }
}

fn summary(b: &Block, app_hash: Hash) -> BlockSummary {
    BlockSummary {
        height: b.header.height,
        block_id: b.id(),
        app_hash,
        time: b.header.time,
    }
}

impl NodeBackend for MemBackend {
    fn status(&self) -> Result<StatusInfo, BackendError> {
        let slow = self.slow_status_ms.load(Ordering::Relaxed);
        if slow > 0 {
            std::thread::sleep(Duration::from_millis(slow));
        }
        if self.fail_status.load(Ordering::Relaxed) {
            return Err(BackendError::Internal {
                reason: "store read failed: injected".into(),
            });
        }
        let c = self.chain.lock().unwrap();
        Ok(StatusInfo {
            node_id: node_key().public_key().node_id(),
            moniker: "fixture-node".into(),
            chain_id: CHAIN_ID.into(),
            p2p_listen_addr: "127.0.0.1:26656".into(),
            latest: c.blocks.last().map(|b| summary(b, b.header.app_hash)),
            earliest: c.blocks.first().map(|b| summary(b, b.header.app_hash)),
            state_root: c.state_root(c.height()),
            genesis_time: Time(GENESIS_TIME),
            catching_up: false,
            validator: OwnValidator {
                pub_key: c.val_keys[0].public_key(),
                voting_power: c
                    .vals
                    .get(&c.val_keys[0].public_key().address())
                    .unwrap()
                    .power,
            },
            tx_index: true,
        })
    }

    fn block(&self, height: u64) -> Result<Option<Block>, BackendError> {
        let c = self.chain.lock().unwrap();
        Ok(height
            .checked_sub(1)
            .and_then(|i| c.blocks.get(i as usize))
            .cloned())
    }

    fn block_height_by_hash(&self, hash: &Hash) -> Result<Option<u64>, BackendError> {
        let c = self.chain.lock().unwrap();
        Ok(c.blocks
            .iter()
            .find(|b| b.id().0 == *hash)
            .map(|b| b.header.height))
    }

    fn commit(&self, height: u64) -> Result<Option<(Commit, bool)>, BackendError> {
        let c = self.chain.lock().unwrap();
        if height == c.height() {
            return Ok(c.seen_commit.clone().map(|s| (s, false)));
        }
        Ok(c.blocks
            .get(height as usize)
            .and_then(|next| next.last_commit.clone())
            .map(|s| (s, true)))
    }

    fn validators(&self, height: u64) -> Result<Option<ValidatorSet>, BackendError> {
        let c = self.chain.lock().unwrap();
        Ok((height >= 1 && height <= c.height() + 1).then(|| c.vals.clone()))
    }

    fn block_results(&self, height: u64) -> Result<Option<BlockResults>, BackendError> {
        let c = self.chain.lock().unwrap();
        Ok(height
            .checked_sub(1)
            .and_then(|i| c.results.get(i as usize))
            .cloned())
    }

    fn tx(&self, hash: &Hash) -> Result<Option<TxRecord>, BackendError> {
        Ok(self.chain.lock().unwrap().txs.get(hash).cloned())
    }

    fn tx_search(
        &self,
        query: &TxQuery,
        page: u32,
        per_page: u32,
        descending: bool,
    ) -> Result<TxPage, BackendError> {
        let c = self.chain.lock().unwrap();
        let mut all: Vec<TxRecord> = c
            .txs
            .values()
            .filter(|r| query.matches_record(r))
            .cloned()
            .collect();
        all.sort_by_key(|r| (r.height, r.index));
        if descending {
            all.reverse();
        }
        let total = all.len() as u64;
        let skip = (page.saturating_sub(1) as usize) * per_page as usize;
        Ok(TxPage {
            txs: all.into_iter().skip(skip).take(per_page as usize).collect(),
            total,
        })
    }

    fn genesis_json(&self) -> Result<serde_json::Value, BackendError> {
        Ok(serde_json::json!({"chain_id": CHAIN_ID, "genesis_time": Time(GENESIS_TIME)}))
    }

    fn consensus_params(&self, _height: u64) -> Result<Option<ChainParams>, BackendError> {
        Ok(Some(self.chain.lock().unwrap().params.clone()))
    }

    fn abci_query(
        &self,
        path: &str,
        data: &[u8],
        height: u64,
        prove: bool,
    ) -> Result<QueryResult, BackendError> {
        if path != "/account" {
            return Err(BackendError::Rejected {
                reason: format!("unknown query path {path:?}"),
            });
        }
        let addr = Address(
            <[u8; 20]>::try_from(data).map_err(|_| BackendError::Rejected {
                reason: "account query data must be a 20-byte address".into(),
            })?,
        );
        let c = self.chain.lock().unwrap();
        let acct = c.accounts.get(&addr);
        let value = acct
            .map(|a| format!("{}:{}", a.balance, a.nonce).into_bytes())
            .unwrap_or_default();
        // The fixture's "proof" just carries a digest: it exercises transport, not Merkle maths.
        let proof_ops = prove.then(|| {
            vec![ProofOp {
                kind: "fixture:sha256".into(),
                key: data.to_vec(),
                data: Hash::digest_parts(&[data, &value]).0.to_vec(),
            }]
        });
        Ok(QueryResult {
            code: if acct.is_some() { 0 } else { 1 },
            log: if acct.is_some() {
                "exists".into()
            } else {
                "does not exist".into()
            },
            key: data.to_vec(),
            value,
            height,
            proof_ops,
        })
    }

    fn check_tx(&self, tx: Vec<u8>) -> BoxFuture<'_, Result<CheckTxResult, BackendError>> {
        Box::pin(async move { Ok(self.admit(tx, false)) })
    }

    fn broadcast_tx(&self, tx: Vec<u8>) -> BoxFuture<'_, Result<CheckTxResult, BackendError>> {
        Box::pin(async move { Ok(self.admit(tx, true)) })
    }

    fn mempool_stats(&self) -> Result<MempoolStats, BackendError> {
        let c = self.chain.lock().unwrap();
        Ok(MempoolStats {
            n_txs: c.mempool.len() as u64,
            total_bytes: c.mempool.iter().map(|t| t.len() as u64).sum(),
        })
    }

    fn unconfirmed_txs(&self, limit: usize) -> Result<Vec<Vec<u8>>, BackendError> {
        let c = self.chain.lock().unwrap();
        Ok(c.mempool.iter().take(limit).cloned().collect())
    }

    fn net_info(&self) -> Result<NetInfo, BackendError> {
        Ok(NetInfo {
            listening: true,
            listeners: vec!["127.0.0.1:26656".into()],
            peers: vec![PeerInfo {
                node_id: NodeId([7; 20]),
                moniker: "peer-1".into(),
                listen_addr: "127.0.0.1:26666".into(),
                is_outbound: true,
                remote_ip: "127.0.0.1".into(),
            }],
        })
    }

    fn account(&self, address: &Address) -> Result<Option<AccountInfo>, BackendError> {
        Ok(self.chain.lock().unwrap().accounts.get(address).cloned())
    }

    fn validator_infos(&self) -> Result<Vec<ValidatorInfo>, BackendError> {
        let c = self.chain.lock().unwrap();
        Ok(c.vals
            .validators()
            .iter()
            .enumerate()
            .map(|(i, v)| ValidatorInfo {
                operator: user_key(50 + i as u8).public_key().address(),
                consensus_address: v.address,
                pub_key: v.pub_key,
                moniker: format!("validator-{i}"),
                stake: v.power * 1_000_000,
                power: v.power,
                jailed: i == 2,
                tombstoned: i == 2,
            })
            .collect())
    }

    fn recent_evidence(&self, limit: usize) -> Result<Vec<EvidenceRecord>, BackendError> {
        Ok(self
            .chain
            .lock()
            .unwrap()
            .evidence
            .iter()
            .take(limit)
            .cloned()
            .collect())
    }
}

pub struct TestServer {
    pub backend: Arc<MemBackend>,
    pub running: RunningRpc,
    pub addr: SocketAddr,
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub fn test_config() -> RpcConfig {
    RpcConfig {
        listen_address: "127.0.0.1:0".parse().unwrap(),
        timeout: Duration::from_secs(5),
        timeout_broadcast_tx_commit: Duration::from_secs(3),
        ..RpcConfig::default()
    }
}

pub async fn start_with(config: RpcConfig) -> TestServer {
    let events = RpcEvents::default();
    let backend = MemBackend::fixture(events.clone());
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Metrics::register(&mut registry);
    metrics.height.set(FIXTURE_HEIGHT as i64);
    let running = RpcServer::new(config, backend.clone(), events)
        .with_metrics(Arc::new(registry), metrics)
        .start()
        .await
        .unwrap();
    let addr = running.local_addr();
    TestServer {
        backend,
        running,
        addr,
    }
}

pub async fn start() -> TestServer {
    start_with(test_config()).await
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// POSTs a JSON body and returns (status, parsed JSON or Null).
pub async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, serde_json::Value) {
    let resp = http()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

pub async fn rpc(url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    post(url, body.to_string()).await.1
}

pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let resp = http().get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}
