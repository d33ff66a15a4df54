//! File descriptors: a systemd service starts with a soft limit of 1,024.
//! Raised to the hard limit at start, so that a flood of web connections
//! (themselves capped, [`super::http`]) cannot take the last descriptors
//! that calls, audio and hooks need.

/// Raises the soft limit on open files to the hard one (at most 65,536),
/// once; returns the limit now in force.
pub fn raise_limit() -> u64 {
    static LIMIT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(raise)
}

fn raise() -> u64 {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write `lim`.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return 1024;
            }
            let want = lim.rlim_max.min(65_536);
            if lim.rlim_cur < want {
                let raised = libc::rlimit {
                    rlim_cur: want,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim.rlim_cur = want;
                }
            }
        }
        #[allow(clippy::useless_conversion)] // rlim_t is 32 bits on 32-bit ARM
        u64::from(lim.rlim_cur)
    }
    #[cfg(not(unix))]
    {
        u64::MAX
    }
}

/// The web connections to allow at most with `limit` descriptors: an
/// eighth of them, at most 256, leaving the rest for calls (one RTP socket
/// each), hooks (three pipes each), SQLite and the rest.
pub fn web_connections(limit: u64) -> usize {
    (limit / 8).clamp(16, 256) as usize
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_limit_is_raised_and_a_share_goes_to_the_web() {
        assert!(super::raise_limit() >= 1024);
        assert_eq!(super::web_connections(1024), 128);
        assert_eq!(super::web_connections(524_288), 256);
        assert_eq!(super::web_connections(64), 16);
    }
}
