//! CometBFT's event query language (the subset clients use), for `tx_search`
//! and websocket `subscribe`.
//!
//! A query is conditions joined by `AND`: `key op operand`, where `op` is one
//! of `=`, `<`, `<=`, `>`, `>=`, `CONTAINS`, or `key EXISTS`. Operands are
//! `'quoted strings'` or numbers. Keys are event tags:
//! - `tm.event`: `NewBlock` or `Tx` (subscriptions);
//! - `tx.hash` (uppercase hex) and `tx.height`: every committed tx;
//! - `<event type>.<attribute key>` for each event a tx emitted. The state
//!   emits a `tx` event (`sender`, `nonce`, `fee`, `action`) for every tx and
//!   a `transfer` event (`sender`, `recipient`, `amount`) for transfers, so
//!   `tx_search` finds an account's txs with `tx.sender='ADDR'` or
//!   `transfer.recipient='ADDR'`.
//!
//! A query is at most [`MAX_QUERY_LEN`] bytes and [`MAX_CONDITIONS`]
//! conditions, so matching one event costs a bounded amount of work.

use std::collections::BTreeMap;

use crate::backend::TxRecord;

/// Longest accepted query, in bytes.
pub const MAX_QUERY_LEN: usize = 512;
/// Most conditions in one query.
pub const MAX_CONDITIONS: usize = 16;

/// Why a query string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Longer than [`MAX_QUERY_LEN`].
    #[error("query is {len} bytes long, the limit is {MAX_QUERY_LEN}")]
    TooLong {
        /// Length given.
        len: usize,
    },
    /// More than [`MAX_CONDITIONS`] conditions.
    #[error("query has more than {MAX_CONDITIONS} conditions")]
    TooManyConditions,
    /// Empty query.
    #[error("query is empty")]
    Empty,
    /// Not in the grammar.
    #[error("query syntax error at byte {at}: {what}")]
    Syntax {
        /// Byte offset.
        at: usize,
        /// What was expected.
        what: String,
    },
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `CONTAINS` (substring)
    Contains,
    /// `EXISTS` (no operand)
    Exists,
}

/// Right-hand side of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A quoted string.
    Str(String),
    /// A number (integers and decimals).
    Num(f64),
    /// No operand (`EXISTS`).
    None,
}

/// One `key op operand` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Tag, e.g. `tx.height`.
    pub key: String,
    /// Operator.
    pub op: Op,
    /// Operand.
    pub operand: Operand,
}

/// A parsed query: all conditions must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct TxQuery {
    /// The conditions.
    pub conditions: Vec<Condition>,
    source: String,
}

impl std::fmt::Display for TxQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

/// Tags of an event: key to all values (a tx may emit a key several times).
pub type Tags = BTreeMap<String, Vec<String>>;

impl TxQuery {
    /// Parses a query string.
    pub fn parse(s: &str) -> Result<TxQuery, QueryError> {
        if s.len() > MAX_QUERY_LEN {
            return Err(QueryError::TooLong { len: s.len() });
        }
        let mut p = Parser { s, pos: 0 };
        let mut conditions = Vec::new();
        p.skip_ws();
        if p.at_end() {
            return Err(QueryError::Empty);
        }
        loop {
            conditions.push(p.condition()?);
            if conditions.len() > MAX_CONDITIONS {
                return Err(QueryError::TooManyConditions);
            }
            p.skip_ws();
            if p.at_end() {
                break;
            }
            p.keyword("AND")?;
        }
        Ok(TxQuery {
            conditions,
            source: s.to_owned(),
        })
    }

    /// The query text as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The operand of the first `key = 'value'` (or `key = number`) condition,
    /// as text: what an index looks candidates up by.
    pub fn exact(&self, key: &str) -> Option<String> {
        self.conditions
            .iter()
            .find(|c| c.key == key && c.op == Op::Eq)
            .map(|c| match &c.operand {
                Operand::Str(s) => s.clone(),
                Operand::Num(n) => format_num(*n),
                Operand::None => String::new(),
            })
    }

    /// Whether every condition holds for `tags`.
    pub fn matches(&self, tags: &Tags) -> bool {
        self.conditions.iter().all(|c| c.holds(tags))
    }

