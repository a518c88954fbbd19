//! `cairn tx`: build, sign and submit one transaction of each message kind.
//!
//! What the signer does not give is asked from the node: the chain id
//! (`status`), the sender's next nonce (`abci_query /store/account`) and
//! the minimum fee (`min_fee_per_byte` from `/store/params` times the
//! signed tx's length; the length does not depend on the fee, a fixed
//! 8-byte field). With `--chain-id`, `--nonce` and `--fee` all given,
//! `--generate-only` never contacts a node.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use cairn_genesis::keys::AccountKeyFile;
use cairn_types::json::{base64_decode, base64_encode};
use cairn_types::{
    Address, Bytes, ChainParams, Msg, NodeId, PublicKey, PutCondition, SigningKey, Tx, TxBody,
};
use clap::{Args, Subcommand};
use serde_json::Value;

use super::{BroadcastMode, DEFAULT_NODE, RpcClient};

/// `cairn tx <message> ...`.
#[derive(Debug, Args)]
pub struct TxArgs {
    #[command(subcommand)]
    msg: MsgCommand,
}

/// Options every `cairn tx` subcommand takes.
#[derive(Debug, Args)]
struct TxOptions {
    /// The sender's account key file (as `cairn keys new` or `cairn testnet` write them).
    #[arg(long, value_name = "KEYFILE")]
    from: PathBuf,
    /// The node's RPC address.
    #[arg(long, env = "CAIRN_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// Fee in base units (default: the chain's minimum for this tx's size).
    #[arg(long)]
    fee: Option<u64>,
    /// The sender's nonce (default: the account's next nonce, from the node).
    #[arg(long)]
    nonce: Option<u64>,
    /// Chain id (default: the node's).
    #[arg(long)]
    chain_id: Option<String>,
    /// How to submit: return at once, after the mempool check, or after the commit.
    #[arg(long, value_enum, default_value_t = BroadcastMode::Sync)]
    mode: BroadcastMode,
    /// Print the signed tx as base64 and send nothing.
    #[arg(long)]
    generate_only: bool,
}

