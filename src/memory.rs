//! How kiln asks glibc's allocator to give memory back, for long sessions
//! (watch mode, the dashboard): a change check of a big context frees tens
//! of MiB that glibc would otherwise keep for the life of the process
//! (BENCHMARKS.md, "Watch mode"). No-ops elsewhere than Linux with glibc.

/// The size from which freed memory at the top of a heap goes back to the
/// system, and from which an allocation gets its own mapping: glibc's own
/// starting values, made fixed. Left dynamic, glibc raises them after the
/// first big free (up to 32 and 64 MiB) and then keeps, in each thread's
/// heap, what a 100,000-file walk freed: 51 MiB after such a build instead
/// of 26 MiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const THRESHOLD: libc::c_int = 128 << 10;

/// Set the allocator's thresholds; once, at start.
pub(crate) fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's tuning parameters; called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD);
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
    }
}

/// Hand the memory a finished engine task freed (a context's walk and
/// digests) back to the system: free pages inside glibc's heaps, which the
/// thresholds alone do not release.
pub(crate) fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the system; it takes
    // glibc's arena locks like any allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}