    /// Whether a committed tx matches (its `tx.*` tags and event attributes).
    pub fn matches_record(&self, record: &TxRecord) -> bool {
        self.matches(&tx_tags(record))
    }
}

/// The tags of a committed tx: `tm.event` (`Tx`), `tx.hash`, `tx.height` and
/// `type.key` per event attribute.
pub fn tx_tags(record: &TxRecord) -> Tags {
    let mut tags = Tags::new();
    tags.insert("tm.event".into(), vec!["Tx".into()]);
    tags.insert("tx.hash".into(), vec![record.hash.to_hex()]);
    tags.insert("tx.height".into(), vec![record.height.to_string()]);
    for ev in &record.result.events {
        for (k, v) in &ev.attributes {
            tags.entry(format!("{}.{}", ev.kind, k))
                .or_default()
                .push(v.clone());
        }
    }
    tags
}

fn format_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

impl Condition {
    fn holds(&self, tags: &Tags) -> bool {
        let Some(values) = tags.get(&self.key) else {
            return false;
        };
        values.iter().any(|v| self.holds_for(v))
    }

    fn holds_for(&self, value: &str) -> bool {
        match (&self.op, &self.operand) {
            (Op::Exists, _) => true,
            (Op::Eq, Operand::Str(s)) => value == s,
            (Op::Contains, Operand::Str(s)) => value.contains(s.as_str()),
            (op, Operand::Num(n)) => {
                let Ok(v) = value.parse::<f64>() else {
                    return false;
                };
                match op {
                    Op::Eq => v == *n,
                    Op::Lt => v < *n,
                    Op::Le => v <= *n,
                    Op::Gt => v > *n,
                    Op::Ge => v >= *n,
                    Op::Contains | Op::Exists => false,
                }
            }
            _ => false,
        }
    }
}

