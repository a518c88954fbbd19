//! `cairn bench`: this machine's signature-verification ceiling, and a load
//! generator that drives a running network with signed transfers.
//!
//! - `cairn bench limit` measures ZIP-215 batch verification on one core,
//!   with ed25519-zebra's batch verifier and with Cairn's equation without
//!   its key cache, and takes the faster (batches of 64 transfers from
//!   distinct senders, as the mempool verifies them, sign bytes included;
//!   every key decompressed); it prints `limit_tps = per-core rate x cores / validators`:
//!   every validator verifies every tx once, and all of them share this
//!   machine's cores in a local testnet.
//! - `cairn bench load` signs every transfer of a step before that step's
//!   clock starts, then offers them at a fixed rate over JSON-RPC
//!   (`broadcast_tx_sync` in JSON-RPC batches, each sender always to the same
//!   node so its nonces arrive in order), follows commits through one node's
//!   `NewBlock` websocket events (one event per block carries every tx, so
//!   the follower keeps up at any rate), and prints one JSON line per step.
//!   Between steps it waits for the accepted txs to commit and re-reads the
//!   senders' nonces, so a rejected tx's gap does not poison the next step.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::io::Write as _;

use anyhow::{Context, Result, bail};
use cairn_genesis::keys::AccountKeyFile;
use cairn_types::json::{base64_decode, base64_encode};
use cairn_types::{
    Address, BatchVerifier, Bytes, Hash, Msg, PutCondition, SigningKey, Time, Tx, TxBody,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::client::{BroadcastMode, ClientError, MAX_BATCH, RpcClient};

/// The batch size the mempool verifies signatures in.
const VERIFY_BATCH: usize = 64;
/// JSON-RPC requests in flight per node.
const IN_FLIGHT_PER_NODE: usize = 32;
/// Largest websocket event accepted from the followed node.
const MAX_EVENT_BYTES: usize = 256 << 20;
/// The pacer releases txs this often.
const TICK: Duration = Duration::from_millis(10);

/// `cairn bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BenchCommand {
    /// Measure ZIP-215 batch verification on one core; print the ceiling as JSON.
    Limit {
        /// Seconds to measure.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Validators sharing this machine's cores.
        #[arg(long, default_value_t = 4)]
        validators: usize,
    },
    /// Offer pre-signed transfers to running nodes; one JSON line per rate.
    Load(LoadOptions),
}

/// Runs `cairn bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    match args.what {
        BenchCommand::Limit {
            seconds,
            validators,
        } => println!(
            "{}",
            serde_json::to_string(&measure_limit(seconds, validators)?)?
        ),
        BenchCommand::Load(opts) => {
            tokio::runtime::Runtime::new()?.block_on(run_load(&opts))?;
        }
    }
    Ok(())
}

/// What `cairn bench limit` measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Limit {
    /// ZIP-215 batch verifications per second on one core: the faster of
    /// the two below.
    pub verifications_per_s_per_core: f64,
    /// ed25519-zebra's batch verifier.
    pub zebra_per_s_per_core: f64,
    /// Cairn's batch equation with no key cache (every key decompressed).
    pub cairn_uncached_per_s_per_core: f64,
    /// Cores of this machine.
    pub cores: usize,
    /// Validators sharing them.
    pub validators: usize,
    /// `verifications_per_s_per_core x cores / validators`.
    pub limit_tps: f64,
}

