//! The `cairn` command line: testnet generation contract, init refusing to
//! overwrite, key commands.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use cairn_genesis::GenesisDoc;
use cairn_node::config::Config;

fn cairn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .env_remove("CAIRN_HOME")
        .output()
        .expect("run cairn")
}

fn ok(args: &[&str]) -> String {
    let out = cairn(args);
    assert!(
        out.status.success(),
        "cairn {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// sha256 of every file below `dir`, sorted by path.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn testnet_writes_four_loadable_homes_one_genesis_and_nodes_json() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("net");
    ok(&[
        "testnet",
        "--validators",
        "4",
        "--full-nodes",
        "1",
        "--accounts",
        "3",
        "--output",
        out.to_str().unwrap(),
        "--starting-port",
        "30000",
    ]);

    let nodes: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("nodes.json")).unwrap()).unwrap();
    assert_eq!(nodes["chain_id"], "cairn-testnet");
    let list = nodes["nodes"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    let mut genesis_texts = Vec::new();
    for (i, n) in list.iter().enumerate() {
        let home = Path::new(n["home"].as_str().unwrap());
        assert!(home.is_absolute());
        let node_id = n["node_id"].as_str().unwrap();
        assert_eq!(node_id.len(), 40);
        assert!(
            node_id
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        assert_eq!(
            n["rpc_url"],
            format!("http://127.0.0.1:{}", 30000 + 10 * i + 1)
        );
        assert_eq!(
            n["p2p_address"],
            format!("{node_id}@127.0.0.1:{}", 30000 + 10 * i)
        );
        // show-node-id agrees with nodes.json.
        assert_eq!(
            ok(&["show-node-id", "--home", home.to_str().unwrap()]).trim(),
            node_id
        );
        let text = std::fs::read_to_string(home.join("config/genesis.json")).unwrap();
        GenesisDoc::from_json(&text).unwrap();
        genesis_texts.push(text);
        let config = Config::load(&home.join("config/config.toml"), &[], &[]).unwrap();
        assert_eq!(
            config.rpc.listen_address,
            format!("127.0.0.1:{}", 30000 + 10 * i + 1)
        );
        assert_eq!(
            config.p2p.persistent_peers.len(),
            4,
            "every other node is a persistent peer"
        );
        for key in ["config/priv_validator_key.json", "config/node_key.json"] {
            let mode = std::fs::metadata(home.join(key))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{key}");
        }
        if i < 4 {
            let addr = n["validator_address"].as_str().unwrap();
            assert_eq!(addr, addr.to_uppercase());
            let shown: serde_json::Value =
                serde_json::from_str(&ok(&["show-validator", "--home", home.to_str().unwrap()]))
                    .unwrap();
            assert_eq!(shown["address"], addr);
        } else {
            assert!(n["validator_address"].is_null());
        }
    }
    genesis_texts.dedup();
    assert_eq!(genesis_texts.len(), 1, "one genesis shared by all homes");
    let genesis = GenesisDoc::from_json(&genesis_texts[0]).unwrap();
    assert_eq!(genesis.validators.len(), 4);
    for i in 0..3 {
        assert!(out.join(format!("accounts/account{i}.json")).exists());
    }
    assert!(out.join("accounts/admin.json").exists());

    // A second run refuses the existing output and leaves it untouched.
    let before = snapshot(&out);
    let again = cairn(&["testnet", "--output", out.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(snapshot(&out), before);
}

#[test]
fn init_refuses_an_existing_home_and_leaves_it_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let h = home.to_str().unwrap();
    ok(&[
        "init",
        "--home",
        h,
        "--moniker",
        "n0",
        "--chain-id",
        "solo-1",
    ]);
    let genesis =
        GenesisDoc::from_json(&std::fs::read_to_string(home.join("config/genesis.json")).unwrap())
            .unwrap();
    assert_eq!(genesis.chain_id, "solo-1");
    assert_eq!(genesis.validators.len(), 1);
    assert!(home.join("data/priv_validator_state.json").exists());

    let before = snapshot(&home);
    let out = cairn(&[
        "init",
        "--home",
        h,
        "--moniker",
        "again",
        "--chain-id",
        "again",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(snapshot(&home), before);

    // Asked explicitly, it replaces the home.
    ok(&[
        "init",
        "--home",
        h,
        "--moniker",
        "again",
        "--chain-id",
        "again-1",
        "--overwrite",
    ]);
    assert_ne!(snapshot(&home), before);
}

#[test]
fn init_rejects_a_bad_chain_id_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cairn(&[
        "init",
        "--home",
        tmp.path().join("h").to_str().unwrap(),
        "--moniker",
        "x",
        "--chain-id",
        "bad chain",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chain_id"));
}

#[test]
fn keys_new_show_list() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path().to_str().unwrap();
    let created = ok(&["keys", "--home", h, "new", "alice"]);
    ok(&["keys", "--home", h, "new", "bob"]);
    assert!(
        !cairn(&["keys", "--home", h, "new", "alice"])
            .status
            .success(),
        "no overwrite"
    );
    let shown = ok(&["keys", "--home", h, "show", "alice"]);
    assert_eq!(created, shown);
    let list = ok(&["keys", "--home", h, "list"]);
    let names: Vec<&str> = list
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(names, vec!["alice", "bob"]);
}
