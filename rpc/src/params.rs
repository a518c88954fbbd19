//! Method parameters, from a JSON-RPC body (by name or by position) or from a
//! URI query string, read with CometBFT's conventions:
//!
//! | kind | JSON body | URI (`GET /method?name=value`) |
//! |---|---|---|
//! | integer | `5` or `"5"` | `5` or `"5"` |
//! | string | `"text"` | `"text"` or `text` |
//! | bytes (`tx`) | base64 string | `0x`-hex, `"raw text"`, or base64 |
//! | hex bytes (`data`) | hex string | `0x`-hex, `"raw text"`, or hex |
//! | hash | base64 (32 bytes) or 64 hex digits | `0x`-hex or 64 hex digits |
//! | bool | `true` or `"true"` | `true` |
//!
//! Unknown names are ignored, as CometBFT does. Every error names the
//! parameter and what was expected.

use std::collections::HashMap;

use cairn_types::Hash;
use cairn_types::json::base64_decode;
use serde_json::{Map, Value};

use crate::error::RpcError;

/// The parameters of one call.
#[derive(Debug, Clone)]
pub enum Params {
    /// `"params": {"height": "5"}` (or absent).
    Named(Map<String, Value>),
    /// `"params": ["5"]`.
    Positional(Vec<Value>),
    /// `GET /block?height=5`.
    Uri(HashMap<String, String>),
}

enum Raw<'a> {
    Json(&'a Value),
    Uri(&'a str),
}

fn unquote(s: &str) -> Option<&str> {
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"'))
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!("{}...", &s[..s.floor_char_boundary(77)])
    } else {
        s
    }
}

fn show_str(s: &str) -> String {
    if s.len() > 80 {
        format!("{:?}...", &s[..s.floor_char_boundary(77)])
    } else {
        format!("{s:?}")
    }
}

impl Params {
    /// Parameters from the `params` member of a request (absent or null: none).
    pub fn from_json(params: Option<Value>) -> Result<Params, RpcError> {
        match params {
            None | Some(Value::Null) => Ok(Params::Named(Map::new())),
            Some(Value::Object(m)) => Ok(Params::Named(m)),
            Some(Value::Array(a)) => Ok(Params::Positional(a)),
            Some(other) => Err(RpcError::InvalidRequest(format!(
                "params must be an object or an array, got {}",
                show(&other)
            ))),
        }
    }

    fn raw(&self, name: &str, pos: usize) -> Option<Raw<'_>> {
        match self {
            Params::Named(m) => m.get(name).filter(|v| !v.is_null()).map(Raw::Json),
            Params::Positional(a) => a.get(pos).filter(|v| !v.is_null()).map(Raw::Json),
            Params::Uri(q) => q
                .get(name)
                .map(String::as_str)
                .filter(|s| !s.is_empty())
                .map(Raw::Uri),
        }
    }

    /// An optional signed integer.
    pub fn i64(&self, name: &str, pos: usize) -> Result<Option<i64>, RpcError> {
        let bad =
            |got: String| RpcError::params(format!("{name}: expected a 64-bit integer, got {got}"));
        let text = match self.raw(name, pos) {
            None => return Ok(None),
            Some(Raw::Json(Value::Number(n))) => {
                return n.as_i64().map(Some).ok_or_else(|| bad(n.to_string()));
            }
            Some(Raw::Json(Value::String(s))) => s.as_str(),
            Some(Raw::Json(v)) => return Err(bad(show(v))),
            Some(Raw::Uri(s)) => unquote(s).unwrap_or(s),
        };
        text.trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| bad(show_str(text)))
    }

    /// An optional unsigned integer that fits in `max`.
    pub fn u64_max(&self, name: &str, pos: usize, max: u64) -> Result<Option<u64>, RpcError> {
        match self.i64(name, pos)? {
            None => Ok(None),
            Some(v) if v < 0 => Err(RpcError::params(format!(
                "{name}: must not be negative, got {v}"
            ))),
            Some(v) if v as u64 > max => Err(RpcError::params(format!(
                "{name}: must be at most {max}, got {v}"
            ))),
            Some(v) => Ok(Some(v as u64)),
        }
    }

    /// An optional boolean.
    pub fn bool(&self, name: &str, pos: usize) -> Result<Option<bool>, RpcError> {
        let bad =
            |got: String| RpcError::params(format!("{name}: expected true or false, got {got}"));
        let text = match self.raw(name, pos) {
            None => return Ok(None),
            Some(Raw::Json(Value::Bool(b))) => return Ok(Some(*b)),
            Some(Raw::Json(Value::String(s))) => s.as_str(),
            Some(Raw::Json(v)) => return Err(bad(show(v))),
            Some(Raw::Uri(s)) => unquote(s).unwrap_or(s),
        };
        match text {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(bad(show_str(text))),
        }
    }

    /// An optional string.
    pub fn string(&self, name: &str, pos: usize) -> Result<Option<String>, RpcError> {
        match self.raw(name, pos) {
            None => Ok(None),
            Some(Raw::Json(Value::String(s))) => Ok(Some(s.clone())),
            Some(Raw::Json(v)) => Err(RpcError::params(format!(
                "{name}: expected a string, got {}",
                show(v)
            ))),
            Some(Raw::Uri(s)) => Ok(Some(unquote(s).unwrap_or(s).to_owned())),
        }
    }

    /// Required bytes given as base64 in JSON (CometBFT's `[]byte`), e.g. `tx`.
    pub fn base64_bytes(&self, name: &str, pos: usize) -> Result<Vec<u8>, RpcError> {
        match self.raw(name, pos) {
            None => Err(RpcError::params(format!("{name}: missing"))),
            Some(Raw::Json(Value::String(s))) => base64_decode(s).map_err(|e| {
                RpcError::params(format!("{name}: not valid base64 ({e}): {}", show_str(s)))
            }),
            Some(Raw::Json(v)) => Err(RpcError::params(format!(
                "{name}: expected a base64 string, got {}",
                show(v)
            ))),
            Some(Raw::Uri(s)) => uri_bytes(name, s, |b| base64_decode(b).ok()),
        }
    }

    /// Optional bytes given as hex in JSON (CometBFT's `HexBytes`), e.g. `data`.
    pub fn hex_bytes(&self, name: &str, pos: usize) -> Result<Vec<u8>, RpcError> {
        match self.raw(name, pos) {
            None => Ok(Vec::new()),
            Some(Raw::Json(Value::String(s))) => {
                let h = s.strip_prefix("0x").unwrap_or(s);
                hex::decode(h).map_err(|_| {
                    RpcError::params(format!("{name}: expected hex digits, got {}", show_str(s)))
                })
            }
            Some(Raw::Json(v)) => Err(RpcError::params(format!(
                "{name}: expected a hex string, got {}",
                show(v)
            ))),
            Some(Raw::Uri(s)) => uri_bytes(name, s, |b| hex::decode(b).ok()),
        }
    }

    /// A required 32-byte hash: base64 or 64 hex digits (with or without `0x`).
    pub fn hash(&self, name: &str, pos: usize) -> Result<Hash, RpcError> {
        let text = match self.raw(name, pos) {
            None => return Err(RpcError::params(format!("{name}: missing"))),
            Some(Raw::Json(Value::String(s))) => s.as_str(),
            Some(Raw::Json(v)) => {
                return Err(RpcError::params(format!(
                    "{name}: expected a hash string, got {}",
                    show(v)
                )));
            }
            Some(Raw::Uri(s)) => unquote(s).unwrap_or(s),
        };
        parse_hash(text).ok_or_else(|| {
            RpcError::params(format!(
                "{name}: expected a 32-byte hash as 64 hex digits or base64, got {}",
                show_str(text)
            ))
        })
    }
}