/// Measures batch verification of signed transfers on this thread, half of
/// `seconds` with each verifier, interleaved. The ceiling takes the faster,
/// so that it depends neither on one library nor on Cairn's key cache.
pub fn measure_limit(seconds: f64, validators: usize) -> Result<Limit> {
    let keys: Vec<SigningKey> = (0..VERIFY_BATCH)
        .map(|_| SigningKey::generate(&mut rand::rng()))
        .collect();
    let to = keys[0].public_key().address();
    let txs: Vec<Tx> = (0..16 * VERIFY_BATCH)
        .map(|i| {
            let key = &keys[i % VERIFY_BATCH];
            let body = TxBody {
                chain_id: "cairn-bench".into(),
                sender: key.public_key(),
                nonce: i as u64,
                fee: 1_000,
                msg: Msg::Transfer { to, amount: 1 },
            };
            Tx::sign(body, key)
        })
        .collect();
    let verifiers: [fn(&[Tx]) -> bool; 2] = [zebra_batch_ok, cairn_batch_ok];
    let (mut verified, mut spent) = ([0usize; 2], [0f64; 2]);
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        for (i, verify) in verifiers.iter().enumerate() {
            let round = Instant::now();
            for chunk in txs.chunks(VERIFY_BATCH) {
                if !verify(chunk) {
                    bail!("a valid batch failed to verify");
                }
                verified[i] += chunk.len();
            }
            spent[i] += round.elapsed().as_secs_f64();
        }
    }
    let [zebra_rate, cairn_rate] = [0, 1].map(|i| verified[i] as f64 / spent[i]);
    let per_core = zebra_rate.max(cairn_rate);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    Ok(Limit {
        verifications_per_s_per_core: per_core,
        zebra_per_s_per_core: zebra_rate,
        cairn_uncached_per_s_per_core: cairn_rate,
        cores,
        validators,
        limit_tps: per_core * cores as f64 / validators.max(1) as f64,
    })
}

/// One batch through ed25519-zebra's batch verifier.
fn zebra_batch_ok(chunk: &[Tx]) -> bool {
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for tx in chunk {
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(tx.body.sender.0),
            ed25519_zebra::Signature::from_bytes(&tx.signature.0),
            &tx.body.sign_bytes(),
        ));
    }
    batch.verify(rand::rng()).is_ok()
}

/// One batch through Cairn's equation, every key decompressed.
fn cairn_batch_ok(chunk: &[Tx]) -> bool {
    let mut batch = BatchVerifier::new();
    for tx in chunk {
        batch.push(tx.body.sender, tx.body.sign_bytes(), tx.signature);
    }
    batch.verify_all()
}

/// How `cairn bench load` runs (its command-line arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct LoadOptions {
    /// RPC URL of a node to submit to (repeat for each).
    #[arg(long = "node", required = true)]
    pub nodes: Vec<String>,
    /// Folder of funded account key files (`cairn testnet --output DIR` writes DIR/accounts).
    #[arg(long)]
    pub accounts_dir: PathBuf,
    /// Offered rates in tx/s, comma separated: one step each.
    #[arg(long, value_delimiter = ',', required = true)]
    pub rates: Vec<u64>,
    /// Seconds of load per step.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Most seconds to wait after a step for its accepted txs to commit.
    #[arg(long, default_value_t = 30)]
    pub drain: u64,
    /// Fee of each transfer.
    #[arg(long, default_value_t = 10_000)]
    pub fee: u64,
    /// Pid of a local node whose peak RSS each step reports (repeat for each).
    #[arg(long = "pid")]
    pub pids: Vec<u32>,
    /// Node whose websocket is followed and nonces read (default: the first
    /// --node); chaos runs use one that is never killed.
    #[arg(long)]
    pub observer: Option<String>,
    /// The first this many senders send compare-and-set Puts instead of transfers.
    #[arg(long, default_value_t = 0)]
    pub put_senders: usize,
    /// Send every Nth tx alone through broadcast_tx_commit (0: never).
    #[arg(long, default_value_t = 0)]
    pub commit_every: usize,
    /// Write JSON lines of every committed tx of ours (as observed) and of
    /// every broadcast_tx_commit acknowledgement, for a verdict afterwards.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Start no step after this many seconds (the rest of --rates is skipped).
    #[arg(long)]
    pub max_seconds: Option<u64>,
}

struct Sender {
    key: SigningKey,
    nonce: u64,
}

/// A submitted tx waiting for its commit, and the step it belongs to.
struct Pending {
    at: Instant,
    step: usize,
}

/// A signed tx, the sender it belongs to, and what it does (for the record).
struct Signed {
    sender: usize,
    bytes: Vec<u8>,
    meta: Value,
}

#[derive(Default)]
struct Follow {
    pending: HashMap<Hash, Pending>,
    /// (step, submitted at, seen committed at) of committed txs.
    latencies: Vec<(usize, Instant, Instant)>,
    /// (height, BFT time, txs, decided-in round of the previous height, seen at).
    blocks: Vec<(u64, Time, usize, u32, Instant)>,
    error: Option<String>,
    /// Websocket sessions that ended and were reopened.
    reconnects: u64,
    record: Option<std::io::BufWriter<std::fs::File>>,
    /// With a record: every tx submitted and not yet seen committed, even
    /// when its submission failed (a node may have taken it before dying).
    ours: HashMap<Hash, Value>,
}