#[derive(Debug, Subcommand)]
enum MsgCommand {
    /// Move funds to another account.
    Transfer {
        /// Recipient address (40 hex digits).
        #[arg(long, value_parser = parse_address)]
        to: Address,
        /// Amount in base units.
        #[arg(long)]
        amount: u64,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Store a value under a key in the sender's namespace.
    Put {
        /// The key (text, or hex with --hex).
        #[arg(long)]
        key: String,
        /// The value (text, or hex with --hex).
        #[arg(long)]
        value: String,
        /// Write only if the key has no value.
        #[arg(long, conflicts_with = "if_equals")]
        if_absent: bool,
        /// Write only if the current value equals this (text, or hex with --hex).
        #[arg(long)]
        if_equals: Option<String>,
        /// Read --key, --value and --if-equals as hex.
        #[arg(long)]
        hex: bool,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Bond funds to a validator.
    Delegate {
        /// The validator's operator address.
        #[arg(long, value_parser = parse_address)]
        validator: Address,
        /// Amount in base units.
        #[arg(long)]
        amount: u64,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Start unbonding funds from a validator.
    Undelegate {
        /// The validator's operator address.
        #[arg(long, value_parser = parse_address)]
        validator: Address,
        /// Amount in base units.
        #[arg(long)]
        amount: u64,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Register the sender as a validator operator (an admin must have permitted it).
    CreateValidator {
        /// Consensus public key, base64 (the `value` that `cairn show-validator` prints).
        #[arg(long, value_parser = parse_pub_key)]
        consensus_key: PublicKey,
        /// The validator node's id (`cairn show-node-id`).
        #[arg(long, value_parser = parse_node_id)]
        node_id: NodeId,
        /// Human-readable name.
        #[arg(long)]
        moniker: String,
        /// Initial self-delegation in base units.
        #[arg(long)]
        self_stake: u64,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Change the sender's validator description.
    EditValidator {
        /// New name.
        #[arg(long)]
        moniker: Option<String>,
        /// New node id.
        #[arg(long, value_parser = parse_node_id)]
        node_id: Option<NodeId>,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Ask for the sender's validator to leave jail.
    Unjail {
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Admin: allow an operator to create a validator.
    Permit {
        /// The operator's account address.
        #[arg(long, value_parser = parse_address)]
        operator: Address,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Admin: withdraw an operator's permission (an active validator leaves the set).
    Revoke {
        /// The operator's account address.
        #[arg(long, value_parser = parse_address)]
        operator: Address,
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Admin: replace the chain parameters.
    UpdateParams {
        /// A JSON file with the parameters, shaped like genesis.json's `params`.
        #[arg(long, value_name = "FILE")]
        params: PathBuf,
        #[command(flatten)]
        opts: TxOptions,
    },
}

fn parse_address(s: &str) -> Result<Address, String> {
    Address::from_hex(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| e.to_string())
}

fn parse_node_id(s: &str) -> Result<NodeId, String> {
    NodeId::from_hex(s).map_err(|e| e.to_string())
}

fn parse_pub_key(s: &str) -> Result<PublicKey, String> {
    let bytes = base64_decode(s).map_err(|e| e.to_string())?;
    let key = PublicKey(
        bytes
            .try_into()
            .map_err(|_| "an ed25519 public key is 32 bytes".to_owned())?,
    );
    key.check_usable().map_err(|e| e.to_string())?;
    Ok(key)
}

fn put_bytes(s: &str, hex_input: bool) -> Result<Bytes> {
    if hex_input {
        Ok(Bytes(
            hex::decode(s).with_context(|| format!("{s:?} is not hex"))?,
        ))
    } else {
        Ok(Bytes(s.as_bytes().to_vec()))
    }
}

impl MsgCommand {
    /// The message and the common options.
    fn into_msg(self) -> Result<(Msg, TxOptions)> {
        Ok(match self {
            MsgCommand::Transfer { to, amount, opts } => (Msg::Transfer { to, amount }, opts),
            MsgCommand::Put {
                key,
                value,
                if_absent,
                if_equals,
                hex,
                opts,
            } => {
                let condition = match (if_absent, if_equals) {
                    (true, _) => PutCondition::Absent,
                    (false, Some(v)) => PutCondition::Equals(put_bytes(&v, hex)?),
                    (false, None) => PutCondition::Always,
                };
                let msg = Msg::Put {
                    key: put_bytes(&key, hex)?,
                    value: put_bytes(&value, hex)?,
                    condition,
                };
                (msg, opts)
            }
            MsgCommand::Delegate {
                validator,
                amount,
                opts,
            } => (Msg::Delegate { validator, amount }, opts),
            MsgCommand::Undelegate {
                validator,
                amount,
                opts,
            } => (Msg::Undelegate { validator, amount }, opts),
            MsgCommand::CreateValidator {
                consensus_key,
                node_id,
                moniker,
                self_stake,
                opts,
            } => (
                Msg::CreateValidator {
                    consensus_key,
                    node_id,
                    moniker: moniker.into(),
                    self_stake,
                },
                opts,
            ),
            MsgCommand::EditValidator {
                moniker,
                node_id,
                opts,
            } => {
                if moniker.is_none() && node_id.is_none() {
                    bail!("edit-validator: give --moniker, --node-id or both");
                }
                let msg = Msg::EditValidator {
                    moniker: moniker.map(Into::into),
                    node_id,
                };
                (msg, opts)
            }
            MsgCommand::Unjail { opts } => (Msg::Unjail, opts),
            MsgCommand::Permit { operator, opts } => (Msg::PermitValidator { operator }, opts),
            MsgCommand::Revoke { operator, opts } => (Msg::RevokeValidator { operator }, opts),
            MsgCommand::UpdateParams { params, opts } => {
                let text = std::fs::read_to_string(&params)
                    .with_context(|| format!("reading {}", params.display()))?;
                let p: ChainParams = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not chain parameters", params.display()))?;
                p.validate()
                    .with_context(|| format!("{}", params.display()))?;
                (Msg::UpdateParams { params: p }, opts)
            }
        })
    }
}

/// Signs `msg` from `key`; a fee of `None` becomes `min_fee_per_byte` times the signed length.
pub fn sign(key: &SigningKey, chain_id: &str, nonce: u64, fee: FeeRule, msg: Msg) -> Result<Tx> {
    let body = |fee| TxBody {
        chain_id: chain_id.into(),
        sender: key.public_key(),
        nonce,
        fee,
        msg: msg.clone(),
    };
    let fee = match fee {
        FeeRule::Exact(f) => f,
        FeeRule::PerByte(per_byte) => {
            let len = Tx::sign(body(0), key).to_bytes().len() as u64;
            per_byte
                .checked_mul(len)
                .ok_or_else(|| anyhow!("fee overflows: {per_byte} per byte x {len} bytes"))?
        }
    };
    Ok(Tx::sign(body(fee), key))
}

/// How the fee is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeeRule {
    /// This fee.
    Exact(u64),
    /// The minimum at this price per byte of the signed tx.
    PerByte(u64),
}

/// Runs `cairn tx`.
pub fn run(args: TxArgs) -> Result<()> {
    super::block_on(run_async(args))?
}

async fn run_async(args: TxArgs) -> Result<()> {
    let (msg, opts) = args.msg.into_msg()?;
    let (_, key) = AccountKeyFile::load(&opts.from)?;
    let client = RpcClient::new(&opts.node)?;
    let need = |what: &str, flag: &str| {
        format!(
            "asking {} for the {what} (give {flag} to sign without a node)",
            client.url()
        )
    };
    let chain_id = match opts.chain_id {
        Some(c) => c,
        None => client
            .chain_id()
            .await
            .with_context(|| need("chain id", "--chain-id"))?,
    };
    let nonce = match opts.nonce {
        Some(n) => n,
        None => {
            client
                .account(&key.public_key().address())
                .await
                .with_context(|| need("sender's nonce", "--nonce"))?
                .nonce
        }
    };
    let fee = match opts.fee {
        Some(f) => FeeRule::Exact(f),
        None => FeeRule::PerByte(
            client
                .params()
                .await
                .with_context(|| need("minimum fee", "--fee"))?
                .app
                .min_fee_per_byte,
        ),
    };
    let tx = sign(&key, &chain_id, nonce, fee, msg)?;
    let bytes = tx.to_bytes();
    if opts.generate_only {
        println!("{}", base64_encode(&bytes));
        return Ok(());
    }
    let result = client
        .broadcast_tx(opts.mode, &bytes)
        .await
        .context("broadcasting")?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    check_result(opts.mode, &result)
}

fn code_and_log(v: &Value) -> (u64, &str) {
    (
        v["code"].as_u64().unwrap_or(0),
        v["log"].as_str().unwrap_or_default(),
    )
}

/// A non-zero code anywhere in a broadcast's result is an error naming it.
fn check_result(mode: BroadcastMode, result: &Value) -> Result<()> {
    let hash = result["hash"].as_str().unwrap_or_default();
    let check = match mode {
        BroadcastMode::Commit => &result["check_tx"],
        BroadcastMode::Async | BroadcastMode::Sync => result,
    };
    let (code, log) = code_and_log(check);
    if code != 0 {
        bail!("tx {hash} rejected by the node's check: code {code}: {log}");
    }
    if mode == BroadcastMode::Commit {
        let (code, log) = code_and_log(&result["tx_result"]);
        if code != 0 {
            let height = result["height"].as_str().unwrap_or("?");
            bail!("tx {hash} was committed at height {height} but failed: code {code}: {log}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn the_per_byte_fee_covers_the_signed_length_exactly() {
        let key = SigningKey::from_seed([1; 32]);
        let msg = Msg::Transfer {
            to: Address([2; 20]),
            amount: 5,
        };
        let tx = sign(&key, "c", 3, FeeRule::PerByte(7), msg.clone()).unwrap();
        assert_eq!(tx.body.fee, 7 * tx.to_bytes().len() as u64);
        tx.verify_signature().unwrap();
        let exact = sign(&key, "c", 3, FeeRule::Exact(9), msg.clone()).unwrap();
        assert_eq!(exact.body.fee, 9);
        assert!(sign(&key, "c", 3, FeeRule::PerByte(u64::MAX), msg).is_err());
    }

    #[test]
    fn rejections_are_errors_with_the_nodes_code_and_log() {
        let ok = json!({"code": 0, "log": "", "hash": "AB"});
        assert!(check_result(BroadcastMode::Sync, &ok).is_ok());
        let bad = json!({"code": 5, "log": "nonce too low", "hash": "AB"});
        let e = check_result(BroadcastMode::Sync, &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("code 5") && e.contains("nonce too low"), "{e}");
        let failed = json!({
            "check_tx": {"code": 0, "log": ""},
            "tx_result": {"code": 12, "log": "insufficient funds"},
            "hash": "AB", "height": "9",
        });
        let e = check_result(BroadcastMode::Commit, &failed)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("height 9") && e.contains("code 12") && e.contains("insufficient funds"),
            "{e}"
        );
        let committed = json!({
            "check_tx": {"code": 0, "log": ""},
            "tx_result": {"code": 0, "log": ""},
            "hash": "AB", "height": "9",
        });
        assert!(check_result(BroadcastMode::Commit, &committed).is_ok());
    }
}
