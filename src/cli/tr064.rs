//! `minisip4fb setup` and `minisip4fb barring`: the FRITZ!Box's TR-064
//! interface from the command line.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use rand::Rng;

use minisip4fb::config;
use minisip4fb::fritzbox::link::{BoxLink, admin_password};
use minisip4fb::fritzbox::{self, Client};

/// Why `setup` or `barring` stopped; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Box(#[from] fritzbox::Error),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("which FRITZ!Box user? pass --admin-user NAME (a user with the right \"Telefonie\")")]
    NoAdminUser,
    #[error(
        "no admin password: set MINISIP4FB_ADMIN_PASSWORD or admin_password_file in [fritzbox]"
    )]
    NoAdminPassword,
    #[error("cannot read the password at the terminal: {0}")]
    Prompt(#[source] std::io::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the FRITZ!Box's country code {0} is not known")]
    UnknownCountry(u16),
    #[error(
        "the FRITZ!Box already has {0} IP phones, the most it keeps: delete one under Telefonie → Telefoniegeräte, or pass --user with the name of one to take over"
    )]
    BoxFull(usize),
    #[error("account name {0:?}: use 1 to 32 letters, digits, '-' or '_'")]
    AccountName(String),
}

#[derive(Args, Debug, Clone, Default)]
pub struct BoxArgs {
    /// The Box's TR-064 address (default: [fritzbox] tr064, else http://fritz.box:49000).
    #[arg(long = "box", value_name = "URL")]
    pub url: Option<String>,
    /// A FRITZ!Box user with the right "Telefonie" (default: [fritzbox] admin_user).
    #[arg(long, value_name = "NAME")]
    pub admin_user: Option<String>,
    /// The config file, read for the Box's address, admin user and password file
    /// [default: /etc/minisip4fb/config.toml if there] (`setup` also writes to it).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Logs in with URL and admin user from the flags, else the config;
/// the password `given` (the environment), else `admin_password_file`,
/// else asked at the terminal. A first-use certificate is pinned in
/// `pin_into`. Returns the client, its link and the config read.
fn connect(
    a: &BoxArgs,
    given: Option<String>,
    pin_into: Option<&Path>,
    account: Option<&str>,
) -> Result<(Client, BoxLink, Option<config::Config>), SetupError> {
    let cfg = match &a.config {
        Some(p) if p.exists() => Some(config::load(p)?),
        _ => None,
    };
    let f = cfg
        .as_ref()
        .and_then(|c| account_table(c, account).cloned())
        .unwrap_or_default();
    let url = a
        .url
        .clone()
        .or(f.tr064.clone())
        .unwrap_or_else(|| "http://fritz.box:49000".into());
    let user = a
        .admin_user
        .clone()
        .or(f.admin_user.clone())
        .ok_or(SetupError::NoAdminUser)?;
    let password = match admin_password(&f, given)? {
        Some(p) => p,
        None if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            rpassword::prompt_password(format!("password of FRITZ!Box user {user}: "))
                .map_err(SetupError::Prompt)?
        }
        None => return Err(SetupError::NoAdminPassword),
    };
    let link = BoxLink::new(
        url,
        user,
        password,
        f.tr064_fingerprint,
        pin_into.map(Path::to_path_buf),
    )
    .for_account(account)
    .interactive();
    let client = link.connect()?;
    Ok((client, link, cfg))
}

/// `[fritzbox]` (`account` `None`), or the `[[account]]` named so.
fn account_table<'c>(c: &'c config::Config, account: Option<&str>) -> Option<&'c config::Fritzbox> {
    match account {
        None => Some(&c.fritzbox),
        Some(name) => c.accounts.iter().find(|f| f.name.as_deref() == Some(name)),
    }
}