impl Follow {
    fn write_record(&mut self, line: &Value) {
        if let Some(w) = self.record.as_mut()
            && let Err(e) = writeln!(w, "{line}")
        {
            self.error = Some(format!("writing the record: {e}"));
        }
    }
}

/// Runs every step and returns one JSON object per step.
pub async fn run_load(opts: &LoadOptions) -> Result<Vec<Value>> {
    if opts.nodes.is_empty() {
        bail!("at least one --node is needed");
    }
    let clients = opts
        .nodes
        .iter()
        .map(|u| RpcClient::new(u))
        .collect::<Result<Vec<_>, _>>()?;
    let observer = match &opts.observer {
        Some(u) => RpcClient::new(u)?,
        None => clients[0].clone(),
    };
    let chain_id = observer.chain_id().await?;
    let mut senders = load_senders(&opts.accounts_dir)?;
    if senders.is_empty() {
        bail!("no account key files in {}", opts.accounts_dir.display());
    }
    let to = senders[0].key.public_key().address();
    let record = match &opts.record {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let follow = Arc::new(Mutex::new(Follow {
        record,
        ..Follow::default()
    }));
    let ws = tokio::spawn(follow_blocks(observer.clone(), Arc::clone(&follow)));
    let clients = Arc::new(clients);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut out = Vec::new();
    let started = Instant::now();
    for (step, &rate) in opts.rates.iter().enumerate() {
        if opts
            .max_seconds
            .is_some_and(|m| started.elapsed() >= Duration::from_secs(m))
        {
            break;
        }
        refresh_nonces(&observer, &mut senders).await?;
        let total = (rate * opts.duration) as usize;
        let signing = Instant::now();
        let txs = sign_step(
            &mut senders,
            &chain_id,
            to,
            opts.fee,
            total,
            opts.put_senders,
        );
        let signed_in = signing.elapsed();
        let sent = offer(&clients, txs, rate, step, opts.commit_every, &follow).await;
        let window_end = Instant::now();
        let committed_in_window = committed_count(&follow, step);
        let drain_deadline = Instant::now() + Duration::from_secs(opts.drain);
        while Instant::now() < drain_deadline && pending_of(&follow, step) > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut report = step_report(
            &follow,
            StepFacts {
                step,
                rate,
                duration: opts.duration,
                signed_in,
                sent,
                committed_in_window,
                window: (sent.started, window_end),
            },
        );
        report["peak_rss_mib"] = opts.pids.iter().map(|p| peak_rss_mib(*p)).collect();
        let error = follow.lock().ok().and_then(|mut f| {
            if let Some(w) = f.record.as_mut()
                && let Err(e) = w.flush()
            {
                f.error = Some(format!("writing the record: {e}"));
            }
            f.error.clone()
        });
        if let Some(e) = error {
            bail!("websocket follower: {e}");
        }
        println!("{report}");
        out.push(report);
    }
    if opts.record.is_some() {
        settle_record(&follow, Duration::from_secs(opts.drain)).await;
    }
    ws.abort();
    Ok(out)
}

/// Waits (at most `limit`) until no more of our txs turn up in blocks for a
/// few seconds, so the record holds every tx of ours the chain committed;
/// the rest (refused or lost with a killed node) are counted as unseen.
async fn settle_record(follow: &Mutex<Follow>, limit: Duration) {
    let deadline = Instant::now() + limit;
    let unseen = || follow.lock().map_or(0, |f| f.ours.len());
    let (mut last, mut since) = (unseen(), Instant::now());
    while Instant::now() < deadline && since.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = unseen();
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    if let Ok(mut f) = follow.lock() {
        let line = json!({"unseen": f.ours.len()});
        f.write_record(&line);
        if let Some(w) = f.record.as_mut() {
            let _ = w.flush();
        }
    }
}

fn load_senders(dir: &Path) -> Result<Vec<Sender>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("account") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let (_, key) =
                AccountKeyFile::load(p).with_context(|| format!("loading {}", p.display()))?;
            Ok(Sender { key, nonce: 0 })
        })
        .collect()
}

