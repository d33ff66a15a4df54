//! TR-064 access as configured, in one place for the daemon (phonebook
//! sync, call barring), `check`, `setup`, `barring` and the demo: the
//! Box's address and user, the admin password, and its HTTPS certificate
//! pinned on first use.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{Client, Error};
use crate::config;
use crate::config::Fingerprint;

/// How to reach the Box's TR-064 interface. Cheap to clone; clones share
/// the pin.
#[derive(Clone)]
pub struct BoxLink {
    url: String,
    user: String,
    password: String,
    /// The Box's HTTPS certificate: from the config, or pinned on first use.
    pin: Arc<Mutex<Option<Fingerprint>>>,
    /// Where a first-use pin is written down.
    config: Option<PathBuf>,
    /// In which account's table: `[fritzbox]` (`None`) or an `[[account]]`.
    account: Option<String>,
    /// A person at a terminal: told on stderr, and asked to confirm a
    /// second factor at the Box. Else the daemon's log.
    interactive: bool,
}

impl BoxLink {
    pub fn new(
        url: String,
        user: String,
        password: String,
        pin: Option<Fingerprint>,
        config: Option<PathBuf>,
    ) -> BoxLink {
        BoxLink {
            url,
            user,
            password,
            pin: Arc::new(Mutex::new(pin)),
            config,
            account: None,
            interactive: false,
        }
    }

    /// For the Box of the `[[account]]` named `name`: a pin goes there.
    pub fn for_account(mut self, name: Option<&str>) -> BoxLink {
        self.account = name.map(str::to_owned);
        self
    }

    /// From `[fritzbox]` of the config at `path`; `password` is the admin password given outside the
    /// config (the environment), which wins over `admin_password_file`.
    /// `None` when `tr064` is not set.
    pub fn from_config(
        f: &config::Fritzbox,
        path: Option<PathBuf>,
        password: Option<String>,
    ) -> Option<Result<BoxLink, LinkError>> {
        let url = f.tr064.clone()?;
        let Some(user) = f.admin_user.clone() else {
            return Some(Err(LinkError::NoAdminUser));
        };
        Some(match admin_password(f, password) {
            Ok(Some(p)) => Ok(BoxLink::new(url, user, p, f.tr064_fingerprint, path)),
            Ok(None) => Err(LinkError::NoPassword),
            Err(e) => Err(LinkError::Password(e)),
        })
    }

    /// For a person at a terminal (`setup`, `barring`).
    pub fn interactive(mut self) -> BoxLink {
        self.interactive = true;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// Logs in (blocking). Over HTTPS without a pin, the certificate the
    /// Box presents is trusted this once, said so, and pinned.
    pub fn connect(&self) -> Result<Client, Error> {
        let pin = *self.pin.lock().unwrap_or_else(|p| p.into_inner());
        let mut c = Client::connect(&self.url, &self.user, &self.password, pin)?;
        if self.interactive {
            c = c.with_second_factor(|m| eprintln!("{m}"));
        }
        if let Some(fp) = c.first_use() {
            self.pinned(fp);
        }
        Ok(c)
    }

    /// Runs `f` on a logged-in client in the blocking pool.
    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let link = self.clone();
        tokio::task::spawn_blocking(move || f(&mut link.connect()?))
            .await
            .map_err(|e| Error::Worker(e.to_string()))?
    }

    /// Keeps the certificate seen first for the rest of the run and, with a
    /// config file, for good; says so either way.
    fn pinned(&self, fp: Fingerprint) {
        *self.pin.lock().unwrap_or_else(|p| p.into_inner()) = Some(fp);
        let kept = match &self.config {
            Some(path) => config::edit_account(path, self.account.as_deref(), |t| {
                t["tr064_fingerprint"] = toml_edit::value(fp.to_string())
            })
            .map(|()| {
                format!(
                    "pinned in {}, any other certificate will be refused",
                    path.display()
                )
            })
            .map_err(|e| e.to_string()),
            None => Err(format!(
                "for this run only; to pin it, add to [fritzbox]: tr064_fingerprint = \"{fp}\""
            )),
        };
        let said = format!(
            "first HTTPS connection to the FRITZ!Box at {}: trusting the certificate it presented, {fp} \
             (to compare: openssl s_client -connect HOST:49443 </dev/null | openssl x509 -noout -fingerprint -sha256); {}",
            self.url,
            kept.unwrap_or_else(|e| e)
        );
        if self.interactive {
            eprintln!("{said}");
        } else {
            tracing::warn!("{said}");
        }
    }
}

/// Why `[fritzbox]` does not give TR-064 access.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("[fritzbox] tr064 is set but admin_user is not")]
    NoAdminUser,
    #[error(
        "no TR-064 password: set admin_password_file in [fritzbox] or env MINISIP4FB_ADMIN_PASSWORD"
    )]
    NoPassword,
    #[error(transparent)]
    Password(config::ConfigError),
}

/// The admin password: `given` (from the environment), else the first line
/// of `admin_password_file`; `None` if neither.
pub fn admin_password(
    f: &config::Fritzbox,
    given: Option<String>,
) -> Result<Option<String>, config::ConfigError> {
    if let Some(p) = given.filter(|p| !p.is_empty()) {
        return Ok(Some(p));
    }
    f.admin_password_from_file()
}
