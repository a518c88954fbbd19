//! The node's side of the RPC server: [`cairn_rpc::NodeBackend`] over the
//! store, the pools and the network, and the bridge that publishes
//! committed blocks to RPC subscribers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use cairn_mempool::MempoolError;
use cairn_rpc::backend::{
    AccountInfo, BackendError, BlockResults, BlockSummary, BoxFuture, CheckTxResult,
    EvidenceRecord, MempoolStats, NetInfo, NodeBackend, OwnValidator, ProofOp, QueryResult,
    StatusInfo, TxPage, TxRecord, TxResultInfo, ValidatorInfo,
};
use cairn_rpc::query::TxQuery;
use cairn_rpc::{RpcEvents, RpcServer};
use cairn_state::{StateError, StateKey, TxResult};
use cairn_types::{
    Address, Block, BlockId, Bytes, ChainParams, Commit, Hash, NodeId, PublicKey, Tx, ValidatorSet,
};
use tokio::sync::{mpsc, oneshot};

use crate::chain::StoreView;
use crate::config::Config;
use crate::driver::DriverStatus;
use crate::net::Network;
use crate::node::{Assembled, Shared};

/// How many blocks a `tx_search` by event, or an evidence listing, scans at most.
pub const SCAN_BLOCKS: u64 = 10_000;

/// RPC txs waiting for admission; when it is full, `broadcast_tx_*` callers
/// wait (in async code, holding no thread) until their RPC timeout.
const ADMISSION_QUEUE: usize = 4096;

/// Most RPC txs admitted as one batch.
const ADMISSION_BATCH: usize = 256;

/// A tx from RPC and where its mempool verdict goes.
type Admission = (Vec<u8>, oneshot::Sender<Result<(), MempoolError>>);

/// Admits RPC txs on one task: whatever has queued goes through the mempool
/// as one batch (one ZIP-215 batch verification, outside the mempool lock:
/// [`cairn_mempool::check_txs_shared`]), on one blocking
/// thread at a time; admitted txs are gossiped. One `spawn_blocking` per tx
/// had all 512 blocking threads of each node waiting on the mempool lock at
/// 5,000 tx/s offered (`scripts/profile.sh`).
fn spawn_admitter(shared: Arc<Shared>, network: Network) -> mpsc::Sender<Admission> {
    let (sender, mut queue) = mpsc::channel::<Admission>(ADMISSION_QUEUE);
    tokio::spawn(async move {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < ADMISSION_BATCH {
                match queue.try_recv() {
                    Ok(a) => batch.push(a),
                    Err(_) => break,
                }
            }
            let (txs, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let checked = txs.clone();
            let shared = Arc::clone(&shared);
            let verdicts = tokio::task::spawn_blocking(move || {
                cairn_mempool::check_txs_shared(&shared.mempool, checked, &StoreView(&shared.store))
            })
            .await;
            // Without verdicts (poisoned lock) the replies are dropped: each
            // caller gets an internal error.
            let Ok(Some(verdicts)) = verdicts else {
                continue;
            };
            for ((tx, reply), verdict) in txs.into_iter().zip(replies).zip(verdicts) {
                if verdict.is_ok() {
                    network.gossip_tx(tx);
                }
                let _ = reply.send(verdict.map(|_| ()));
            }
        }
    });
    sender
}

/// [`NodeBackend`] for a running node.
pub struct Backend {
    shared: Arc<Shared>,
    admissions: mpsc::Sender<Admission>,
    status: Arc<DriverStatus>,
    network: Network,
    node_id: NodeId,
    moniker: String,
    p2p_listen: String,
    validator_key: Option<PublicKey>,
}

fn internal(e: StateError) -> BackendError {
    BackendError::Internal {
        reason: e.to_string(),
    }
}

/// The RPC's view of block `height`'s tx `index`.
fn tx_record(height: u64, index: usize, hash: Hash, tx: &Bytes, result: TxResult) -> TxRecord {
    TxRecord {
        hash,
        height,
        index: u32::try_from(index).unwrap_or(u32::MAX),
        tx: tx.0.clone(),
        result: result_info(result),
    }
}