async fn refresh_nonces(client: &RpcClient, senders: &mut [Sender]) -> Result<()> {
    let addresses: Vec<Address> = senders
        .iter()
        .map(|s| s.key.public_key().address())
        .collect();
    for (s, account) in senders.iter_mut().zip(client.accounts(&addresses).await?) {
        s.nonce = account.nonce;
    }
    Ok(())
}

/// `total` txs, round robin over the senders; tx k is sender k mod S's.
/// Senders below `put_senders` write key "cas" with a condition that holds
/// or not depending on which of their earlier Puts won: the chain's order
/// decides, and the record lets a checker replay it.
fn sign_step(
    senders: &mut [Sender],
    chain_id: &str,
    to: Address,
    fee: u64,
    total: usize,
    put_senders: usize,
) -> Vec<Signed> {
    let n = senders.len();
    let bodies: Vec<(usize, TxBody, Value)> = (0..total)
        .map(|k| {
            let i = k % n;
            let s = &mut senders[i];
            let nonce = s.nonce;
            s.nonce += 1;
            let (msg, meta) = if i < put_senders {
                // Per sender, in nonce order: write unconditionally, then
                // expect the previous value (holds), expect the one before
                // (fails), expect the one before again (holds) — when every
                // earlier tx made it in, in this order. Lost or reordered
                // txs change the answers; the replay of the chain decides.
                let value = |n: u64| Bytes(n.to_be_bytes().to_vec());
                let expects = match nonce % 4 {
                    0 => None,
                    1 => Some(nonce - 1),
                    _ => Some(nonce - 2),
                };
                let condition =
                    expects.map_or(PutCondition::Always, |e| PutCondition::Equals(value(e)));
                let msg = Msg::Put {
                    key: Bytes(b"cas".to_vec()),
                    value: value(nonce),
                    condition,
                };
                let meta = json!({"kind": "put", "owner": s.key.public_key().address().to_hex(),
                    "value": nonce, "expects": expects});
                (msg, meta)
            } else {
                (Msg::Transfer { to, amount: 1 }, json!({"kind": "transfer"}))
            };
            let body = TxBody {
                chain_id: chain_id.into(),
                sender: s.key.public_key(),
                nonce,
                fee,
                msg,
            };
            (i, body, meta)
        })
        .collect();
    let senders = &*senders;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = bodies.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = bodies
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(i, body, meta)| Signed {
                            sender: *i,
                            bytes: Tx::sign(body.clone(), &senders[*i].key).to_bytes(),
                            meta: meta.clone(),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    started: Instant,
    submitted: usize,
    accepted: usize,
    rejected: usize,
    errors: usize,
    /// Seconds the pacer ran behind its schedule at the end (requests in flight were full).
    behind_s: f64,
}

#[derive(Default)]
struct Counts {
    accepted: usize,
    rejected: usize,
    errors: usize,
    codes: BTreeMap<u64, usize>,
}

/// Offers `txs` at `rate` tx/s; each sender's txs go to node `sender mod N`
/// (the next live node when that one does not answer), and every
/// `commit_every`-th tx goes alone through `broadcast_tx_commit`.
async fn offer(
    clients: &Arc<Vec<RpcClient>>,
    txs: Vec<Signed>,
    rate: u64,
    step: usize,
    commit_every: usize,
    follow: &Arc<Mutex<Follow>>,
) -> Sent {
    let nodes = clients.len();
    let slots: Vec<Arc<Semaphore>> = (0..nodes)
        .map(|_| Arc::new(Semaphore::new(IN_FLIGHT_PER_NODE)))
        .collect();
    let counts = Arc::new(Mutex::new(Counts::default()));
    let started = Instant::now();
    let mut queues: Vec<Vec<Signed>> = (0..nodes).map(|_| Vec::new()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    let mut released = 0usize;
    let mut iter = txs.into_iter();
    let total = iter.len();
    let mut tick = tokio::time::interval(TICK);
    while released < total {
        tick.tick().await;
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as usize).min(total);
        for tx in iter.by_ref().take(due.saturating_sub(released)) {
            released += 1;
            let node = tx.sender % nodes;
            if commit_every > 0 && released.is_multiple_of(commit_every) {
                let (clients, follow) = (Arc::clone(clients), Arc::clone(follow));
                tasks.spawn(async move { submit_commit(&clients, node, tx, &follow).await });
            } else {
                queues[node].push(tx);
            }
        }
        for (node, queue) in queues.iter_mut().enumerate() {
            while !queue.is_empty() {
                let batch: Vec<Signed> = queue.drain(..queue.len().min(MAX_BATCH)).collect();
                let Ok(permit) = Arc::clone(&slots[node]).acquire_owned().await else {
                    break;
                };
                let (clients, counts, follow) =
                    (Arc::clone(clients), Arc::clone(&counts), Arc::clone(follow));
                tasks.spawn(async move {
                    submit(&clients, node, batch, step, &follow, &counts).await;
                    drop(permit);
                });
            }
        }
    }
    let behind_s = (started.elapsed().as_secs_f64() - total as f64 / rate.max(1) as f64).max(0.0);
    while tasks.join_next().await.is_some() {}
    let c = counts
        .lock()
        .map(|c| (c.accepted, c.rejected, c.errors, c.codes.clone()));
    let (accepted, rejected, errors, codes) = c.unwrap_or_default();
    if !codes.is_empty() {
        eprintln!("step {step}: rejected by code {codes:?}");
    }
    Sent {
        started,
        submitted: total,
        accepted,
        rejected,
        errors,
        behind_s,
    }
}

/// Calls `method` on node `first`, or on the next ones when it does not
/// answer at all (killed, restarting); JSON-RPC errors are answers.
async fn call_with_failover<T, F, Fut>(
    clients: &[RpcClient],
    first: usize,
    call: F,
) -> Result<T, ClientError>
where
    F: Fn(RpcClient) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut last = None;
    for k in 0..clients.len() {
        match call(clients[(first + k) % clients.len()].clone()).await {
            Err(e @ ClientError::Http { .. }) => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| ClientError::Timeout { height: 0, secs: 0 }))
}

