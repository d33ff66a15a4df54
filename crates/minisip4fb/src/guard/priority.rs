//! The phone's thread first: every other thread that can be slow (the
//! book-keeper, rule compiles, the web side, its blocking pool) runs at a
//! lower priority, so that on a small machine it waits for the phone,
//! never the other way round.

/// Nice +10 for the calling thread (Linux keeps the nice value per
/// thread): the book-keeper and rule reloads call it, so on a small machine
/// a SQLite write or a compile waits for the phone's thread, never the
/// other way round. The first compile keeps normal priority: calls wait
/// for it.
pub fn lower_priority_of_this_thread() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on our own thread id; it changes only its nice value.
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10) != 0 {
            tracing::debug!("cannot lower the daemon threads' priority");
        }
    }
}
