//! The one canonical binary encoding (borsh) for everything hashed, signed,
//! stored or gossiped.
//!
//! Borsh is already strict (bool is 0 or 1, enum tags and option tags are
//! checked, maps must arrive in order with `de_strict_order`), and
//! [`decode`] adds three rules on top:
//! - the input must not exceed the caller's byte limit;
//! - the whole input is consumed (trailing bytes are an error);
//! - the value must re-encode to exactly the input, so `decode(b)` succeeds
//!   only when `encode(decode(b)) == b`.
//!
//! Variable-length byte and text fields use [`Bytes`] and [`Text`], which
//! read their payload in small chunks: a forged length prefix cannot make
//! the decoder allocate more than about twice the bytes actually present
//! (borsh's own `Vec<u8>` pre-allocates up to 1 MiB from the prefix alone).

use borsh::io::{Error as IoError, ErrorKind, Read, Write};
use borsh::{BorshDeserialize, BorshSerialize};

/// Why bytes were refused by [`decode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input is longer than the limit for this kind of message.
    #[error("input of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit that applied.
        limit: usize,
    },
    /// The bytes are not a valid encoding (bad tag, short input, trailing bytes, bad UTF-8...).
    #[error("malformed encoding: {0}")]
    Malformed(String),
    /// The bytes decode, but are not the canonical encoding of the value.
    #[error("non-canonical encoding")]
    NonCanonical,
}

/// Encodes a value canonically.
pub fn encode<T: BorshSerialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and no type of ours has a fallible serializer.
    if value.serialize(&mut out).is_err() {
        out.clear();
    }
    out
}

/// Decodes a value, enforcing the byte limit, full consumption and canonical form.
pub fn decode<T: BorshDeserialize + BorshSerialize>(
    bytes: &[u8],
    limit: usize,
) -> Result<T, CodecError> {
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    let value: T = borsh::from_slice(bytes).map_err(|e| CodecError::Malformed(e.to_string()))?;
    if encode(&value) != bytes {
        return Err(CodecError::NonCanonical);
    }
    Ok(value)
}

const CHUNK: usize = 4096;

fn read_chunked<R: Read>(reader: &mut R) -> Result<Vec<u8>, IoError> {
    let len = u32::deserialize_reader(reader)? as usize;
    let mut out = Vec::with_capacity(len.min(CHUNK));
    let mut buf = [0u8; CHUNK];
    while out.len() < len {
        let n = (len - out.len()).min(CHUNK);
        reader.read_exact(&mut buf[..n])?;
        out.extend_from_slice(&buf[..n]);
    }
    Ok(out)
}

fn write_prefixed<W: Write>(bytes: &[u8], writer: &mut W) -> Result<(), IoError> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| IoError::new(ErrorKind::InvalidInput, "field longer than 4 GiB"))?;
    len.serialize(writer)?;
    writer.write_all(bytes)
}

/// A length-prefixed byte string whose decoding allocates only as it reads.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({})", hex::encode(&self.0))
    }
}

impl BorshSerialize for Bytes {
    fn serialize<W: Write>(&self, writer: &mut W) -> Result<(), IoError> {
        write_prefixed(&self.0, writer)
    }
}

impl BorshDeserialize for Bytes {
    fn deserialize_reader<R: Read>(reader: &mut R) -> Result<Self, IoError> {
        read_chunked(reader).map(Bytes)
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Bytes(v.to_vec())
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// A length-prefixed UTF-8 string whose decoding allocates only as it reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(pub String);

impl BorshSerialize for Text {
    fn serialize<W: Write>(&self, writer: &mut W) -> Result<(), IoError> {
        write_prefixed(self.0.as_bytes(), writer)
    }
}

impl BorshDeserialize for Text {
    fn deserialize_reader<R: Read>(reader: &mut R) -> Result<Self, IoError> {
        let bytes = read_chunked(reader)?;
        String::from_utf8(bytes)
            .map(Text)
            .map_err(|_| IoError::new(ErrorKind::InvalidData, "text is not UTF-8"))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(s.to_owned())
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(s)
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_are_refused() {
        let mut b = encode(&7u64);
        b.push(0);
        assert!(matches!(
            decode::<u64>(&b, 100),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn limit_is_enforced_before_decoding() {
        let b = encode(&Bytes(vec![1; 100]));
        assert_eq!(
            decode::<Bytes>(&b, 50),
            Err(CodecError::TooLarge {
                len: 104,
                limit: 50
            })
        );
    }

    #[test]
    fn bool_other_than_zero_or_one_is_refused() {
        assert!(decode::<bool>(&[2], 1).is_err());
    }

    #[test]
    fn forged_length_prefix_fails_without_large_allocation() {
        let b = [0xff, 0xff, 0xff, 0x7f, 1, 2, 3];
        assert!(matches!(
            decode::<Bytes>(&b, 100),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn text_must_be_utf8() {
        let b = [2, 0, 0, 0, 0xff, 0xfe];
        assert!(decode::<Text>(&b, 100).is_err());
    }
}