/// One JSON-RPC batch of `broadcast_tx_sync`; accepted txs start their clock.
async fn submit(
    clients: &[RpcClient],
    node: usize,
    batch: Vec<Signed>,
    step: usize,
    follow: &Mutex<Follow>,
    counts: &Mutex<Counts>,
) {
    let at = Instant::now();
    let hashes: Vec<Hash> = batch.iter().map(|t| Hash::digest(&t.bytes)).collect();
    let params: Vec<Value> = batch
        .iter()
        .map(|t| json!({"tx": base64_encode(&t.bytes)}))
        .collect();
    if let Ok(mut f) = follow.lock() {
        for (h, t) in hashes.iter().zip(batch) {
            f.pending.insert(*h, Pending { at, step });
            if f.record.is_some() {
                f.ours.insert(*h, t.meta);
            }
        }
    }
    let answers = call_with_failover(clients, node, |c| {
        let params = params.clone();
        async move { c.call_batch(BroadcastMode::Sync.method(), params).await }
    })
    .await;
    let Ok(mut c) = counts.lock() else { return };
    let mut refused = Vec::new();
    match answers {
        Ok(answers) => {
            for (h, a) in hashes.iter().zip(answers) {
                match a.ok().and_then(|v| v["code"].as_u64()) {
                    Some(0) => c.accepted += 1,
                    Some(code) => {
                        c.rejected += 1;
                        *c.codes.entry(code).or_default() += 1;
                        refused.push(*h);
                    }
                    None => {
                        c.errors += 1;
                        refused.push(*h);
                    }
                }
            }
        }
        Err(_) => {
            c.errors += hashes.len();
            refused = hashes;
        }
    }
    drop(c);
    if let Ok(mut f) = follow.lock() {
        for h in refused {
            f.pending.remove(&h);
        }
    }
}

/// One tx through `broadcast_tx_commit`: a success answer is an
/// acknowledgement of commit, recorded with the height and code it reports.
async fn submit_commit(clients: &[RpcClient], node: usize, tx: Signed, follow: &Mutex<Follow>) {
    let hash = Hash::digest(&tx.bytes);
    if let Ok(mut f) = follow.lock()
        && f.record.is_some()
    {
        f.ours.insert(hash, tx.meta.clone());
    }
    let answer = call_with_failover(clients, node, |c| {
        let bytes = tx.bytes.clone();
        async move { c.broadcast_tx(BroadcastMode::Commit, &bytes).await }
    })
    .await;
    let Ok(a) = answer else { return };
    if a["check_tx"]["code"].as_u64() != Some(0) {
        return;
    }
    let Some(height) = a["height"].as_str().and_then(|h| h.parse::<u64>().ok()) else {
        return;
    };
    if let Ok(mut f) = follow.lock() {
        let line = json!({"ack": "broadcast_tx_commit", "hash": hash.to_hex(), "height": height,
            "code": a["tx_result"]["code"].as_u64(), "meta": tx.meta});
        f.write_record(&line);
    }
}

