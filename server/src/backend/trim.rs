//! Returning freed memory to the operating system after large purges.
//! glibc keeps freed small blocks in its heap for reuse, so without this a
//! server that held a million keys for a while would keep their memory
//! after they expire.

/// Freed memory past which the housekeeping asks the allocator to give it
/// back (counted in keys and counters dropped).
pub const TRIM_AFTER: usize = 50_000;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(
    unsafe_code,
    reason = "one call to glibc's malloc_trim, which takes a plain integer and has no preconditions"
)]
pub fn release_free_memory() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        malloc_trim(0);
    }
}

/// Other allocators return memory on their own terms.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}
