//! The call's code brought back into the cache when a datagram wakes the
//! phone after a quiet spell. The release build links the functions a call
//! runs together, between the two markers below (`link/code-order.txt`,
//! `build.rs`); after tens of milliseconds of other work they have left the
//! caches, and the turn would fetch them line by line, one miss after the
//! other. Asking for the whole stretch at once lets the memory fetch it in
//! parallel while the turn starts (docs/PERFORMANCE.md, "Session 12").

use std::time::{Duration, Instant};

/// Where the call's code starts: `scripts/code-order` puts it first.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn minisip4fb_call_code_start() -> u32 {
    // Distinct bodies: identical functions could be folded into one address.
    0x5741_524d
}

/// Where the call's code ends: `scripts/code-order` puts it last.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn minisip4fb_call_code_end() -> u32 {
    0x454e_4421
}

/// A quiet spell after which the code is likely out of the caches.
const QUIET: Duration = Duration::from_millis(2);
/// More than the call's code ever is: markers farther apart (a build
/// without the order) mean there is nothing to warm.
const MAX_SPAN: usize = 512 * 1024;

/// Remembers when the last turn ended.
pub(super) struct Warm {
    last: Instant,
}

impl Warm {
    pub(super) fn new() -> Warm {
        Warm {
            last: Instant::now(),
        }
    }

    /// Before a turn: after a quiet spell, asks for the call's code.
    pub(super) fn before_turn(&mut self, now: Instant) {
        if now.duration_since(self.last) >= QUIET {
            prefetch_call_code();
        }
    }

    /// After a turn.
    pub(super) fn after_turn(&mut self, now: Instant) {
        self.last = now;
    }
}

#[cfg(target_arch = "x86_64")]
fn prefetch_call_code() {
    use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
    let start = minisip4fb_call_code_start as extern "C" fn() -> u32 as usize;
    let end = minisip4fb_call_code_end as extern "C" fn() -> u32 as usize;
    if end <= start || end - start > MAX_SPAN {
        return;
    }
    for line in (start & !63..end).step_by(64) {
        // SAFETY: a prefetch never faults, and these are addresses of this
        // binary's own code, mapped for as long as it runs.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(line as *const i8) };
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn prefetch_call_code() {}
