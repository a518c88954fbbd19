//! RFC 6962 Merkle roots (leaf prefix 0x00, inner prefix 0x01), as CometBFT
//! computes `data_hash`, `validators_hash`, `last_commit_hash` and `evidence_hash`.

use crate::crypto::Hash;
use sha2::{Digest, Sha256};

fn leaf(data: &[u8]) -> Hash {
    Hash(
        Sha256::new()
            .chain_update([0u8])
            .chain_update(data)
            .finalize()
            .into(),
    )
}

fn inner(left: &Hash, right: &Hash) -> Hash {
    Hash(
        Sha256::new()
            .chain_update([1u8])
            .chain_update(left.0)
            .chain_update(right.0)
            .finalize()
            .into(),
    )
}

/// The root over `items` in order. The empty tree's root is SHA-256 of nothing.
pub fn merkle_root<T: AsRef<[u8]>>(items: &[T]) -> Hash {
    match items.len() {
        0 => Hash::digest(&[]),
        1 => leaf(items[0].as_ref()),
        n => {
            // Split at the largest power of two strictly less than n.
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            inner(&merkle_root(&items[..k]), &merkle_root(&items[k..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_single() {
        assert_eq!(
            merkle_root::<&[u8]>(&[]).to_hex(),
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
        );
        assert_eq!(merkle_root(&[b"a"]), leaf(b"a"));
    }

    #[test]
    fn split_is_at_largest_power_of_two_below_n() {
        let items: Vec<[u8; 1]> = (0..5u8).map(|i| [i]).collect();
        let l = |i: usize| leaf(&items[i]);
        let left = inner(&inner(&l(0), &l(1)), &inner(&l(2), &l(3)));
        assert_eq!(merkle_root(&items), inner(&left, &l(4)));
        assert_eq!(merkle_root(&items[..3]), inner(&inner(&l(0), &l(1)), &l(2)));
        assert_eq!(merkle_root(&items[..2]), inner(&l(0), &l(1)));
    }
}
