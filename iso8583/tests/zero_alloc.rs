//! Decoding a typical 0100 allocates nothing on the heap, in every built-in spec. A counting
//! global allocator counts this thread's allocations while the decode runs.

mod common;

use iso8583::{decode, Spec};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: delegates every call to the system allocator unchanged; the counters are
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn decoding_a_typical_authorization_allocates_nothing() {
    // the counter itself must see allocations
    assert_eq!(
        allocations_during(|| drop(std::hint::black_box(vec![1u8; 4]))),
        1
    );
    for name in Spec::builtin_names() {
        let spec = Spec::builtin(name).unwrap();
        let bytes = common::auth_request(spec).encode(spec).unwrap();
        let mut fields = 0;
        let n = allocations_during(|| {
            let m = decode(spec, &bytes).unwrap();
            fields = m.fields().count();
            // reading raw values and ASCII text borrows from the input
            assert!(m.raw(2).is_some());
            if spec.field(2).unwrap().data == iso8583::spec::DataEncoding::Ascii {
                assert!(matches!(m.text(2), Some(std::borrow::Cow::Borrowed(_))));
            }
            std::hint::black_box(&m);
        });
        assert_eq!(fields, 15, "{name}");
        assert_eq!(n, 0, "{name}: decode allocated {n} times");
    }
}

#[test]
fn keeping_a_request_and_building_its_response_allocates_a_few_times_not_once_a_field() {
    for name in Spec::builtin_names() {
        let spec = Spec::builtin(name).unwrap();
        let bytes = common::auth_request(spec).encode(spec).unwrap();
        // DE 38 and 39 as long as this spec has them (they are fixed-length everywhere).
        let [de38, de39] = [38u16, 39].map(|f| "0".repeat(usize::from(spec.field(f).unwrap().max)));
        let n = allocations_during(|| {
            // What the switch does with each request: keep it beyond its frame (the field
            // list and one buffer for the values, plus the header where the spec has one) ...
            let req = decode(spec, &bytes).unwrap().to_owned_message();
            // ... and answer it: a dozen echoed fields and two more, then the wire bytes.
            let resp = common::respond(&req, &[(38, de38.as_str()), (39, de39.as_str())]);
            std::hint::black_box(resp.encode(spec).unwrap());
        });
        // 2 for the request (3 with a header), 2 for the response, 1 for the encoding; a value
        // whose wire form is not its logical form (BCD, EBCDIC, hex text) is converted into a
        // buffer of its own on the way in, one more each.
        let m = decode(spec, &bytes).unwrap();
        let converted = m
            .fields()
            .filter(|&f| matches!(m.bytes(f), Some(std::borrow::Cow::Owned(_))))
            .count();
        assert!(
            n <= 6 + converted,
            "{name}: {n} allocations, {converted} conversions (one a field would be 30 and more)"
        );
    }
}