/// Parses a hash from 64 hex digits (optionally `0x`-prefixed) or base64 of 32 bytes.
pub fn parse_hash(text: &str) -> Option<Hash> {
    let h = text.strip_prefix("0x").unwrap_or(text);
    if h.len() == 64
        && let Ok(hash) = Hash::from_hex(h)
    {
        return Some(hash);
    }
    let bytes = base64_decode(text).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok().map(Hash)
}

fn uri_bytes(
    name: &str,
    s: &str,
    bare: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, RpcError> {
    if let Some(h) = s.strip_prefix("0x") {
        return hex::decode(h)
            .map_err(|_| RpcError::params(format!("{name}: bad hex after 0x: {}", show_str(s))));
    }
    if let Some(text) = unquote(s) {
        return Ok(text.as_bytes().to_vec());
    }
    bare(s).ok_or_else(|| {
        RpcError::params(format!(
            "{name}: expected 0x-prefixed hex, a \"quoted string\" or the documented encoding, got {}",
            show_str(s)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn uri(pairs: &[(&str, &str)]) -> Params {
        Params::Uri(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn integers_from_every_form() {
        let p = Params::from_json(Some(json!({"height": "5", "page": 2}))).unwrap();
        assert_eq!(p.i64("height", 0).unwrap(), Some(5));
        assert_eq!(p.i64("page", 1).unwrap(), Some(2));
        assert_eq!(p.i64("missing", 9).unwrap(), None);
        let p = Params::from_json(Some(json!(["7"]))).unwrap();
        assert_eq!(p.i64("height", 0).unwrap(), Some(7));
        assert_eq!(
            uri(&[("height", "\"8\"")]).i64("height", 0).unwrap(),
            Some(8)
        );
        let e = Params::from_json(Some(json!({"height": [1]})))
            .unwrap()
            .i64("height", 0)
            .unwrap_err();
        assert_eq!(e.code(), -32602);
        assert!(
            e.to_string()
                .contains("height: expected a 64-bit integer, got [1]")
        );
        let e = uri(&[("height", "99999999999999999999")])
            .i64("height", 0)
            .unwrap_err();
        assert!(e.to_string().contains("64-bit"), "{e}");
        let e = uri(&[("page", "-1")]).u64_max("page", 0, 10).unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
    }

    #[test]
    fn bytes_and_hashes() {
        let p = Params::from_json(Some(json!({"tx": "AQID", "data": "0a0b"}))).unwrap();
        assert_eq!(p.base64_bytes("tx", 0).unwrap(), vec![1, 2, 3]);
        assert_eq!(p.hex_bytes("data", 0).unwrap(), vec![10, 11]);
        let e = Params::from_json(Some(json!({"tx": "!!"})))
            .unwrap()
            .base64_bytes("tx", 0)
            .unwrap_err();
        assert!(e.to_string().contains("not valid base64"), "{e}");
        assert_eq!(
            uri(&[("tx", "0x0102")]).base64_bytes("tx", 0).unwrap(),
            vec![1, 2]
        );
        assert_eq!(
            uri(&[("tx", "\"ab\"")]).base64_bytes("tx", 0).unwrap(),
            b"ab".to_vec()
        );
        let h = Hash::digest(b"x");
        let b64 = cairn_types::json::base64_encode(&h.0);
        for form in [
            h.to_hex(),
            format!("0x{}", h.to_hex()),
            b64,
            h.to_hex().to_lowercase(),
        ] {
            let p = Params::from_json(Some(json!({ "hash": form }))).unwrap();
            assert_eq!(p.hash("hash", 0).unwrap(), h);
        }
        assert!(uri(&[("hash", "0xZZ")]).hash("hash", 0).is_err());
    }
}
