//! Crash atomicity: a child process (this test binary, re-executed) commits
//! blocks in a loop and is SIGKILLed at seeded random moments, hundreds of
//! times. After each kill the store must open (open-time check), sit at a
//! block boundary, agree with an independent recomputation, and hold no
//! piece of a half-written block.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn_state::{Signatures, Store, StoreOptions};
use cairn_types::Block;
use cairn_types::tx::tx_hash;
use common::scenario::{Actors, random_block, rng};
use common::*;
use rand::{RngExt, SeedableRng};

const CHILD_ENV: &str = "CAIRN_STATE_CRASH_CHILD";
const TEST_NAME: &str = "serial_crash_atomicity_under_sigkill";
const KILLS: usize = 220;

fn net() -> cairn_genesis::testnet::Testnet {
    testnet(3, 3, 6, small_params())
}

/// The block every store builds at its next height: a function of the state only.
fn block_for(store: &Store, actors: &Actors) -> Block {
    let h = store.latest_height().unwrap() + 1;
    random_block(store, actors, &mut rng(1_000 + h), 60)
}

fn options() -> StoreOptions {
    StoreOptions {
        keep_recent: Some(4),
        ..StoreOptions::default()
    }
}

/// The child: commit blocks until killed.
fn child(dir: &Path) -> ! {
    let net = net();
    let actors = Actors::new(&net);
    let store = match Store::open(dir, &net.genesis, options()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("child open failed: {e}");
            std::process::exit(3);
        }
    };
    loop {
        let block = block_for(&store, &actors);
        if let Err(e) = store.apply_block(&block, &commit_for(&block), Signatures::Trusted) {
            eprintln!("child apply failed: {e}");
            std::process::exit(4);
        }
    }
}

#[test]
fn serial_crash_atomicity_under_sigkill() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
    }
    let started = Instant::now();
    let net = net();
    let actors = Actors::new(&net);
    let dir = tempfile::tempdir().unwrap();
    let ref_dir = tempfile::tempdir().unwrap();
    // Same options (the blocks a scenario builds read retained validator sets).
    let reference = Store::open(ref_dir.path(), &net.genesis, options()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut delays = rand::rngs::ChaCha8Rng::seed_from_u64(77);
    let (mut progressed, mut prev_h) = (0, 0);
    for kill in 0..KILLS {
        let mut c = Command::new(&exe)
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delays.random_range(10..200)));
        let killed = c.kill().is_ok(); // SIGKILL
        let status = c.wait().unwrap();
        let mut err = String::new();
        if let Some(mut s) = c.stderr.take() {
            s.read_to_string(&mut err).unwrap();
        }
        assert!(
            killed && status.signal() == Some(9),
            "kill {kill}: child ended on its own ({status:?}): {err}"
        );

        // Reopen: the open-time check must pass.
        let store = Store::open(dir.path(), &net.genesis, options())
            .unwrap_or_else(|e| panic!("kill {kill}: reopen refused: {e}"));
        let h = store.latest_height().unwrap();
        // Independent recomputation up to the same height.
        while reference.latest_height().unwrap() < h {
            let block = block_for(&reference, &actors);
            reference
                .apply_block(&block, &commit_for(&block), Signatures::Trusted)
                .unwrap();
        }
        assert_eq!(
            store.app_hash().unwrap(),
            reference.app_hash().unwrap(),
            "kill {kill} at height {h}"
        );
        progressed += usize::from(h > prev_h);
        prev_h = h;
        if h > 0 {
            // The whole of block h is present...
            let b = store.block(h).unwrap().expect("latest block");
            assert_eq!(
                b,
                reference.block(h).unwrap().unwrap(),
                "kill {kill}: block {h} differs"
            );
            assert!(
                store.commit_at(h).unwrap().is_some(),
                "kill {kill}: commit {h} missing"
            );
            assert_eq!(store.height_of(&b.id()).unwrap(), Some(h));
            assert_eq!(
                store.height_record(h).unwrap(),
                reference.height_record(h).unwrap()
            );
            assert_eq!(
                store.block_results(h).unwrap(),
                reference.block_results(h).unwrap()
            );
            assert_eq!(
                store.validators_at(h + 2).unwrap(),
                reference.validators_at(h + 2).unwrap()
            );
        }
        // ...and nothing of block h + 1.
        assert!(store.block(h + 1).unwrap().is_none());
        assert!(store.commit_at(h + 1).unwrap().is_none());
        assert!(store.height_record(h + 1).unwrap().is_none());
        assert!(store.validators_at(h + 3).unwrap().is_none());
        let next = block_for(&reference, &actors);
        for t in &next.txs {
            let hash = tx_hash(t);
            if reference.tx_location(&hash).unwrap().is_none() {
                assert!(
                    store.tx_location(&hash).unwrap().is_none(),
                    "kill {kill}: tx of block {} indexed",
                    h + 1
                );
            }
        }
        assert!(store.supply_audit().unwrap().holds());
        drop(store);
        assert!(
            started.elapsed() < Duration::from_secs(170),
            "crash test exceeds its time budget"
        );
    }
    let final_height = reference.latest_height().unwrap();
    eprintln!(
        "{KILLS} kills, {progressed} of them after the child committed blocks, final height {final_height}, {:?}",
        started.elapsed()
    );
    assert!(
        progressed >= KILLS / 2,
        "only {progressed} kills interrupted a child that was committing"
    );
}
