//! Memory accounting: a global-allocator wrapper that counts live bytes,
//! so INFO's used_memory (and maxmemory later) measure what the server
//! really holds. Counts are kept in per-thread padded slots to keep the
//! allocation fast path free of shared cache lines.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

const SLOTS: usize = 64;

#[repr(align(128))]
struct Slot(AtomicIsize);

static COUNTS: [Slot; SLOTS] = [const { Slot(AtomicIsize::new(0)) }; SLOTS];
static NEXT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn slot() -> usize {
    // `try_with` keeps working while thread-locals are being torn down.
    MY_SLOT
        .try_with(|s| {
            let v = s.get();
            if v != usize::MAX {
                return v;
            }
            let claimed = NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS;
            s.set(claimed);
            claimed
        })
        .unwrap_or(0)
}

#[inline]
fn add(delta: isize) {
    COUNTS[slot()].0.fetch_add(delta, Ordering::Relaxed);
}

/// Name reported as INFO's mem_allocator.
pub const ALLOCATOR_NAME: &str = "mimalloc";

/// Wraps an allocator and counts the bytes it hands out.
pub struct Counting<A>(pub A);

unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc(layout);
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc_zeroed(layout);
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.0.dealloc(ptr, layout);
        add(-(layout.size() as isize));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = self.0.realloc(ptr, layout, new_size);
        if !p.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Bytes currently allocated through the counting allocator (0 when the
/// binary does not install it).
pub fn allocated_bytes() -> usize {
    let total: isize = COUNTS.iter().map(|s| s.0.load(Ordering::Relaxed)).sum();
    let total = total.max(0) as usize;
    PEAK.fetch_max(total, Ordering::Relaxed);
    total
}

pub fn peak_bytes() -> usize {
    allocated_bytes().max(PEAK.load(Ordering::Relaxed))
}

/// Resident set size from /proc/self/statm.
pub fn resident_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = text.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    pages * page
}

pub fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) }.max(0) as u64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    pages * page
}
