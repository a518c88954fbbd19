//! Key files in CometBFT's JSON shapes: `priv_validator_key.json`,
//! `node_key.json`, and Cairn's account key files. Written with mode 0600,
//! through a temporary file and a rename, so a crash never leaves half a key.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cairn_types::crypto::{Address, KeyError, NodeId, PublicKey, SigningKey};
use cairn_types::json::{base64_decode, base64_encode};
use serde::{Deserialize, Serialize};

/// The `type` tag CometBFT gives ed25519 private keys.
pub const PRIV_KEY_TYPE: &str = "tendermint/PrivKeyEd25519";

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The JSON is malformed or of another shape.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key is unusable (small order): refused wherever keys enter the chain.
    #[error("{path}: {source}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        source: KeyError,
    },
    /// The file is readable by others.
    #[error("{path}: mode {mode:o} lets other users read a secret key; run chmod 600")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypedSecret {
    #[serde(rename = "type")]
    kind: String,
    /// base64 of seed ‖ public key (64 bytes), as CometBFT stores it.
    value: String,
}

impl TypedSecret {
    fn of(key: &SigningKey) -> TypedSecret {
        let mut bytes = key.seed().to_vec();
        bytes.extend_from_slice(&key.public_key().0);
        TypedSecret {
            kind: PRIV_KEY_TYPE.to_owned(),
            value: base64_encode(&bytes),
        }
    }

    fn key(&self, path: &Path) -> Result<SigningKey, KeyFileError> {
        let format = |reason: String| KeyFileError::Format {
            path: path.to_owned(),
            reason,
        };
        if self.kind != PRIV_KEY_TYPE {
            return Err(format(format!(
                "unsupported key type {:?} (expected {PRIV_KEY_TYPE:?})",
                self.kind
            )));
        }
        let bytes = base64_decode(&self.value).map_err(|e| format(e.to_string()))?;
        if bytes.len() != 64 {
            return Err(format(
                "private key must be 64 bytes (seed and public key)".into(),
            ));
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&bytes[..32]);
        let key = SigningKey::from_seed(seed);
        if key.public_key().0[..] != bytes[32..] {
            return Err(format("public half does not match the seed".into()));
        }
        key.public_key()
            .check_usable()
            .map_err(|source| KeyFileError::BadKey {
                path: path.to_owned(),
                source,
            })?;
        Ok(key)
    }
}

/// `config/priv_validator_key.json`: the consensus key.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorKeyFile {
    address: Address,
    pub_key: PublicKey,
    priv_key: TypedSecret,
}

/// `config/node_key.json`: the key that identifies the node on the network.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeKeyFile {
    priv_key: TypedSecret,
}

/// An account key file, as `cairn keys new` and `cairn testnet` write them.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountKeyFile {
    /// The key's local name.
    pub name: String,
    address: Address,
    pub_key: PublicKey,
    priv_key: TypedSecret,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `contents` to `path` with mode 0600, atomically (temp file, fsync, rename).
pub fn write_secret(path: &Path, contents: &str) -> Result<(), KeyFileError> {
    let tmp = path.with_extension("json.tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(contents.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

fn read_secret<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, KeyFileError> {
    let meta = fs::metadata(path).map_err(io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    let text = fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| KeyFileError::Format {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Plain data always serialises.
    serde_json::to_string_pretty(value).unwrap_or_default()
}

impl ValidatorKeyFile {
    /// The file for `key`.
    pub fn new(key: &SigningKey) -> ValidatorKeyFile {
        ValidatorKeyFile {
            address: key.public_key().address(),
            pub_key: key.public_key(),
            priv_key: TypedSecret::of(key),
        }
    }

    /// Writes the file (mode 0600).
    pub fn write(&self, path: &Path) -> Result<(), KeyFileError> {
        write_secret(path, &to_json(self))
    }

    /// Loads the key, checking the file's mode, shape and consistency.
    pub fn load(path: &Path) -> Result<SigningKey, KeyFileError> {
        let file: ValidatorKeyFile = read_secret(path)?;
        let key = file.priv_key.key(path)?;
        if key.public_key() != file.pub_key || key.public_key().address() != file.address {
            return Err(KeyFileError::Format {
                path: path.to_owned(),
                reason: "address or pub_key does not match priv_key".into(),
            });
        }
        Ok(key)
    }
}

impl NodeKeyFile {
    /// The file for `key`.
    pub fn new(key: &SigningKey) -> NodeKeyFile {
        NodeKeyFile {
            priv_key: TypedSecret::of(key),
        }
    }

    /// Writes the file (mode 0600).
    pub fn write(&self, path: &Path) -> Result<(), KeyFileError> {
        write_secret(path, &to_json(self))
    }

    /// Loads the node key.
    pub fn load(path: &Path) -> Result<SigningKey, KeyFileError> {
        let file: NodeKeyFile = read_secret(path)?;
        file.priv_key.key(path)
    }

    /// The node id of a node key.
    pub fn node_id(key: &SigningKey) -> NodeId {
        key.public_key().node_id()
    }
}

impl AccountKeyFile {
    /// The file for `key` named `name`.
    pub fn new(name: &str, key: &SigningKey) -> AccountKeyFile {
        AccountKeyFile {
            name: name.to_owned(),
            address: key.public_key().address(),
            pub_key: key.public_key(),
            priv_key: TypedSecret::of(key),
        }
    }

    /// The account's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The account's public key.
    pub fn public_key(&self) -> PublicKey {
        self.pub_key
    }

    /// Writes the file (mode 0600).
    pub fn write(&self, path: &Path) -> Result<(), KeyFileError> {
        write_secret(path, &to_json(self))
    }

    /// Loads the file and its key.
    pub fn load(path: &Path) -> Result<(AccountKeyFile, SigningKey), KeyFileError> {
        let file: AccountKeyFile = read_secret(path)?;
        let key = file.priv_key.key(path)?;
        if key.public_key() != file.pub_key || key.public_key().address() != file.address {
            return Err(KeyFileError::Format {
                path: path.to_owned(),
                reason: "address or pub_key does not match priv_key".into(),
            });
        }
        Ok((file, key))
    }
}
