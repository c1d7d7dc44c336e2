//! mimalloc, set up once for the `lookbook` binary and every bench that measures it. Included
//! by path (`#[path = "…/benches/support/allocator.rs"] mod allocator;`) by crates that depend
//! on `mimalloc` and `libmimalloc-sys`.

// glibc's malloc returns every large image buffer to the kernel and faults it back
// in on the next image: on `catalog check` that was 6.7 s of system time against
// 13.9 s of decoding. mimalloc keeps the pages (measured: 641 → 952 img/s).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (index 15 of `mi_option_e` in the bundled v2 header).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keep freed pages instead of returning them to the OS. Every tensor op allocates its
/// output fresh; with purging, each large one page-faults zeroed memory back in (8% of a
/// training step, ~15% of inference at 192x128). `MIMALLOC_PURGE_DELAY` still overrides.
pub fn keep_freed_pages() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a process-wide integer option; called once at start.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}