/// Whether `s` starts with the ASCII word `kw`, in any case. Never slices
/// `s` inside a multi-byte character (a byte-length slice would panic there).
fn starts_with_ignore_case(s: &str, kw: &str) -> bool {
    s.get(..kw.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(kw))
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.s.len() - trimmed.len();
    }

    fn err(&self, what: &str) -> QueryError {
        QueryError::Syntax {
            at: self.pos,
            what: what.to_owned(),
        }
    }

    fn keyword(&mut self, kw: &str) -> Result<(), QueryError> {
        let rest = self.rest();
        if starts_with_ignore_case(rest, kw)
            && rest[kw.len()..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '\'')
        {
            self.pos += kw.len();
            Ok(())
        } else {
            Err(self.err(&format!("expected {kw}")))
        }
    }

    fn condition(&mut self) -> Result<Condition, QueryError> {
        self.skip_ws();
        let key_len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
            .unwrap_or(self.rest().len());
        if key_len == 0 {
            return Err(self.err("expected a tag key such as tx.height"));
        }
        let key = self.rest()[..key_len].to_owned();
        self.pos += key_len;
        self.skip_ws();
        let rest = self.rest();
        let (op, len) = if rest.starts_with("<=") {
            (Op::Le, 2)
        } else if rest.starts_with(">=") {
            (Op::Ge, 2)
        } else if rest.starts_with('=') {
            (Op::Eq, 1)
        } else if rest.starts_with('<') {
            (Op::Lt, 1)
        } else if rest.starts_with('>') {
            (Op::Gt, 1)
        } else if starts_with_ignore_case(rest, "CONTAINS") {
            (Op::Contains, 8)
        } else if starts_with_ignore_case(rest, "EXISTS") {
            (Op::Exists, 6)
        } else {
            return Err(self.err("expected =, <, <=, >, >=, CONTAINS or EXISTS"));
        };
        self.pos += len;
        if op == Op::Exists {
            return Ok(Condition {
                key,
                op,
                operand: Operand::None,
            });
        }
        self.skip_ws();
        let operand = self.operand()?;
        match (&op, &operand) {
            (Op::Lt | Op::Le | Op::Gt | Op::Ge, Operand::Str(_)) => {
                return Err(self.err("<, <=, > and >= need a number"));
            }
            (Op::Contains, Operand::Num(_)) => {
                return Err(self.err("CONTAINS needs a quoted string"));
            }
            _ => {}
        }
        Ok(Condition { key, op, operand })
    }

    fn operand(&mut self) -> Result<Operand, QueryError> {
        let rest = self.rest();
        if let Some(body) = rest.strip_prefix('\'') {
            let Some(end) = body.find('\'') else {
                return Err(self.err("unterminated string"));
            };
            let value = body[..end].to_owned();
            self.pos += end + 2;
            return Ok(Operand::Str(value));
        }
        let len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .unwrap_or(rest.len());
        let num = &rest[..len];
        match num.parse::<f64>() {
            Ok(n) if len > 0 && n.is_finite() => {
                self.pos += len;
                Ok(Operand::Num(n))
            }
            _ => Err(self.err("expected a 'quoted string' or a number")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        let mut t = Tags::new();
        for (k, v) in pairs {
            t.entry((*k).to_owned()).or_default().push((*v).to_owned());
        }
        t
    }

    #[test]
    fn event_and_hash_queries() {
        let q = TxQuery::parse("tm.event='Tx' AND tx.hash='AB'").unwrap();
        assert!(q.matches(&tags(&[("tm.event", "Tx"), ("tx.hash", "AB")])));
        assert!(!q.matches(&tags(&[("tm.event", "Tx"), ("tx.hash", "CD")])));
        assert!(!q.matches(&tags(&[("tm.event", "NewBlock")])));
        assert_eq!(q.exact("tx.hash").as_deref(), Some("AB"));
    }

    #[test]
    fn numeric_ranges() {
        let q = TxQuery::parse("tx.height >= 5 AND tx.height<7").unwrap();
        assert!(q.matches(&tags(&[("tx.height", "5")])));
        assert!(q.matches(&tags(&[("tx.height", "6")])));
        assert!(!q.matches(&tags(&[("tx.height", "7")])));
        assert!(!q.matches(&tags(&[("tx.height", "x")])));
        assert_eq!(
            TxQuery::parse("tx.height=5").unwrap().exact("tx.height"),
            Some("5".into())
        );
    }

    #[test]
    fn contains_exists_and_any_value() {
        let q = TxQuery::parse("transfer.recipient CONTAINS 'BE' AND tx.sender EXISTS").unwrap();
        let t = tags(&[
            ("transfer.recipient", "AA"),
            ("transfer.recipient", "ABEF"),
            ("tx.sender", "X"),
        ]);
        assert!(q.matches(&t));
        assert!(!q.matches(&tags(&[("transfer.recipient", "ABEF")])));
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        for (q, needle) in [
            ("", "empty"),
            ("tx.height", "expected ="),
            ("tx.hash='abc", "unterminated"),
            ("tx.height > 'a'", "need a number"),
            ("a=1 OR b=2", "expected AND"),
            ("=1", "tag key"),
            ("a = b", "quoted string"),
        ] {
            let e = TxQuery::parse(q).unwrap_err().to_string();
            assert!(e.contains(needle), "{q:?}: {e}");
        }
        let long = format!("a='{}'", "x".repeat(MAX_QUERY_LEN));
        assert!(matches!(
            TxQuery::parse(&long),
            Err(QueryError::TooLong { .. })
        ));
        let many = vec!["a=1"; MAX_CONDITIONS + 1].join(" AND ");
        assert_eq!(TxQuery::parse(&many), Err(QueryError::TooManyConditions));
    }

    #[test]
    fn multibyte_text_where_a_keyword_may_start_is_a_syntax_error() {
        // Found by the jsonrpc fuzz target (fuzz/regressions/jsonrpc/): these
        // used to slice inside a character and panic.
        for q in [
            "a ?\u{e9}\u{e9}\u{e9}\u{e9}",
            "a ?\u{e9}\u{e9}\u{e9}",
            "a=1 AN\u{e9}",
        ] {
            assert!(
                matches!(TxQuery::parse(q), Err(QueryError::Syntax { .. })),
                "{q:?}"
            );
        }
    }
}
