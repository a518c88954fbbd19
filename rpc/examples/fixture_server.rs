//! Serves the test fixture chain (6 blocks, txs, evidence) so the explorer
//! page and clients can be tried by hand, with a new block every 2 s:
//! `cargo run --release -p cairn-rpc --example fixture_server -- 127.0.0.1:26657 60`
//! (address, then how many seconds to run).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:26657".into());
    let secs: u64 = args.next().map_or(60, |s| s.parse().unwrap());
    let s = common::start_with(cairn_rpc::RpcConfig {
        listen_address: addr.parse().unwrap(),
        ..common::test_config()
    })
    .await;
    println!("serving the fixture chain on {} for {secs} s", s.url());
    for nonce in 2..2 + secs / 2 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let tx = common::transfer(0, 1, nonce, 1).to_bytes();
        s.backend.chain.lock().unwrap().mempool.push(tx);
        s.backend.commit_mempool();
    }
    s.running.stop().await;
}