/// Follows `NewBlock` events of `node`'s websocket: every tx of a block that
/// this generator submitted gets its submit-to-commit latency. Blocks whose
/// events did not arrive (the node's renderer fell behind, or it dropped
/// this client as too slow) are read over JSON-RPC when the next event shows
/// the gap, so they count, a little late. A closed or failed websocket is
/// reconnected (CometBFT's answer to a slow subscriber is to drop it), and
/// each reconnection is counted in the step's report.
async fn follow_blocks(node: RpcClient, follow: Arc<Mutex<Follow>>) {
    let mut last = None;
    loop {
        let e = follow_until_error(&node, &follow, &mut last).await;
        eprintln!("websocket follower: {e}; reconnecting");
        if let Ok(mut f) = follow.lock() {
            f.reconnects += 1;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One websocket session of [`follow_blocks`]; returns why it ended.
async fn follow_until_error(
    node: &RpcClient,
    follow: &Mutex<Follow>,
    last: &mut Option<u64>,
) -> String {
    let url = format!("{}/websocket", node.url().replacen("http", "ws", 1));
    // A full block's NewBlock event (txs in base64 plus a result per tx)
    // runs past tungstenite's 16 MiB default.
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_EVENT_BYTES))
        .max_frame_size(Some(MAX_EVENT_BYTES));
    let (mut ws, _) =
        match tokio_tungstenite::connect_async_with_config(&url, Some(config), false).await {
            Ok(c) => c,
            Err(e) => return format!("{url}: {e}"),
        };
    let sub = json!({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
        "params": {"query": "tm.event='NewBlock'"}});
    if let Err(e) = ws.send(WsMessage::text(sub.to_string())).await {
        return format!("subscribe: {e}");
    }
    while let Some(msg) = ws.next().await {
        // A commit is observed when its event arrives, not after this
        // generator has parsed it.
        let arrived = Instant::now();
        let text = match msg {
            Ok(WsMessage::Text(t)) => t,
            Ok(WsMessage::Close(c)) => return format!("closed by the node: {c:?}"),
            Ok(_) => continue,
            Err(e) => return e.to_string(),
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if let Some(e) = v.get("error") {
            return e.to_string();
        }
        let block = &v["result"]["data"]["value"]["block"];
        let Some(height) = block_height(block) else {
            continue;
        };
        for missing in last.map_or(height, |l| l + 1)..height {
            let read = async {
                let at = json!({"height": missing.to_string()});
                let b = node.call("block", at.clone()).await?;
                let r = node.call("block_results", at).await?;
                anyhow::Ok((b, r))
            };
            match read.await {
                Ok((b, r)) => record_block(
                    follow,
                    &b["block"],
                    &r["txs_results"],
                    missing,
                    Instant::now(),
                ),
                Err(e) => return format!("reading missed block {missing}: {e}"),
            }
            *last = Some(missing);
        }
        let results = &v["result"]["data"]["value"]["result_finalize_block"]["tx_results"];
        record_block(follow, block, results, height, arrived);
        *last = Some(height);
    }
    "websocket ended".into()
}

fn block_height(block: &Value) -> Option<u64> {
    block["header"]["height"].as_str()?.parse().ok()
}

/// Notes a committed block (CometBFT JSON), seen `now`, and the latency of
/// our txs in it.
fn record_block(follow: &Mutex<Follow>, block: &Value, results: &Value, height: u64, now: Instant) {
    let time = block["header"]["time"]
        .as_str()
        .and_then(|t| Time::parse_rfc3339(t).ok())
        .unwrap_or_default();
    let round = block["last_commit"]["round"].as_u64().unwrap_or(0) as u32;
    let txs: Vec<Hash> = block["data"]["txs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| base64_decode(t.as_str()?).ok())
                .map(|b| Hash::digest(&b))
                .collect()
        })
        .unwrap_or_default();
    let Ok(mut f) = follow.lock() else { return };
    f.blocks.push((height, time, txs.len(), round, now));
    for (index, h) in txs.into_iter().enumerate() {
        if let Some(p) = f.pending.remove(&h) {
            f.latencies.push((p.step, p.at, now));
        }
        if let Some(meta) = f.ours.remove(&h) {
            let line = json!({"hash": h.to_hex(), "height": height, "index": index,
                "code": results[index]["code"].as_u64(), "meta": meta});
            f.write_record(&line);
        }
    }
}

fn committed_count(follow: &Mutex<Follow>, step: usize) -> usize {
    follow.lock().map_or(0, |f| {
        f.latencies.iter().filter(|(s, _, _)| *s == step).count()
    })
}

fn pending_of(follow: &Mutex<Follow>, step: usize) -> usize {
    follow
        .lock()
        .map_or(0, |f| f.pending.values().filter(|p| p.step == step).count())
}

struct StepFacts {
    step: usize,
    rate: u64,
    duration: u64,
    signed_in: Duration,
    sent: Sent,
    committed_in_window: usize,
    window: (Instant, Instant),
}

fn step_report(follow: &Mutex<Follow>, s: StepFacts) -> Value {
    let Ok(f) = follow.lock() else {
        return json!({"error": "follower state poisoned"});
    };
    let mine: Vec<_> = f.latencies.iter().filter(|l| l.0 == s.step).collect();
    let mut lat: Vec<f64> = mine
        .iter()
        .map(|(_, at, done)| (*done - *at).as_secs_f64() * 1e3)
        .collect();
    // Sustained rate: every committed tx of the step over the time from the
    // first submission to the last commit (a saturated network queues, and
    // its window count alone would undercount what it processes).
    let last_commit = mine.iter().map(|l| l.2).max();
    let sustained_s = last_commit.map_or(0.0, |t| (t - s.window.0).as_secs_f64());
    lat.sort_by(f64::total_cmp);
    let blocks: Vec<_> = f
        .blocks
        .iter()
        .filter(|b| b.4 >= s.window.0 && b.4 <= s.window.1)
        .collect();
    let mut intervals: Vec<f64> = blocks
        .windows(2)
        .map(|w| w[1].1.0.saturating_sub(w[0].1.0) as f64 / 1e6)
        .collect();
    intervals.sort_by(f64::total_cmp);
    let txs_per_block =
        blocks.iter().map(|b| b.2).sum::<usize>() as f64 / blocks.len().max(1) as f64;
    let later_rounds = blocks.iter().filter(|b| b.3 > 0).count();
    let window_s = (s.window.1 - s.window.0).as_secs_f64();
    // Wall-clock bounds of the offered window, so a harness can line steps
    // up with what it did meanwhile (kills, partitions).
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let unix_of = |at: Instant| round(unix_now - at.elapsed().as_secs_f64(), 3);
    json!({
        "offered_tps": s.rate,
        "duration_s": s.duration,
        "window_unix_s": [unix_of(s.window.0), unix_of(s.window.1)],
        "signed_in_s": round(s.signed_in.as_secs_f64(), 2),
        "submitted": s.sent.submitted,
        "accepted": s.sent.accepted,
        "rejected": s.sent.rejected,
        "errors": s.sent.errors,
        "follower_reconnects": f.reconnects,
        "pacer_behind_s": round(s.sent.behind_s, 2),
        "committed_in_window": s.committed_in_window,
        "committed_in_window_tps": round(s.committed_in_window as f64 / window_s, 1),
        "committed_total": lat.len(),
        "committed_tps": round(lat.len() as f64 / sustained_s.max(window_s), 1),
        "latency_ms": {
            "p50": round(percentile(&lat, 50.0), 0),
            "p90": round(percentile(&lat, 90.0), 0),
            "p99": round(percentile(&lat, 99.0), 0),
        },
        "blocks": blocks.len(),
        "txs_per_block": round(txs_per_block, 1),
        "block_interval_ms_p50": round(percentile(&intervals, 50.0), 0),
        "heights_decided_after_round_0": later_rounds,
    })
}

/// VmHWM of a local process in MiB; `None` when it is gone.
fn peak_rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}
