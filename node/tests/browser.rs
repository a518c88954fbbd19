//! The explorer in a real browser: a live testnet commits a transfer, then
//! `tests/browser/explorer.mjs` drives Debian's chromium (playwright-core)
//! through the page as a user would and checks what it shows. Screenshots go
//! to `<target dir>/browser-test/`.
//!
//! Needs /usr/bin/chromium, node and `tests/browser/node_modules`; the test
//! fails (never skips) without them. `scripts/test.sh` installs them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{CAIRN, Testnet, account_address, post, transfer};

const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL: &str = "install them with `apt-get install -y chromium nodejs npm && npm ci --prefix tests/browser` \
     (node 20 or newer), or run scripts/test.sh, which does it";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Fails with what to install when the browser side is missing.
fn require_browser_tools(root: &Path) {
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push(CHROMIUM.to_owned());
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node".to_owned());
    }
    let pw = root.join("tests/browser/node_modules/playwright-core");
    if !pw.exists() {
        missing.push(pw.display().to_string());
    }
    assert!(
        missing.is_empty(),
        "the browser test needs {}: {INSTALL}",
        missing.join(", ")
    );
}

#[test]
fn serial_browser_explorer_shows_a_committed_transfer() {
    let root = repo_root();
    require_browser_tools(&root);
    // <target>/release/cairn -> <target>/browser-test
    let out = Path::new(CAIRN)
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("browser-test");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    eprintln!("browser test output: {}", out.display());

    let mut net = Testnet::generate(4, 0);
    net.start_all();
    net.wait_height(0, 2, 90);

    let sender = account_address(&net, "account1");
    let tx = transfer(&net, "account1", account_address(&net, "account2"), 4321, 0);
    let r = post(
        &net.nodes[0].rpc,
        "broadcast_tx_sync",
        serde_json::json!({"tx": cairn_types::json::base64_encode(&tx)}),
    )
    .unwrap();
    assert_eq!(r["result"]["code"], 0, "{r}");
    let hash = r["result"]["hash"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(r) = net.rpc(0, &format!("tx?hash=0x{hash}"))
            && r["result"]["tx_result"]["code"] == 0
        {
            break;
        }
        assert!(Instant::now() < deadline, "tx {hash} not committed in 60 s");
        std::thread::sleep(Duration::from_millis(250));
    }

    let log_path = out.join("explorer.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new("node")
        .arg(root.join("tests/browser/explorer.mjs"))
        .args([&net.nodes[0].rpc, &hash, &sender.to_hex()])
        .arg(&out)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // Bounded: the script's own steps time out well before this.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    eprintln!("{output}");
    let status = status.unwrap_or_else(|| panic!("explorer.mjs ran past 120 s; see {output}"));
    assert!(
        status.success(),
        "explorer.mjs failed ({status}); screenshots and log in {}",
        out.display()
    );
    for shot in ["home.png", "tx.png", "block.png", "account.png"] {
        let len = std::fs::metadata(out.join(shot)).map_or(0, |m| m.len());
        assert!(len > 1000, "{shot} missing or empty in {}", out.display());
    }
}
