//! Files the daemon reads (config, secrets, lists, announcements): each
//! read the same way, so that none can stop the phone.
//!
//! - Only regular files: a FIFO is opened without blocking and refused
//!   (opening it plainly waits for a writer forever), a device too.
//! - Bounded in size, and in time: the read runs on a thread of its own
//!   and is given up after [`READ_TIMEOUT`] (a hung network mount blocks
//!   in the kernel, where nothing else can stop it).
//! - A database found damaged is set aside ([`set_aside`]) and started
//!   anew, never a reason to stop screening.
//! - A file that others may write (world-writable, or in a world-writable
//!   directory without the sticky bit) is used, with one warning that says
//!   how to fix it: anyone on the machine could add to an allow list.

use std::collections::HashSet;
use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A read that takes longer is given up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Reads still hung at most; more are refused at once.
const MAX_HUNG: usize = 4;

static HUNG: AtomicUsize = AtomicUsize::new(0);

/// Why a file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it is a directory: point the config at a regular file")]
    Directory,
    #[error(
        "it is not a regular file (a FIFO, socket or device): point the config at a regular file"
    )]
    NotRegular,
    #[error("it has {size} bytes, more than the {} the daemon reads", human(*max))]
    TooBig { size: u64, max: u64 },
    #[error(
        "reading it took more than {} s (a hung network mount?): put it on a local disk",
        READ_TIMEOUT.as_secs()
    )]
    Hung,
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Opens `path` for reading if it is a regular file of at most `max`
/// bytes, without blocking on a FIFO. Blocking on a hung mount is still
/// possible: call it inside [`within`].
pub fn open_regular(path: &Path, max: u64) -> Result<(File, Metadata), ReadError> {
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO without O_NONBLOCK waits for a writer.
        open.custom_flags(libc::O_NONBLOCK);
    }
    let file = open.open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(ReadError::Directory);
    }
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > max {
        return Err(ReadError::TooBig {
            size: meta.len(),
            max,
        });
    }
    warn_if_others_may_write(path, &meta);
    Ok((file, meta))
}

/// Reads a regular file of at most `max` bytes as text (invalid UTF-8
/// replaced), within [`READ_TIMEOUT`].
pub fn read_regular(path: &Path, max: u64) -> Result<String, ReadError> {
    let path = path.to_owned();
    within(move || {
        use std::io::Read;
        let (file, meta) = open_regular(&path, max)?;
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(max + 1).read_to_end(&mut bytes)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    })
}

/// A state file the daemon keeps (JSON, at most `max` bytes): `None` when
/// there is none yet, or when it cannot be read or is damaged, which is
/// said as `{who}: … ; {without}` (the daemon goes on without it).
pub fn read_state<T: serde::de::DeserializeOwned>(
    file: &Path,
    max: u64,
    who: &str,
    without: &str,
) -> Option<T> {
    match read_regular(file, max) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("{who}: {} is damaged ({e}); {without}", file.display());
                None
            }
        },
        Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!("{who}: {}: {e}; {without}", file.display());
            None
        }
    }
}