/// The RPC's view of a block's results.
fn block_results(results: Vec<TxResult>, app_hash: Hash) -> BlockResults {
    BlockResults {
        txs: results.into_iter().map(result_info).collect(),
        app_hash,
        ..BlockResults::default()
    }
}

fn result_info(r: TxResult) -> TxResultInfo {
    TxResultInfo {
        code: r.code,
        log: r.log,
        codespace: if r.code == 0 {
            String::new()
        } else {
            "cairn".into()
        },
        events: r
            .events
            .into_iter()
            .map(|e| cairn_rpc::backend::Event {
                kind: e.kind,
                attributes: e.attributes,
            })
            .collect(),
        ..TxResultInfo::default()
    }
}

/// The address bytes at the front of `data` (20 raw bytes).
fn address(data: &[u8]) -> Result<Address, BackendError> {
    let bytes: [u8; 20] = data
        .get(..20)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| BackendError::Rejected {
            reason: "data must start with a 20-byte address".into(),
        })?;
    Ok(Address(bytes))
}

impl Backend {
    fn store(&self) -> &cairn_state::Store {
        &self.shared.store
    }

    fn mempool(&self) -> Result<std::sync::MutexGuard<'_, cairn_mempool::Mempool>, BackendError> {
        self.shared
            .mempool
            .lock()
            .map_err(|_| BackendError::Internal {
                reason: "mempool lock poisoned".into(),
            })
    }

    fn summary(&self, height: u64) -> Result<Option<BlockSummary>, BackendError> {
        Ok(self
            .store()
            .height_record(height)
            .map_err(internal)?
            .map(|r| BlockSummary {
                height,
                block_id: r.block_id,
                app_hash: r.app_hash,
                time: r.time,
            }))
    }

    fn record(&self, hash: Hash) -> Result<Option<TxRecord>, BackendError> {
        Ok(self.store().tx(&hash).map_err(internal)?.map(|t| TxRecord {
            hash,
            height: t.height,
            index: t.index,
            tx: t.tx,
            result: result_info(t.result),
        }))
    }

    /// Every tx of block `height` with its result.
    fn block_records(&self, height: u64) -> Result<Vec<TxRecord>, BackendError> {
        let Some(block) = self.store().block(height).map_err(internal)? else {
            return Ok(Vec::new());
        };
        let results = self
            .store()
            .block_results(height)
            .map_err(internal)?
            .unwrap_or_default();
        Ok(block
            .txs
            .iter()
            .zip(results)
            .enumerate()
            .map(|(i, (tx, r))| tx_record(height, i, cairn_types::tx::tx_hash(tx), tx, r))
            .collect())
    }

    async fn admit(&self, tx: Vec<u8>) -> Result<CheckTxResult, BackendError> {
        let stopped = || BackendError::Internal {
            reason: "mempool admission stopped (mempool lock poisoned)".into(),
        };
        let (reply, answer) = oneshot::channel();
        self.admissions
            .send((tx, reply))
            .await
            .map_err(|_| stopped())?;
        Ok(match answer.await.map_err(|_| stopped())? {
            Ok(()) => CheckTxResult::default(),
            Err(e) => CheckTxResult {
                code: e.code(),
                log: e.to_string(),
                codespace: "mempool".into(),
            },
        })
    }
}

impl NodeBackend for Backend {
    fn status(&self) -> Result<StatusInfo, BackendError> {
        let store = self.store();
        let latest_height = store.latest_height().map_err(internal)?;
        let genesis = store.genesis();
        let voting_power = match (self.validator_key, store.validators_at(latest_height + 1)) {
            (Some(k), Ok(Some(set))) => set.get(&k.address()).map_or(0, |v| v.power),
            _ => 0,
        };
        Ok(StatusInfo {
            node_id: self.node_id,
            moniker: self.moniker.clone(),
            chain_id: genesis.chain_id.clone(),
            p2p_listen_addr: self.p2p_listen.clone(),
            latest: self.summary(latest_height)?,
            earliest: self.summary(genesis.initial_height)?,
            state_root: store.app_hash().map_err(internal)?,
            genesis_time: genesis.genesis_time,
            catching_up: self.status.catching_up.load(Ordering::Relaxed),
            validator: OwnValidator {
                pub_key: self.validator_key.unwrap_or(PublicKey([0; 32])),
                voting_power,
            },
            tx_index: true,
        })
    }

