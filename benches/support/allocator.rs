//! mimalloc as the `lookbook` binary sets it up. Included by path
//! (`#[path = "../../../benches/support/allocator.rs"] mod allocator;`) in benches that
//! depend on `mimalloc` and `libmimalloc-sys`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// As the binary does at start: keep freed pages (mimalloc option 15, purge delay −1), so a
/// measured loop does not pay for returning and refaulting memory. `MIMALLOC_PURGE_DELAY`
/// still overrides.
pub fn keep_freed_pages() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a process-wide integer option, set before any work starts.
        unsafe { libmimalloc_sys::mi_option_set(15, -1) };
    }
}
