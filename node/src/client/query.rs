//! `cairn query`: read the chain through a node's JSON-RPC and print JSON;
//! with `--prove`, believe a state value only after [`super::verify`] has
//! tied it to a validator set trusted from genesis or from a header the
//! user names.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use cairn_genesis::GenesisDoc;
use cairn_state::{Account, StateKey};
use cairn_types::{Address, ChainParams, Hash};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::verify::{self, FollowError, RootSpec, VerifiedHeader};
use super::{DEFAULT_NODE, RpcClient};
use crate::home::Home;

/// How long `--prove` waits for header `H+1` when `H` is the latest height.
const NEXT_HEADER_WAIT: Duration = Duration::from_secs(30);

/// `cairn query <what> ...`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The node's RPC address.
    #[arg(long, env = "CAIRN_NODE", default_value = DEFAULT_NODE, global = true)]
    node: String,
    #[command(subcommand)]
    what: QueryCommand,
}

/// Proof options: what to verify against.
#[derive(Debug, Args)]
struct ProveOptions {
    /// Verify the answer: its Merkle proof against the app hash of header
    /// H+1, whose commit must be signed by a validator set trusted from
    /// genesis (or --trust-height/--trust-hash) and followed through every
    /// set change.
    #[arg(long)]
    prove: bool,
    /// Genesis file whose validators are trusted (default: <home>/config/genesis.json).
    #[arg(long, value_name = "PATH")]
    genesis: Option<PathBuf>,
    /// A node home, for its genesis file.
    #[arg(long, env = "CAIRN_HOME")]
    home: Option<PathBuf>,
    /// Trust the header at this height instead of genesis (with --trust-hash).
    #[arg(long, requires = "trust_hash")]
    trust_height: Option<u64>,
    /// The trusted header's hash (64 hex digits).
    #[arg(long, requires = "trust_height", value_parser = parse_hash)]
    trust_hash: Option<Hash>,
}

#[derive(Debug, Subcommand)]
enum QueryCommand {
    /// The node's status.
    Status,
    /// A block (the latest when no height is given).
    Block {
        /// Height.
        height: Option<u64>,
    },
    /// A committed transaction by hash.
    Tx {
        /// The tx hash (64 hex digits).
        hash: String,
    },
    /// An account's balance and nonce.
    Account {
        /// The account address (40 hex digits).
        #[arg(value_parser = parse_address)]
        address: Address,
        /// The state after this block (default: the latest).
        #[arg(long)]
        height: Option<u64>,
        #[command(flatten)]
        prove: ProveOptions,
    },
    /// The validator set that signs a height (default: the latest).
    Validators {
        /// Height.
        height: Option<u64>,
        #[command(flatten)]
        prove: ProveOptions,
    },
    /// The chain parameters in force.
    Params {
        /// The state after this block (default: the latest).
        #[arg(long)]
        height: Option<u64>,
        #[command(flatten)]
        prove: ProveOptions,
    },
    /// Evidence in a block, or the most recent evidence when no height is given.
    Evidence {
        /// Height.
        height: Option<u64>,
    },
}

fn parse_address(s: &str) -> Result<Address, String> {
    Address::from_hex(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| e.to_string())
}

fn parse_hash(s: &str) -> Result<Hash, String> {
    Hash::from_hex(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| e.to_string())
}

/// Runs `cairn query`.
pub fn run(args: QueryArgs) -> Result<()> {
    super::block_on(run_async(args))?
}