    fn block(&self, height: u64) -> Result<Option<Block>, BackendError> {
        self.store().block(height).map_err(internal)
    }

    fn block_height_by_hash(&self, hash: &Hash) -> Result<Option<u64>, BackendError> {
        self.store().height_of(&BlockId(*hash)).map_err(internal)
    }

    fn commit(&self, height: u64) -> Result<Option<(Commit, bool)>, BackendError> {
        // The canonical commit of H is the one block H+1 carries.
        if let Some(next) = self.store().block(height + 1).map_err(internal)?
            && let Some(c) = next.last_commit
        {
            return Ok(Some((c, true)));
        }
        Ok(self
            .store()
            .commit_at(height)
            .map_err(internal)?
            .map(|c| (c, false)))
    }

    fn validators(&self, height: u64) -> Result<Option<ValidatorSet>, BackendError> {
        self.store().validators_at(height).map_err(internal)
    }

    fn block_results(&self, height: u64) -> Result<Option<BlockResults>, BackendError> {
        let Some(results) = self.store().block_results(height).map_err(internal)? else {
            return Ok(None);
        };
        let app_hash = self
            .store()
            .height_record(height)
            .map_err(internal)?
            .map(|r| r.app_hash)
            .unwrap_or_default();
        Ok(Some(block_results(results, app_hash)))
    }

    fn tx(&self, hash: &Hash) -> Result<Option<TxRecord>, BackendError> {
        self.record(*hash)
    }

    fn tx_search(
        &self,
        query: &TxQuery,
        page: u32,
        per_page: u32,
        descending: bool,
    ) -> Result<TxPage, BackendError> {
        let mut matches = Vec::new();
        if let Some(hash) = query.exact("tx.hash") {
            let hash = Hash::from_hex(&hash).map_err(|e| BackendError::Rejected {
                reason: e.to_string(),
            })?;
            matches.extend(self.record(hash)?.filter(|r| query.matches_record(r)));
        } else if let Some(h) = query.exact("tx.height").and_then(|h| h.parse::<u64>().ok()) {
            matches.extend(
                self.block_records(h)?
                    .into_iter()
                    .filter(|r| query.matches_record(r)),
            );
        } else {
            // Event queries scan the most recent blocks (bounded; see SCAN_BLOCKS).
            let latest = self.store().latest_height().map_err(internal)?;
            let first = latest.saturating_sub(SCAN_BLOCKS).max(1);
            for h in first..=latest {
                matches.extend(
                    self.block_records(h)?
                        .into_iter()
                        .filter(|r| query.matches_record(r)),
                );
            }
        }
        if descending {
            matches.reverse();
        }
        let total = matches.len() as u64;
        let start = (page.saturating_sub(1) as usize).saturating_mul(per_page as usize);
        let txs = matches
            .into_iter()
            .skip(start)
            .take(per_page as usize)
            .collect();
        Ok(TxPage { txs, total })
    }

    fn genesis_json(&self) -> Result<serde_json::Value, BackendError> {
        serde_json::to_value(self.store().genesis()).map_err(|e| BackendError::Internal {
            reason: e.to_string(),
        })
    }

    fn consensus_params(&self, height: u64) -> Result<Option<ChainParams>, BackendError> {
        self.store().params_at(height).map_err(internal)
    }

