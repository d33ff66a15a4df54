//! The shield switch (issue 15): on, the rules act; off, every call rings
//! and its decision is still recorded, marked log-only (the rules' action
//! kept beside the `ring` done). Read with one atomic load on the phone's
//! thread; set from MQTT (Home Assistant's switch) or the dashboard, each
//! told of the other's change; kept in a small file beside the config so
//! that a restart keeps it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The file's name, in the config's directory: `on` or `off`.
pub const FILE: &str = "minisip4fb.shield";

#[derive(Debug, Clone)]
pub struct Shield {
    on: Arc<AtomicBool>,
    file: Option<PathBuf>,
    /// Who wants to know of a change.
    changes: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Shield {
    /// As the file says (on without one, or if it says anything else).
    pub fn load(file: Option<PathBuf>) -> Shield {
        let off = file
            .as_ref()
            .and_then(|f| crate::guard::file::read_regular(f, 64).ok())
            .is_some_and(|t| t.trim() == "off");
        if off {
            tracing::warn!("the shield is off: every call rings, decisions are only recorded");
        }
        Shield {
            on: Arc::new(AtomicBool::new(!off)),
            file,
            changes: Arc::new(tokio::sync::watch::Sender::new(!off)),
        }
    }

    /// Tells of every change from now on.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.changes.subscribe()
    }

    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Sets it at once, then writes the file (a new one renamed over the
    /// old). Call off the phone's thread.
    pub fn set(&self, on: bool) -> std::io::Result<()> {
        self.on.store(on, Ordering::Relaxed);
        self.changes.send_replace(on);
        let Some(file) = &self.file else {
            return Ok(());
        };
        crate::guard::file::replace(file, if on { b"on\n" } else { b"off\n" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_across_a_restart() {
        let dir = std::env::temp_dir().join(format!("minisip4fb-shield-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(FILE);
        let s = Shield::load(Some(file.clone()));
        assert!(s.is_on(), "on without a file");
        let mut told = s.subscribe();
        s.set(false).unwrap();
        assert!(!s.is_on());
        assert!(
            told.has_changed().unwrap(),
            "MQTT hears of the web's change"
        );
        assert!(!*told.borrow_and_update());
        assert!(
            !Shield::load(Some(file.clone())).is_on(),
            "off after a restart"
        );
        s.set(true).unwrap();
        assert!(Shield::load(Some(file)).is_on());
        assert!(Shield::load(None).is_on());
    }
}