fn print(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn height_param(height: Option<u64>) -> Value {
    match height {
        Some(h) => json!({"height": h.to_string()}),
        None => json!({}),
    }
}

async fn run_async(args: QueryArgs) -> Result<()> {
    let client = RpcClient::new(&args.node)?;
    match args.what {
        QueryCommand::Status => print(&client.status().await?),
        QueryCommand::Block { height } => print(&client.call("block", height_param(height)).await?),
        QueryCommand::Tx { hash } => print(&client.call("tx", json!({"hash": hash})).await?),
        QueryCommand::Evidence { height: Some(h) } => {
            let b = client.call("block", height_param(Some(h))).await?;
            print(&json!({"height": h.to_string(), "evidence": b["block"]["evidence"]["evidence"]}))
        }
        QueryCommand::Evidence { height: None } => print(&client.get("/api/evidence").await?),
        QueryCommand::Account {
            address,
            height,
            prove,
        } => {
            let key = StateKey::Account(address);
            let a =
                state_query(&client, "/store/account", &address.0, &key, height, &prove).await?;
            let acct: Account = decode(&a.value)?.unwrap_or_default();
            print(&json!({
                "address": address.to_hex(),
                "height": a.height.to_string(),
                "exists": a.value.is_some(),
                "balance": acct.balance.to_string(),
                "nonce": acct.nonce.to_string(),
            }))?;
            a.report(&format!("account {}", address.to_hex()));
            Ok(())
        }
        QueryCommand::Params { height, prove } => {
            let a = state_query(
                &client,
                "/store/params",
                &[],
                &StateKey::Params,
                height,
                &prove,
            )
            .await?;
            let params: ChainParams =
                decode(&a.value)?.ok_or_else(|| anyhow!("the node holds no parameters"))?;
            print(&json!({"height": a.height.to_string(), "params": params}))?;
            a.report("params");
            Ok(())
        }
        QueryCommand::Validators { height, prove } => validators(&client, height, &prove).await,
    }
}

fn decode<T: borsh::BorshDeserialize + borsh::BorshSerialize>(
    value: &Option<Vec<u8>>,
) -> Result<Option<T>> {
    value
        .as_deref()
        .map(|v| cairn_types::codec::decode(v, v.len()).context("decoding the value"))
        .transpose()
}

/// A state value, verified when `--prove` was given.
struct StateAnswer {
    /// The state version: after executing this block.
    height: u64,
    /// `None` when the key has no value.
    value: Option<Vec<u8>>,
    verified: Option<VerifiedHeader>,
}

impl StateAnswer {
    fn report(&self, what: &str) {
        if let Some(v) = &self.verified {
            println!(
                "verified: {what} at height {} against app hash {} of header {}, {}",
                self.height,
                v.header.app_hash.to_hex(),
                v.header.height,
                v.signed_by()
            );
        }
    }
}

fn failed(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("proof verification FAILED: {e}")
}

/// Verifies header `target` from the root the options name.
async fn verified_header(
    client: &RpcClient,
    prove: &ProveOptions,
    target: u64,
) -> Result<VerifiedHeader> {
    let root = root(prove)?;
    let run = async {
        let trusted = verify::trust(client, &root).await?;
        verify::follow(client, trusted, target).await
    };
    match run.await {
        Ok(v) => Ok(v),
        Err(FollowError::Verify(e)) => Err(failed(e)),
        Err(FollowError::Fetch(e)) => Err(anyhow!(e).context(format!(
            "fetching what proves header {target} (nothing verified)"
        ))),
    }
}

/// `abci_query` of `path`/`data` for `key`; with `--prove`, the proof is
/// checked against the verified header `H+1`.
async fn state_query(
    client: &RpcClient,
    path: &str,
    data: &[u8],
    key: &StateKey,
    height: Option<u64>,
    prove: &ProveOptions,
) -> Result<StateAnswer> {
    let q = client.abci_query(path, data, height, prove.prove).await?;
    if let Some(h) = height
        && q.height != h
    {
        bail!(
            "asked for the state at height {h}, the node answered height {}",
            q.height
        );
    }
    let unverified = (q.code == 0).then(|| q.value.clone());
    if !prove.prove {
        return Ok(StateAnswer {
            height: q.height,
            value: unverified,
            verified: None,
        });
    }
    let target = q.height + 1;
    client
        .wait_for_height(target, NEXT_HEADER_WAIT)
        .await
        .context("waiting for the header that carries the app hash")?;
    let header = verified_header(client, prove, target).await?;
    let value =
        verify::verify_query(&q, &key.to_bytes(), &header.header.app_hash).map_err(failed)?;
    Ok(StateAnswer {
        height: q.height,
        value,
        verified: Some(header),
    })
}

async fn validators(client: &RpcClient, height: Option<u64>, prove: &ProveOptions) -> Result<()> {
    if !prove.prove {
        let mut all = Vec::new();
        let mut page = 1u64;
        loop {
            let mut params = height_param(height);
            params["page"] = json!(page.to_string());
            params["per_page"] = json!(cairn_rpc::methods::MAX_PER_PAGE.to_string());
            let mut r = client.call("validators", params).await?;
            let got = r["validators"].as_array().cloned().unwrap_or_default();
            let total: usize = r["total"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let done = got.is_empty();
            all.extend(got);
            if done || all.len() >= total {
                r["validators"] = Value::Array(all);
                r["count"] = json!(r["total"]);
                return print(&r);
            }
            page += 1;
        }
    }
    let target = match height {
        Some(h) => h,
        None => client.latest_height().await?,
    };
    let v = verified_header(client, prove, target).await?;
    let members: Vec<Value> = v
        .set
        .validators()
        .iter()
        .map(|m| json!({"address": m.address.to_hex(), "pub_key": m.pub_key, "voting_power": m.power.to_string()}))
        .collect();
    print(&json!({
        "block_height": target.to_string(),
        "validators": members,
        "total": v.set.len().to_string(),
    }))?;
    println!(
        "verified: validator set of height {target} (hash {}) named by header {target}, {}",
        v.set.hash().to_hex(),
        v.signed_by()
    );
    Ok(())
}

fn root(prove: &ProveOptions) -> Result<RootSpec> {
    if let (Some(height), Some(hash)) = (prove.trust_height, prove.trust_hash) {
        return Ok(RootSpec::Header { height, hash });
    }
    let path = match (&prove.genesis, &prove.home) {
        (Some(g), _) => g.clone(),
        (None, Some(h)) => Home::new(h).genesis_file(),
        (None, None) => bail!(
            "--prove needs a root of trust: --genesis PATH, --home DIR (its config/genesis.json), or --trust-height H --trust-hash HEX"
        ),
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let genesis = GenesisDoc::from_json(&text).with_context(|| format!("{}", path.display()))?;
    Ok(RootSpec::Genesis(Box::new(genesis)))
}