    fn abci_query(
        &self,
        path: &str,
        data: &[u8],
        height: u64,
        prove: bool,
    ) -> Result<QueryResult, BackendError> {
        let key = match path {
            "/account" | "/store/account" => StateKey::Account(address(data)?),
            "/validator" | "/store/validator" => StateKey::Validator(address(data)?),
            "/delegation" | "/store/delegation" => StateKey::Delegation {
                validator: address(data)?,
                delegator: address(data.get(20..).unwrap_or_default())?,
            },
            "/put" | "/store/put" => StateKey::Put {
                owner: address(data)?,
                key: data.get(20..).unwrap_or_default().to_vec(),
            },
            "/params" | "/store/params" => StateKey::Params,
            other => {
                return Err(BackendError::Rejected {
                    reason: format!(
                        "unknown abci_query path {other:?}; use /store/account, /store/validator, /store/delegation, /store/put or /store/params"
                    ),
                });
            }
        };
        let version = (height != 0).then_some(height);
        let proven =
            self.store()
                .query(&key, version, prove)
                .map_err(|e| BackendError::Unavailable {
                    what: format!("state at height {height}: {e}"),
                })?;
        let key_bytes = key.to_bytes();
        Ok(QueryResult {
            code: if proven.value.is_some() { 0 } else { 1 },
            log: if proven.value.is_some() {
                "exists".into()
            } else {
                "does not exist".into()
            },
            value: proven.value.unwrap_or_default(),
            height: proven.height,
            proof_ops: proven.proof.map(|p| {
                vec![ProofOp {
                    kind: "cairn:jmt".into(),
                    key: key_bytes.clone(),
                    data: p.to_bytes(),
                }]
            }),
            key: key_bytes,
        })
    }

    fn check_tx(&self, tx: Vec<u8>) -> BoxFuture<'_, Result<CheckTxResult, BackendError>> {
        Box::pin(async move {
            let chain_id = self.store().chain_id().to_owned();
            let max = self
                .store()
                .params()
                .map_err(internal)?
                .consensus
                .tx_max_bytes;
            let checked = Tx::decode(&tx, max as usize, &chain_id).and_then(|t| {
                t.verify_signature()?;
                Ok(t)
            });
            Ok(match checked {
                Ok(t) => {
                    let acct = self.store().account(&t.sender()).map_err(internal)?;
                    if t.body.nonce < acct.nonce {
                        CheckTxResult {
                            code: cairn_state::codes::BAD_NONCE,
                            log: format!(
                                "nonce {} is below the account's next nonce {}",
                                t.body.nonce, acct.nonce
                            ),
                            codespace: "cairn".into(),
                        }
                    } else {
                        CheckTxResult::default()
                    }
                }
                Err(e) => CheckTxResult {
                    code: cairn_state::codes::DECODE,
                    log: e.to_string(),
                    codespace: "cairn".into(),
                },
            })
        })
    }

    fn broadcast_tx(&self, tx: Vec<u8>) -> BoxFuture<'_, Result<CheckTxResult, BackendError>> {
        Box::pin(self.admit(tx))
    }

    fn mempool_stats(&self) -> Result<MempoolStats, BackendError> {
        let m = self.mempool()?;
        Ok(MempoolStats {
            n_txs: m.len() as u64,
            total_bytes: m.total_bytes() as u64,
        })
    }

    fn unconfirmed_txs(&self, limit: usize) -> Result<Vec<Vec<u8>>, BackendError> {
        let m = self.mempool()?;
        Ok(m.reap(usize::MAX, limit).into_iter().map(|b| b.0).collect())
    }

    fn net_info(&self) -> Result<NetInfo, BackendError> {
        Ok(self.network.net_info())
    }

    fn account(&self, address: &Address) -> Result<Option<AccountInfo>, BackendError> {
        let a = self.store().account(address).map_err(internal)?;
        let unbonding = self
            .store()
            .unbondings_of(address)
            .map_err(internal)?
            .iter()
            .map(|u| u.balance)
            .sum();
        let mut delegated = 0u64;
        for v in self.store().all_validators().map_err(internal)? {
            if let Some(d) = self
                .store()
                .delegation(&v.operator, address)
                .map_err(internal)?
            {
                delegated = delegated.saturating_add(v.tokens_for(d.shares));
            }
        }
        Ok(Some(AccountInfo {
            address: *address,
            balance: a.balance,
            nonce: a.nonce,
            delegated,
            unbonding,
        }))
    }

    fn validator_infos(&self) -> Result<Vec<ValidatorInfo>, BackendError> {
        let active = self
            .store()
            .validators_at(self.store().latest_height().map_err(internal)? + 1)
            .map_err(internal)?;
        Ok(self
            .store()
            .all_validators()
            .map_err(internal)?
            .into_iter()
            .map(|v| {
                let consensus_address = v.consensus_address();
                let power = active
                    .as_ref()
                    .and_then(|s| s.get(&consensus_address))
                    .map_or(0, |x| x.power);
                ValidatorInfo {
                    operator: v.operator,
                    consensus_address,
                    pub_key: v.consensus_key,
                    moniker: v.moniker.clone(),
                    stake: v.tokens,
                    power,
                    jailed: v.jailed,
                    tombstoned: v.tombstoned,
                }
            })
            .collect())
    }

    fn recent_evidence(&self, limit: usize) -> Result<Vec<EvidenceRecord>, BackendError> {
        let latest = self.store().latest_height().map_err(internal)?;
        let mut out = Vec::new();
        let mut h = latest;
        while h >= 1 && latest - h < SCAN_BLOCKS && out.len() < limit {
            if let Some(b) = self.store().block(h).map_err(internal)? {
                for ev in b.evidence {
                    out.push(EvidenceRecord {
                        included_height: h,
                        evidence: ev,
                    });
                }
            }
            h -= 1;
        }
        out.truncate(limit);
        Ok(out)
    }
}