#[derive(Args, Debug, Clone)]
pub struct SetupArgs {
    #[command(flatten)]
    pub target: BoxArgs,
    /// Set up one more account, an `[[account]]` of this name (a second
    /// Box, or a second IP phone at the same Box), instead of `[fritzbox]`.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// The IP phone's user name at the Box [default: minisip4fb; with
    /// --account, minisip4fb-NAME].
    #[arg(long)]
    pub user: Option<String>,
    /// The name the Box shows for it.
    #[arg(long, default_value = "minisip4fb")]
    pub name: String,
    /// Which of the household's numbers it reacts to (empty: all).
    #[arg(long, value_name = "NUMBERS", default_value = "")]
    pub incoming: String,
    /// Show what would be done, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// An IP phone's password set over TR-064 must be letters and digits
/// only, 8–64 of them (FRITZBOX.md: other signs get 803). 32 of 62
/// symbols: about 190 bits.
fn strong_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub fn setup(a: SetupArgs) -> i32 {
    match do_setup(&a, super::admin_password_env()) {
        Ok(()) => {
            if !a.dry_run {
                let path = a.target.config.as_deref();
                let path = path.unwrap_or(Path::new("minisip4fb.toml"));
                println!("check with: minisip4fb check --config {}", path.display());
            }
            0
        }
        Err(e) => {
            eprintln!("minisip4fb setup: {e}");
            1
        }
    }
}

/// `setup`; `admin_password` as given outside the config (the environment).
pub(crate) fn do_setup(a: &SetupArgs, admin_password: Option<String>) -> Result<(), SetupError> {
    let config_path = a
        .target
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("minisip4fb.toml"));
    let account = a.account.as_deref();
    if let Some(name) = account
        && !config::valid_account_name(name)
    {
        return Err(SetupError::AccountName(name.to_owned()));
    }
    // A second account never takes the first one's IP phone (and resets
    // its password) by default.
    let user = a.user.clone().unwrap_or_else(|| match account {
        Some(name) => format!("minisip4fb-{name}"),
        None => "minisip4fb".to_owned(),
    });
    let a = &SetupArgs {
        user: Some(user),
        ..a.clone()
    };
    let user = a.user.as_deref().unwrap_or_default();
    let pin_into = (!a.dry_run).then_some(config_path.as_path());
    let (mut client, link, cfg) = connect(&a.target, admin_password, pin_into, account)?;
    let (url, admin) = (link.url(), link.user());
    let base = config::base_dir(Some(&config_path));
    let table = cfg.as_ref().and_then(|c| account_table(c, account));
    let section = match account {
        Some(name) => format!("[[account]] {name:?}"),
        None => "[fritzbox]".to_owned(),
    };
    // The loaded config's paths are resolved: written back as the file
    // had it, relative to its directory.
    let pw_path = table
        .and_then(|f| f.password_file.clone())
        .unwrap_or_else(|| match account {
            Some(name) => base.join(format!("{name}.password")),
            None => base.join("password"),
        });
    let pw_file = pw_path.strip_prefix(&base).unwrap_or(&pw_path).to_owned();
    let known_pw = std::fs::read_to_string(&pw_path)
        .ok()
        .map(|s| s.lines().next().unwrap_or("").to_owned())
        .filter(|p| !p.is_empty());
    let phones = client.ip_phones()?;
    let existing = phones.iter().find(|p| p.username == user);
    if existing.is_none() && phones.len() >= fritzbox::BOX_MAX_IP_PHONES {
        return Err(SetupError::BoxFull(phones.len()));
    }
    let host = url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .split([':', '/'])
        .next()
        .unwrap_or("fritz.box")
        .to_owned();
    let config_ok =
        table.is_some_and(|f| f.user.as_deref() == Some(user) && f.password_file.is_some());

