//! A conversion on the authorization path allocates nothing: a counting global allocator
//! sees zero allocations across many `RateCache::convert` calls.
//!
//! Allocations and reallocations are counted on the test's own thread only, as in
//! `iso8583/tests/zero_alloc.rs`: the test harness's other threads allocate when they please
//! (a clean-clone CI run once saw 4 such allocations land inside the window).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use fx_rates::{currency, CacheOptions, RateCache, RateSet};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // const-initialised and without Drop: reading it never allocates.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTED.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTED.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn cache_convert_does_not_allocate() {
    let set = RateSet::from_csv("base,quote,rate\nUSD,KRW,1385.20\nEUR,USD,1.085\n", "v").unwrap();
    let cache = RateCache::from_set(
        set,
        CacheOptions {
            max_age: Some(std::time::Duration::from_secs(60)),
            ..CacheOptions::default()
        },
    );
    let (usd, krw, eur) = (
        currency("USD").unwrap(),
        currency("KRW").unwrap(),
        currency("EUR").unwrap(),
    );
    // Warm up anything lazily initialised (the numeric index, the clock).
    cache.convert(1, eur, krw).unwrap();
    COUNTED.with(|c| c.set(true));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut total = 0u64;
    for amount in 1..1000u64 {
        total += cache.convert(amount, usd, krw).unwrap().amount_minor;
        total += cache.convert(amount, krw, usd).unwrap().amount_minor;
        total += cache.convert(amount, eur, krw).unwrap().amount_minor;
        total += cache.convert(amount, krw, krw).unwrap().amount_minor;
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTED.with(|c| c.set(false));
    assert!(total > 0);
    assert_eq!(
        after - before,
        0,
        "convert allocated {} times",
        after - before
    );
}
