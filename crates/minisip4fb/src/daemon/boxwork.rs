//! The daemon's TR-064 work, off the phone's path: the Box's lists kept
//! fresh for the rules that use them, and numbers barred at the Box.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::fritzbox::link::{BoxLink, LinkError};
use crate::screen::rules::{BoxLists, Rules};

/// The TR-064 work, off the phone's path: the Box's lists kept fresh for
/// the rules that use them, and the worker that bars numbers (its queue
/// is returned). Nothing without TR-064 access.
pub(super) fn start_tr064(
    link: Option<Result<BoxLink, LinkError>>,
    source: &RuleSource,
    reload: &Arc<tokio::sync::Notify>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Option<mpsc::Sender<(String, String)>> {
    let link = match link? {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("TR-064 disabled: {e}");
            return None;
        }
    };
    if Rules::wants_box_lists(&source.effective()) {
        let every = source.config.fritzbox.phonebook_refresh.0;
        tasks.push(tokio::spawn(box_sync(
            link.clone(),
            source.box_lists.clone(),
            reload.clone(),
            every,
        )));
    }
    let (tx, rx) = mpsc::channel(256);
    tasks.push(tokio::spawn(barring_worker(link, rx)));
    Some(tx)
}

/// The Box's phonebooks by name, and its call-barring list as `barring`.
pub fn fetch_box_lists(
    c: &mut crate::fritzbox::Client,
) -> Result<BoxLists, crate::fritzbox::Error> {
    let mut out = BoxLists::new();
    for (_, name, xml) in c.phonebooks()? {
        out.insert(name, xml);
    }
    out.insert("barring".into(), c.barring_list()?);
    Ok(out)
}

/// Fetches the Box's phonebooks and call-barring list at start and every
/// `phonebook_refresh`; failures are retried with backoff and never stop
/// call screening.
async fn box_sync(
    link: BoxLink,
    lists: Arc<Mutex<BoxLists>>,
    reload: Arc<tokio::sync::Notify>,
    every: Duration,
) {
    let mut backoff = Duration::from_secs(30);
    loop {
        let fetched = link.with(fetch_box_lists).await;
        let wait = match fetched {
            Ok(new) => {
                tracing::info!(
                    "read {} phonebook(s) and the call-barring list from the FRITZ!Box",
                    new.len() - 1
                );
                *lists.lock().unwrap_or_else(|p| p.into_inner()) = new;
                reload.notify_one();
                backoff = Duration::from_secs(30);
                every
            }
            Err(e) => {
                tracing::warn!(
                    "cannot read the FRITZ!Box's phonebooks: {e}; retrying in {} s",
                    backoff.as_secs()
                );
                let w = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(1800));
                w
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Puts terminated numbers on the Box's call-barring list, one at a time,
/// at most one every 2 s (a flood of spam calls must not turn into a
/// flood of TR-064 calls); looks each up first, since the Box stores
/// duplicates.
async fn barring_worker(link: BoxLink, mut rx: mpsc::Receiver<(String, String)>) {
    while let Some((number, rule)) = rx.recv().await {
        let name = format!(
            "minisip4fb {} ({})",
            chrono::Local::now().format("%Y-%m-%d"),
            rule
        );
        let n = number.clone();
        match link.with(move |c| c.bar(&n, &name)).await {
            Ok(true) => tracing::info!("added {number} to the FRITZ!Box's call-barring list"),
            Ok(false) => {
                tracing::debug!("{number} is on the FRITZ!Box's call-barring list already")
            }
            Err(e) => {
                tracing::warn!("cannot add {number} to the FRITZ!Box's call-barring list: {e}")
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