    let (internal, new_pw) = match (existing, &known_pw) {
        (Some(p), Some(_)) => {
            println!(
                "IP phone {:?} exists at the Box (index {}, internal number {}); its password is in {}",
                user,
                p.index,
                p.internal_number,
                pw_path.display()
            );
            (p.internal_number.clone(), None)
        }
        _ => {
            let index = existing.map_or(phones.len() as u32, |p| p.index);
            let verb = if existing.is_some() {
                "reset the password of"
            } else {
                "create"
            };
            if a.dry_run {
                println!(
                    "would {verb} IP phone {:?} at index {index} and store its password in {}",
                    user,
                    pw_path.display()
                );
                (String::new(), None)
            } else {
                let pw = strong_password();
                let (index, internal) = match client.set_ip_phone(
                    index,
                    user,
                    &pw,
                    &a.name,
                    &a.incoming,
                ) {
                    Ok(internal) => (index, internal),
                    // FRITZBOX.md: SetClient4 on an index in use can answer
                    // 820; the phone is then deleted and created anew (the
                    // last index, the first free internal number).
                    Err(fritzbox::Error::Fault { fault, .. })
                        if fault.code == 820 && existing.is_some() =>
                    {
                        println!(
                            "the FRITZ!Box does not change IP phone {:?} in place (error 820): deleting and re-creating it",
                            user
                        );
                        client.delete_ip_phone(index)?;
                        let last = phones.len() as u32 - 1;
                        let internal =
                            client.set_ip_phone(last, user, &pw, &a.name, &a.incoming)?;
                        (last, internal)
                    }
                    Err(e) => return Err(e.into()),
                };
                let done = if existing.is_some() {
                    "reset the password of"
                } else {
                    "created"
                };
                println!(
                    "{done} IP phone {:?} at index {index}: internal number {internal}",
                    user
                );
                (internal, Some(pw))
            }
        }
    };
    if a.dry_run {
        if !config_ok {
            println!(
                "would write user, password_file and host to {section} of {}",
                config_path.display()
            );
        }
        println!("dry run: nothing changed");
        return Ok(());
    }
    if let Some(pw) = new_pw {
        write_private(&pw_path, &format!("{pw}\n"))?;
    }
    if !config_ok {
        update_config(&config_path, account, user, &pw_file, &host)?;
        println!(
            "wrote {section} user, password_file and host to {}",
            config_path.display()
        );
        if url.starts_with("http://") {
            println!(
                "note: over http:// TR-064 carries the IP phone's password in clear text across the LAN; https://fritz.box:49443 does not"
            );
        }
        if account.is_none() && cfg.as_ref().is_none_or(|c| c.fritzbox.tr064.is_none()) {
            println!(
                "to let the daemon read the Box's phonebooks and bar numbers, add to [fritzbox]: tr064 = \"{url}\", admin_user = \"{admin}\", admin_password_file = \"…\""
            );
        }
    } else if existing.is_some() && known_pw.is_some() {
        println!("nothing to change");
    }
    numbers_from_the_box(&mut client, &config_path, cfg.as_ref())?;
    if !internal.is_empty() {
        println!("the Box reaches it as internal number {internal}");
    }
    Ok(())
}

/// Writes a file only its owner can read: a new 0600 file renamed over
/// the old one, so an existing file's looser mode never holds the secret.
/// In a directory of a service's group (the package's /etc/minisip4fb,
/// root:minisip4fb 0750) the file gets that group and 0640: `sudo minisip4fb
/// setup` writes a password the daemon, running as that user, can read.
fn write_private(path: &Path, text: &str) -> Result<(), SetupError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let written = o.open(&tmp).and_then(|mut f| {
        #[cfg(unix)]
        share_with_the_directorys_group(&f, path)?;
        std::io::Write::write_all(&mut f, text.as_bytes())?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(SetupError::Write {
            path: path.to_owned(),
            source: e,
        });
    }
    Ok(())
}

/// `[numbers]` from the Box's own country and area code, so callers'
/// numbers are read right without anyone typing them. Values already in
/// the file are kept (and a difference is said).
fn numbers_from_the_box(
    client: &mut Client,
    path: &Path,
    cfg: Option<&config::Config>,
) -> Result<(), SetupError> {
    let (code, area) = client.country_and_area_code()?;
    let country =
        minisip4fb::call::regions::main_region(code).ok_or(SetupError::UnknownCountry(code))?;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let doc: toml_edit::DocumentMut = text.parse().unwrap_or_default();
    let has = |k: &str| doc.get("numbers").and_then(|n| n.get(k)).is_some();
    let (has_country, has_area) = (has("country"), has("area_code"));
    if let Some(c) = cfg {
        if has_country && !c.numbers.country.eq_ignore_ascii_case(country) {
            println!(
                "note: the Box is in {country} (+{code}), the config says country = {:?}; keeping the config's",
                c.numbers.country
            );
        }
        if has_area && area.is_some() && c.numbers.area_code != area {
            println!(
                "note: the Box's area code is {}, the config says {:?}; keeping the config's",
                area.as_deref().unwrap_or(""),
                c.numbers.area_code.as_deref().unwrap_or("")
            );
        }
    }
    if has_country && (has_area || area.is_none()) {
        return Ok(());
    }
    config::edit_section(path, "numbers", |t| {
        if !has_country {
            t["country"] = toml_edit::value(country);
        }
        if let (false, Some(a)) = (has_area, &area) {
            t["area_code"] = toml_edit::value(a.as_str());
        }
    })?;
    println!(
        "wrote [numbers] from the Box: country {country} (+{code}){}",
        area.map(|a| format!(", area code {a}")).unwrap_or_default()
    );
    Ok(())
}

