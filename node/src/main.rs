//! The `cairn` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_genesis::keys::{NodeKeyFile, ValidatorKeyFile};
use cairn_node::config::Config;
use cairn_node::home::{self, Home, TestnetOptions};
use clap::{Parser, Subcommand};

/// jemalloc instead of glibc malloc: under load the node renders and frees
/// multi-megabyte JSON on many threads, and glibc's per-thread arenas kept
/// several GiB of freed memory resident (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at its start: freed pages go back to the
/// system after 1 s instead of 10 s, from a background thread. Each block
/// under load renders and frees tens of MB of JSON; with the default decay a
/// node serving websocket subscribers peaked at 777 MiB at 5,000 tx/s
/// offered, with these options at 470 MiB (bench/RESULTS.md).
// SAFETY: jemalloc reads this symbol as a NUL-terminated C string before the
// first allocation; the bytes are immutable and end with NUL.
#[allow(unsafe_code)]
#[used]
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_CONF: &u8 = &b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0];

/// Cairn: a permissioned proof-of-stake blockchain node with Tendermint-style BFT consensus.
#[derive(Parser)]
#[command(name = "cairn", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a single-validator home (config, genesis, keys).
    Init {
        /// Home directory.
        #[arg(long, env = "CAIRN_HOME")]
        home: PathBuf,
        /// Node name.
        #[arg(long)]
        moniker: String,
        /// Chain id of the new genesis.
        #[arg(long)]
        chain_id: String,
        /// Replace an existing home (destroys its keys and data).
        #[arg(long)]
        overwrite: bool,
    },
    /// Manage account keys under <home>/keys.
    Keys {
        /// Home directory.
        #[arg(long, env = "CAIRN_HOME")]
        home: PathBuf,
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Generate a local test network: validator and full-node homes, accounts, nodes.json.
    Testnet {
        /// Number of validators.
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Output directory.
        #[arg(long)]
        output: PathBuf,
        /// Number of non-validator nodes.
        #[arg(long, default_value_t = 0)]
        full_nodes: usize,
        /// Chain id.
        #[arg(long, default_value = "cairn-testnet")]
        chain_id: String,
        /// Node i listens for peers on P+10i and serves RPC on P+10i+1.
        #[arg(long, default_value_t = 26656)]
        starting_port: u16,
        /// Number of funded test accounts (keys under DIR/accounts).
        #[arg(long, default_value_t = 10)]
        accounts: usize,
        /// Replace an existing output directory.
        #[arg(long)]
        overwrite: bool,
    },
    /// Print this node's id (40 lowercase hex).
    ShowNodeId {
        /// Home directory.
        #[arg(long, env = "CAIRN_HOME")]
        home: PathBuf,
    },
    /// Print this node's consensus public key and address.
    ShowValidator {
        /// Home directory.
        #[arg(long, env = "CAIRN_HOME")]
        home: PathBuf,
    },
    /// Run the node.
    Start {
        /// Home directory.
        #[arg(long, env = "CAIRN_HOME")]
        home: PathBuf,
        /// Override a config option, e.g. --set rpc.listen_address=127.0.0.1:26657 (repeatable).
        #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Delete blocks, state and the consensus WAL. Keeps the signing guard's
    /// state (what this validator signed) unless --reset-guard is given.
    UnsafeResetAll {
        /// Home directory.
        #[arg(long, env = "CAIRN_HOME")]
        home: PathBuf,
        /// Also forget what was signed. A validator that forgets can double-sign and be slashed.
        #[arg(long)]
        reset_guard: bool,
    },
    /// Sign and submit a transaction.
    Tx(cairn_node::client::tx::TxArgs),
    /// Measure this machine's signature ceiling, or offer load to running nodes.
    Bench(cairn_node::load::BenchArgs),
    /// Read the chain (JSON); --prove verifies state answers against a trusted validator set.
    Query(cairn_node::client::query::QueryArgs),
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a new account key.
    New {
        /// Key name.
        name: String,
    },
    /// Show a key's address and public key.
    Show {
        /// Key name.
        name: String,
    },
    /// List key names.
    List,
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init {
            home,
            moniker,
            chain_id,
            overwrite,
        } => {
            let h = Home::new(&home);
            home::init(&h, &moniker, &chain_id, overwrite)?;
            println!("initialised {} for chain {chain_id}", home.display());
        }
        Command::Keys { home, action } => {
            let h = Home::new(home);
            match action {
                KeysCommand::New { name } => {
                    let f = home::keys_new(&h, &name)?;
                    print_key(&name, &f);
                }
                KeysCommand::Show { name } => {
                    let (f, _) =
                        cairn_genesis::keys::AccountKeyFile::load(&home::key_path(&h, &name))?;
                    print_key(&name, &f);
                }
                KeysCommand::List => {
                    for name in home::keys_list(&h)? {
                        let (f, _) =
                            cairn_genesis::keys::AccountKeyFile::load(&home::key_path(&h, &name))?;
                        println!("{name}\t{}", f.address());
                    }
                }
            }
        }
        Command::Testnet {
            validators,
            output,
            full_nodes,
            chain_id,
            starting_port,
            accounts,
            overwrite,
        } => {
            let nodes = home::testnet(&TestnetOptions {
                output: output.clone(),
                validators,
                full_nodes,
                accounts,
                chain_id,
                starting_port,
                overwrite,
            })?;
            for n in &nodes.nodes {
                println!("{}\t{}\t{}", n.moniker, n.rpc_url, n.home);
            }
            println!("wrote {}", output.join("nodes.json").display());
        }
        Command::ShowNodeId { home } => {
            let key = NodeKeyFile::load(&Home::new(home).node_key_file())?;
            println!("{}", key.public_key().node_id());
        }
        Command::ShowValidator { home } => {
            let key = ValidatorKeyFile::load(&Home::new(home).validator_key_file())?;
            let json = serde_json::json!({
                "address": key.public_key().address(),
                "pub_key": key.public_key(),
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&json).context("encoding")?
            );
        }
        Command::Start { home, sets } => {
            let h = Home::new(home);
            let env: Vec<(String, String)> = std::env::vars().collect();
            let config = Config::load(&h.config_file(), &env, &sets)?;
            cairn_node::run::init_logging(&config);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(cairn_node::run::start(h, config))?;
        }
        Command::UnsafeResetAll { home, reset_guard } => {
            let removed = cairn_node::node::unsafe_reset_all(&Home::new(home), reset_guard)?;
            for r in &removed {
                println!("removed {r}");
            }
            if !reset_guard {
                println!(
                    "kept data/priv_validator_state.json: this validator still refuses to sign anything that conflicts with what it signed (use --reset-guard to forget)"
                );
            }
        }
        Command::Tx(args) => cairn_node::client::tx::run(args)?,
        Command::Bench(args) => cairn_node::load::run(args)?,
        Command::Query(args) => cairn_node::client::query::run(args)?,
        Command::Version => println!("cairn {}", env!("CARGO_PKG_VERSION")),
    }
    Ok(())
}

fn print_key(name: &str, f: &cairn_genesis::keys::AccountKeyFile) {
    println!(
        "name: {name}\naddress: {}\npub_key: {}",
        f.address(),
        serde_json::to_string(&f.public_key()).unwrap_or_default()
    );
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