/// Runs `read` on a thread of its own and waits at most [`READ_TIMEOUT`].
/// A read that hangs keeps its thread (nothing can end it) but not the
/// caller; while [`MAX_HUNG`] are hung, further reads are refused at once.
pub fn within<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, ReadError> + Send + 'static,
) -> Result<T, ReadError> {
    if HUNG.load(Ordering::SeqCst) >= MAX_HUNG {
        return Err(ReadError::Hung);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    HUNG.fetch_add(1, Ordering::SeqCst);
    let spawned = std::thread::Builder::new()
        .name("minisip4fb-read".into())
        .spawn(move || {
            let r = read();
            HUNG.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        HUNG.fetch_sub(1, Ordering::SeqCst);
        return Err(ReadError::Io(e));
    }
    rx.recv_timeout(READ_TIMEOUT)
        .unwrap_or(Err(ReadError::Hung))
}

/// Replaces `path` with `bytes` by writing a new file beside it and
/// renaming it over the old one: a crash never leaves half of one.
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Whether SQLite says the file is not a database or is damaged (an SD
/// card that lost sectors): such a file is set aside, not obeyed.
pub fn is_damaged(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// Switches a SQLite database to WAL (readers never block the writer; a
/// crash or power loss cannot corrupt it: https://sqlite.org/wal.html).
/// On a new file opened by two processes at once (the daemon and a
/// command), SQLite may answer busy at once, without its busy handler:
/// such an answer is tried again, for up to 5 s.
pub fn sqlite_wal(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let mut tries = 0;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(e)
                if tries < 50
                    && matches!(
                        e.sqlite_error_code(),
                        Some(
                            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                        )
                    ) =>
            {
                tries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Moves a damaged database (and its `-wal` and `-shm` files) aside to
/// `NAME.damaged-YYYYMMDDTHHMMSSZ`; returns the new name.
pub fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let with = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    let aside = with(&format!(".damaged-{stamp}"));
    std::fs::rename(path, &aside)?;
    for side in ["-wal", "-shm"] {
        let mut to = aside.as_os_str().to_owned();
        to.push(side);
        let _ = std::fs::rename(with(side), PathBuf::from(to));
    }
    Ok(aside)
}

/// Warns once per file that others may write it or replace it.
fn warn_if_others_may_write(path: &Path, meta: &Metadata) {
    static WARNED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let Some(why) = others_may_write(path, meta) else {
        return;
    };
    let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    if warned.get_or_insert_default().insert(path.to_owned()) {
        tracing::warn!("{why}");
    }
}

/// Why others may change what `path` says: it is world-writable, or in a
/// world-writable directory without the sticky bit (anyone may replace
/// it); with the command that fixes it.
fn others_may_write(path: &Path, meta: &Metadata) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if meta.permissions().mode() & 0o002 != 0 {
            return Some(format!(
                "{} may be written by anyone on this machine: chmod o-w {}",
                path.display(),
                path.display()
            ));
        }
        let open_dir = std::fs::metadata(dir).is_ok_and(|m| {
            let mode = m.permissions().mode();
            mode & 0o002 != 0 && mode & 0o1000 == 0
        });
        if open_dir {
            return Some(format!(
                "{} is in {}, which anyone on this machine may write, so anyone may replace it: chmod o-w {}",
                path.display(),
                dir.display(),
                dir.display()
            ));
        }
        None
    }
    #[cfg(not(unix))]
    {
        let _ = (path, meta);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("minisip4fb-guard-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_at_once() {
        let d = dir("fifo");
        let fifo = d.join("list.txt");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t = std::time::Instant::now();
        assert!(matches!(
            read_regular(&fifo, 100),
            Err(ReadError::NotRegular)
        ));
        assert!(t.elapsed() < READ_TIMEOUT);
        assert!(matches!(read_regular(&d, 100), Err(ReadError::Directory)));
        std::fs::write(d.join("big"), "0123456789").unwrap();
        let e = read_regular(&d.join("big"), 5).unwrap_err();
        assert!(e.to_string().contains("more than the 5 bytes"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_may_write_is_named_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("modes");
        let f = d.join("allow.txt");
        std::fs::write(&f, "030 1234567\n").unwrap();
        let set = |p: &Path, mode| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set(&d, 0o755);
        set(&f, 0o644);
        let meta = || std::fs::metadata(&f).unwrap();
        assert_eq!(others_may_write(&f, &meta()), None);
        set(&f, 0o666);
        let why = others_may_write(&f, &meta()).unwrap();
        assert!(
            why.ends_with(&format!("chmod o-w {}", f.display())),
            "{why}"
        );
        set(&f, 0o644);
        set(&d, 0o777);
        let why = others_may_write(&f, &meta()).unwrap();
        assert!(why.contains("anyone may replace it"), "{why}");
        // /tmp's sticky bit: nobody replaces another's file.
        set(&d, 0o1777);
        assert_eq!(others_may_write(&f, &meta()), None);
        // read_regular reads it all the same.
        set(&d, 0o777);
        assert!(read_regular(&f, 100).is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_hung_read_is_given_up() {
        let (_hold, wait) = std::sync::mpsc::channel::<()>();
        let t = std::time::Instant::now();
        let r = within(move || {
            let _ = wait.recv_timeout(READ_TIMEOUT * 2);
            Ok(())
        });
        assert!(matches!(r, Err(ReadError::Hung)));
        assert!(t.elapsed() < READ_TIMEOUT * 2);
    }
}
