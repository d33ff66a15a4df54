//! Watching the config's and the lists' directories with inotify.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The directories of the config and the list files, watched with
/// inotify: no wake-ups while nothing changes. Directories, not files,
/// because editors replace a file by renaming a new one over it; events
/// for other names in them (the call log's own files) are skipped.
pub(super) struct DirWatch {
    #[cfg(target_os = "linux")]
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    /// Watch descriptor → directory.
    #[cfg(target_os = "linux")]
    dirs: HashMap<i32, PathBuf>,
    #[cfg(target_os = "linux")]
    files: Vec<PathBuf>,
}

impl DirWatch {
    /// `None` where inotify is not to be had (then the reloader polls).
    #[cfg(target_os = "linux")]
    pub(super) fn new() -> Option<DirWatch> {
        use std::os::fd::FromRawFd;
        // SAFETY: inotify_init1 returns a new descriptor we own, or -1.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return None;
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        // SAFETY: an OwnedFd stays open and is the same descriptor for as
        // long as the AsyncFd owns it.
        unsafe { tokio::io::unix::AsyncFd::register(fd) }
            .ok()
            .map(|fd| DirWatch {
                fd,
                dirs: HashMap::new(),
                files: Vec::new(),
            })
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn new() -> Option<DirWatch> {
        None
    }

    /// Watches these files (their directories); `false` if the kernel
    /// refuses (then poll instead).
    #[cfg(target_os = "linux")]
    pub(super) fn watch(&mut self, files: &[PathBuf]) -> bool {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let mask = libc::IN_CLOSE_WRITE
            | libc::IN_MOVED_TO
            | libc::IN_CREATE
            | libc::IN_DELETE
            | libc::IN_ATTRIB;
        for f in files {
            let dir = dir_of(f);
            if self.dirs.values().any(|d| *d == dir) {
                continue;
            }
            let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
                return false;
            };
            // SAFETY: a valid descriptor and a NUL-terminated path.
            let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), mask) };
            if wd < 0 {
                return false;
            }
            self.dirs.insert(wd, dir);
        }
        self.files = files.to_vec();
        true
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn watch(&mut self, _files: &[PathBuf]) -> bool {
        false
    }

    /// Resolves when a watched file changed; a burst of events (a list
    /// being written) counts once, 200 ms after it began.
    pub(super) async fn changed(&mut self) {
        #[cfg(target_os = "linux")]
        loop {
            use std::os::fd::AsRawFd;
            let Ok(mut ready) = self.fd.readable().await else {
                return std::future::pending().await;
            };
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut ours = false;
            let mut buf = [0u8; 4096];
            loop {
                // SAFETY: reading into our own buffer from our own descriptor.
                let n =
                    unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                ours |= self.names_a_file(&buf[..n as usize]);
            }
            ready.clear_ready();
            if ours {
                return;
            }
        }
        #[cfg(not(target_os = "linux"))]
        std::future::pending::<()>().await
    }

    /// Whether a buffer of `struct inotify_event`s names one of our files
    /// (or overflowed: then anything may have changed).
    #[cfg(target_os = "linux")]
    fn names_a_file(&self, mut events: &[u8]) -> bool {
        use std::os::unix::ffi::OsStrExt;
        const HEAD: usize = std::mem::size_of::<libc::inotify_event>();
        let mut ours = false;
        while events.len() >= HEAD {
            // SAFETY: the kernel writes whole events; read the header
            // unaligned from our byte buffer.
            let ev: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(events.as_ptr().cast()) };
            let end = (HEAD + ev.len as usize).min(events.len());
            let name = &events[HEAD..end];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if ev.mask & libc::IN_Q_OVERFLOW != 0 {
                ours = true;
            } else if let Some(dir) = self.dirs.get(&ev.wd) {
                let name = std::ffi::OsStr::from_bytes(name);
                ours |= self
                    .files
                    .iter()
                    .any(|f| f.file_name() == Some(name) && dir_of(f) == *dir);
            }
            events = &events[end..];
        }
        ours
    }
}

/// The directory a watched file is in (`.` for a bare name).
pub(super) fn dir_of(f: &Path) -> PathBuf {
    match f.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
