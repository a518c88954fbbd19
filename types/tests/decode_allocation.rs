//! Decoding hostile bytes never allocates much more than the input: a forged
//! length prefix must not reserve memory for data that is not there.
//! One test in its own binary, so the process-wide allocation counter sees
//! nothing else.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// A counting global allocator is the one place a test needs unsafe code.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cairn_types::codec::decode;
use rand::{RngExt, SeedableRng};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn forged_lengths_allocate_at_most_a_small_multiple_of_the_input() {
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(7);
    let limit = 64 * 1024;
    for i in 0..20_000 {
        let len = rng.random_range(0..2048usize);
        let mut b: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        // Plant large little-endian u32 length prefixes at random places.
        for _ in 0..4 {
            if b.len() >= 4 {
                let at = rng.random_range(0..b.len() - 3);
                let forged: u32 = if i % 2 == 0 {
                    u32::MAX
                } else {
                    rng.random_range(1 << 16..1 << 30)
                };
                b[at..at + 4].copy_from_slice(&forged.to_le_bytes());
            }
        }
        let base = LIVE.load(Ordering::SeqCst);
        PEAK.store(base, Ordering::SeqCst);
        let _ = decode::<cairn_types::Block>(&b, limit);
        let _ = decode::<cairn_types::Tx>(&b, limit);
        let _ = decode::<cairn_types::Evidence>(&b, limit);
        let _ = decode::<cairn_types::ValidatorSet>(&b, limit);
        let used = PEAK.load(Ordering::SeqCst) - base;
        // Borsh reserves at most 4 KiB per collection from a prefix; our byte
        // fields reserve at most 4 KiB before data arrives.
        assert!(
            used <= 64 * 1024 + 16 * b.len(),
            "{used} bytes for a {}-byte input",
            b.len()
        );
    }
}
