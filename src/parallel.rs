//! A switch for rayon. After a `fork()` the child inherits a rayon pool whose threads do not
//! exist; using it would hang. The binding turns parallelism off in forked children (DataLoader
//! workers) when the parent had already used the pool, as huggingface/tokenizers does.

use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(true);
static USED: AtomicBool = AtomicBool::new(false);

/// Whether kernels may split work across the rayon pool; marks the pool as used when they may.
pub fn enabled() -> bool {
    let on = ENABLED.load(Ordering::Relaxed);
    if on {
        USED.store(true, Ordering::Relaxed);
    }
    on
}

/// Whether this process has run anything on the rayon pool.
pub fn has_been_used() -> bool {
    USED.load(Ordering::Relaxed)
}

pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}