/// Sets the keys of the SIP account in `[fritzbox]` or the `[[account]]`
/// named `account`, keeping every other key and comment. The admin
/// password is never written: TR-064 for the daemon (phonebooks, barring)
/// is opt-in.
fn update_config(
    path: &Path,
    account: Option<&str>,
    user: &str,
    pw_file: &Path,
    host: &str,
) -> Result<(), SetupError> {
    config::edit_account(path, account, |t| {
        t["user"] = toml_edit::value(user);
        t["password_file"] = toml_edit::value(pw_file.display().to_string());
        if t.get("host").is_none() {
            t["host"] = toml_edit::value(host);
        }
    })?;
    Ok(())
}

#[derive(Args, Debug, Clone)]
pub struct BarringArgs {
    #[command(flatten)]
    pub target: BoxArgs,
    #[command(subcommand)]
    pub action: BarringAction,
}

#[derive(Subcommand, Debug, Clone)]
pub enum BarringAction {
    /// Show the Box's call-barring list.
    List,
    /// Bar a number (unless it is barred already).
    Add {
        /// The number, as the Box stores it (e.g. 09005551234 or 004420…).
        number: String,
        /// The entry's name in the Box's list.
        #[arg(long, default_value = "minisip4fb")]
        name: String,
    },
    /// Lift the bar on a number.
    Remove {
        /// The number as listed (`barring list` shows them).
        number: String,
    },
}

pub fn barring(a: BarringArgs) -> i32 {
    let run = || -> Result<(), SetupError> {
        let (mut c, ..) = connect(
            &a.target,
            super::admin_password_env(),
            a.target.config.as_deref(),
            None,
        )?;
        match &a.action {
            BarringAction::List => {
                let xml = c.barring_list()?;
                for e in minisip4fb::screen::phonebook_xml::entries(&xml) {
                    match e {
                        Ok((_, number, name)) => {
                            println!("{number:<20}  {}", name.unwrap_or_default())
                        }
                        Err((line, msg)) => eprintln!("barring list line {line}: {msg}"),
                    }
                }
            }
            BarringAction::Add { number, name } => {
                if c.bar(number, name)? {
                    println!("barred {number}");
                } else {
                    println!("{number} is barred already");
                }
            }
            BarringAction::Remove { number } => {
                if c.unbar(number)? {
                    println!("removed {number} from the call-barring list");
                } else {
                    println!("{number} is not on the call-barring list");
                }
            }
        }
        Ok(())
    };
    match run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("minisip4fb barring: {e}");
            1
        }
    }
}

#[cfg(unix)]
fn share_with_the_directorys_group(f: &std::fs::File, path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let meta = std::fs::metadata(dir)?;
    // A directory closed to others and open to a group not ours: that
    // group is the service's.
    let service_dir = meta.mode() & 0o007 == 0 && meta.mode() & 0o050 != 0;
    let group = meta.gid();
    // SAFETY: getegid has no preconditions.
    if service_dir && group != unsafe { libc::getegid() } {
        std::os::unix::fs::fchown(f, None, Some(group))?;
        f.set_permissions(std::fs::Permissions::from_mode(0o640))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn a_password_in_a_service_directory_is_readable_by_its_group_only() {
        let dir = std::env::temp_dir().join(format!("minisip4fb-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // An ordinary directory: the owner alone.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        write_private(&dir.join("a"), "secret\n").unwrap();
        assert_eq!(
            std::fs::metadata(dir.join("a")).unwrap().mode() & 0o777,
            0o600
        );
        // The package's /etc/minisip4fb: 0750, a service's group. Only root
        // can give a directory another group; elsewhere this part is moot.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&dir, None, Some(4242)).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
            write_private(&dir.join("b"), "secret\n").unwrap();
            let m = std::fs::metadata(dir.join("b")).unwrap();
            assert_eq!((m.mode() & 0o777, m.gid()), (0o640, 4242));
            assert_eq!(std::fs::read_to_string(dir.join("b")).unwrap(), "secret\n");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