/// Starts the RPC server and the task that publishes committed blocks to it.
pub async fn spawn(
    config: &Config,
    assembled: &Assembled,
    network: &Network,
    registry: Arc<prometheus_client::registry::Registry>,
    metrics: cairn_rpc::metrics::Metrics,
) -> anyhow::Result<cairn_rpc::server::RunningRpc> {
    let backend = Arc::new(Backend {
        shared: Arc::clone(&assembled.shared),
        admissions: spawn_admitter(Arc::clone(&assembled.shared), network.clone()),
        status: Arc::clone(&assembled.status),
        network: network.clone(),
        node_id: assembled.node_key.public_key().node_id(),
        moniker: config.moniker.clone(),
        p2p_listen: config.p2p.listen_address.clone(),
        validator_key: Some(assembled.validator_key),
    });
    let events = RpcEvents::default();
    let mut committed = assembled.committed.subscribe();
    let publisher = events.clone();
    tokio::spawn(async move {
        loop {
            let c = match committed.recv().await {
                Ok(c) => c,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            // From the execution in memory: reading the just-written results
            // back from RocksDB cost a tenth of a validator's CPU under load.
            let (block, ex) = (&c.block, &c.executed);
            let results = block_results(ex.results.clone(), ex.app_hash);
            publisher.publish_block(Arc::clone(block), Arc::new(results));
            let txs = block.txs.iter().zip(&ex.tx_hashes).zip(&ex.results);
            for (i, ((tx, hash), r)) in txs.enumerate() {
                publisher.publish_tx(tx_record(block.header.height, i, *hash, tx, r.clone()));
            }
        }
    });
    let rpc_config = rpc_config(config)?;
    let server = RpcServer::new(rpc_config, backend, events).with_metrics(registry, metrics);
    Ok(server.start().await?)
}

fn rpc_config(config: &Config) -> anyhow::Result<cairn_rpc::server::RpcConfig> {
    use std::time::Duration;
    let r = &config.rpc;
    let listen_address = r
        .listen_address
        .parse()
        .map_err(|e| anyhow::anyhow!("rpc.listen_address {:?}: {e}", r.listen_address))?;
    Ok(cairn_rpc::server::RpcConfig {
        listen_address,
        max_body_bytes: usize::try_from(r.max_body_bytes).unwrap_or(usize::MAX),
        max_connections: r.max_connections as usize,
        max_batch_size: r.max_batch_size as usize,
        timeout: Duration::from_millis(r.timeout_ms),
        timeout_broadcast_tx_commit: Duration::from_millis(r.timeout_broadcast_tx_commit_ms),
        max_subscription_clients: r.max_subscription_clients as usize,
        max_subscriptions_per_client: r.max_subscriptions_per_client as usize,
        ..cairn_rpc::server::RpcConfig::default()
    })
}
