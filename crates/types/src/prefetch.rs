//! Cache prefetch hints.
//!
//! A pipelined batch of commands touches keys scattered over a table much
//! larger than the CPU caches; each lookup would otherwise stall on memory
//! in turn. The server asks for the lines a batch will need first (see
//! `Keyspace::prefetch`), so the misses overlap instead of adding up.
//! A prefetch is only a hint: it never faults and changes no value.

/// Asks for the cache line holding `ptr` to be loaded for reading.
#[inline(always)]
pub fn read<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch does not access memory architecturally; any
    // address is allowed, valid or not.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}
