//! Where the rules come from: the config file and `--block` flags, the
//! Box's lists and PhoneBlock's copy; compiled into [`Rules`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::*;
use crate::config::{self, Config};
use crate::fritzbox::link::{BoxLink, LinkError};
use crate::screen::rules::{BoxLists, CompileError, Rules};

/// Where the rules come from: the config file (if any) plus `--block` flags.
#[derive(Debug, Clone)]
pub struct RuleSource {
    pub config: Config,
    pub path: Option<PathBuf>,
    /// `--block` patterns: a first rule that terminates them.
    pub blocks: Vec<String>,
    /// Lists fetched from the Box (`lists = ["fritzbox:…"]`).
    pub box_lists: Arc<Mutex<BoxLists>>,
    /// PhoneBlock's local copy (`lists = ["phoneblock:…"]`).
    pub phoneblock: crate::phoneblock::Handle,
}

impl RuleSource {
    /// TR-064 access as `[fritzbox]` says; `admin_password` is the one
    /// given outside the config (the environment). `None` without `tr064`.
    pub fn box_link(&self, admin_password: Option<String>) -> Option<Result<BoxLink, LinkError>> {
        BoxLink::from_config(&self.config.fritzbox, self.path.clone(), admin_password)
    }

    /// The files the rules are read from: the config and its list files
    /// (not the Box's lists), known before they are compiled.
    pub fn files(&self) -> Vec<PathBuf> {
        let lists = self.config.rules.iter().flat_map(|r| &r.lists);
        let files = lists.filter(|l| !l.is_named()).map(|l| &l.path);
        let passes = self.config.screen.pass_list.iter();
        self.path
            .iter()
            .chain(files)
            .chain(passes)
            .cloned()
            .collect()
    }

    /// The config file's directory (the current one without a file).
    pub fn base_dir(&self) -> PathBuf {
        config::base_dir(self.path.as_deref())
    }

    /// The effective config: `--block` patterns become rule 1.
    pub fn effective(&self) -> Config {
        let mut cfg = self.config.clone();
        if !self.blocks.is_empty() {
            let (anon, numbers): (Vec<&String>, Vec<&String>) = self
                .blocks
                .iter()
                .partition(|b| b.trim().eq_ignore_ascii_case("anonymous"));
            let rule = config::Rule {
                name: Some("--block".into()),
                numbers: numbers.into_iter().cloned().collect(),
                anonymous: !anon.is_empty(),
                action: Some(Action::Terminate),
                ..config::Rule::default()
            };
            cfg.rules.insert(0, rule);
        }
        cfg
    }

    pub fn new(config: Config, path: Option<PathBuf>, blocks: Vec<String>) -> RuleSource {
        RuleSource {
            config,
            path,
            blocks,
            box_lists: Arc::default(),
            phoneblock: crate::phoneblock::Handle::default(),
        }
    }

    /// Loads the local copy of PhoneBlock's lists ([phoneblock] `copy`)
    /// for the rules, where it differs from what they have: at start, and
    /// at each reload, so that SIGHUP picks up a `phoneblock sync` run by
    /// hand. Without a copy the rules see empty lists until a sync.
    /// Returns the community copy's meta, `None` without a copy.
    pub fn load_phoneblock(&self) -> Option<crate::phoneblock::store::Meta> {
        let pb = self.config.phoneblock.as_ref()?;
        let path = pb.copy.clone();
        if !path.exists() {
            tracing::warn!(
                "no PhoneBlock copy at {} yet: the first sync makes it",
                path.display()
            );
            return None;
        }
        let read = || -> Result<_, crate::phoneblock::store::StoreError> {
            let store = crate::phoneblock::store::Store::open(&path)?;
            let meta = store.meta()?;
            let mem = self.phoneblock.load_full();
            let community = match meta {
                Some(m) if mem.community.is_empty() || m.version != mem.community.version => {
                    store.load()?.map(|(c, _)| Arc::new(c))
                }
                _ => None,
            };
            let personal = store
                .personal()?
                .map(|(p, _)| p)
                .filter(|p| *p != *mem.personal)
                .map(Arc::new);
            let ranges = store
                .ranges()?
                .map(|(r, _)| r)
                .filter(|r| *r != *mem.ranges)
                .map(Arc::new);
            Ok((meta, community, personal, ranges))
        };
        match read() {
            Ok((meta, community, personal, ranges)) => {
                if community.is_some() || personal.is_some() || ranges.is_some() {
                    self.phoneblock.rcu(|old| crate::phoneblock::Local {
                        community: community.clone().unwrap_or_else(|| old.community.clone()),
                        personal: personal.clone().unwrap_or_else(|| old.personal.clone()),
                        ranges: ranges.clone().unwrap_or_else(|| old.ranges.clone()),
                    });
                    let now = self.phoneblock.load();
                    tracing::info!(
                        "PhoneBlock copy: {} numbers, version {}, {} spam ranges; your lists: {} blacklisted, {} whitelisted",
                        now.community.len(),
                        now.community.version,
                        now.ranges.list.spam_ranges().count(),
                        now.personal.blacklist.len(),
                        now.personal.whitelist.len(),
                    );
                }
                meta
            }
            Err(e) => {
                tracing::warn!("cannot read the PhoneBlock copy: {e}");
                None
            }
        }
    }

    pub fn compile(&self) -> Result<Rules, CompileError> {
        let lists = self
            .box_lists
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let (rules, warnings) = Rules::compile_with(&self.effective(), &lists, &self.phoneblock)?;
        for w in &warnings {
            tracing::warn!("list {w}");
        }
        Ok(rules)
    }

    /// Re-reads the config file (the rules part) and compiles it.
    pub(super) fn reload(&mut self) -> Result<Rules, ReloadError> {
        if let Some(path) = &self.path {
            let fresh = config::load(path)?;
            if fresh.fritzbox.host != self.config.fritzbox.host
                || fresh.fritzbox.user != self.config.fritzbox.user
            {
                tracing::warn!(
                    "[fritzbox] changed in {}: takes effect after a restart",
                    path.display()
                );
            }
            let mut candidate = self.clone();
            candidate.config = fresh;
            candidate.load_phoneblock();
            let rules = candidate.compile().map_err(|error| ReloadError::Compile {
                error: Box::new(error),
                files: candidate.files(),
            })?;
            *self = candidate;
            return Ok(rules);
        }
        self.compile().map_err(|error| ReloadError::Compile {
            error: Box::new(error),
            files: self.files(),
        })
    }
}
