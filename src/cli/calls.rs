//! `minisip4fb calls` and `minisip4fb stats`: read the call log.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use minisip4fb::call::{Record, Time};
use minisip4fb::calllog::{CallLog, Filter};
use minisip4fb::config;
use minisip4fb::text::printable;

#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// Find the call log through this config file [default: /etc/minisip4fb/config.toml if there].
    #[arg(long, short, value_name = "FILE", conflicts_with = "db")]
    pub config: Option<PathBuf>,
    /// The call log itself.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Only calls of the last DURATION (e.g. 7d, 12h).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct CallsArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Only calls that were not left to ring.
    #[arg(long)]
    pub blocked: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Same as --format json.
    #[arg(long, conflicts_with_all = ["format", "csv"])]
    pub json: bool,
    /// Same as --format csv.
    #[arg(long, conflicts_with = "format")]
    pub csv: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

fn open(a: &DbArgs) -> Result<(CallLog, Option<Time>), String> {
    let path = match (&a.db, super::config_or_system(a.config.clone())) {
        (Some(db), _) => db.clone(),
        (None, Some(c)) => config::load(&c).map_err(|e| e.to_string())?.calllog.db,
        (None, None) => return Err("which call log? pass --config FILE or --db FILE".into()),
    };
    if !path.exists() {
        return Err(format!(
            "no call log at {} yet (it is created by `minisip4fb run`)",
            path.display()
        ));
    }
    let since = match &a.since {
        Some(s) => {
            let d = config::parse_duration(s).map_err(|e| e.to_string())?;
            let t = std::time::SystemTime::now()
                .checked_sub(d)
                .ok_or_else(|| format!("--since {s}: before the epoch"))?;
            Some(Time::from(t))
        }
        None => None,
    };
    Ok((CallLog::open(&path).map_err(|e| e.to_string())?, since))
}

pub fn calls(a: CallsArgs) -> i32 {
    let (log, since) = match open(&a.db) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("minisip4fb: {e}");
            return 2;
        }
    };
    let records = match log.list(&Filter {
        since,
        blocked: a.blocked,
        ..Filter::default()
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("minisip4fb: {e}");
            return 1;
        }
    };
    let format = if a.json {
        Format::Json
    } else if a.csv {
        Format::Csv
    } else {
        a.format
    };
    match format {
        Format::Json => match serde_json::to_string_pretty(&records) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("minisip4fb: {e}");
                return 1;
            }
        },
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            let _ = w.write_record([
                "time",
                "caller",
                "caller_e164",
                "name",
                "called",
                "decision",
                "action",
                "rule",
                "reason",
                "outcome",
                "decision_ms",
                "bye_ms",
                "account",
            ]);
            for r in &records {
                let o = |s: &Option<String>| s.clone().unwrap_or_default();
                let f = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
                let _ = w.write_record([
                    r.time.to_string(),
                    o(&r.caller.number),
                    o(&r.caller.e164),
                    o(&r.caller.name),
                    o(&r.called),
                    r.decision.to_string(),
                    r.action.to_string(),
                    o(&r.rule),
                    r.reason.clone(),
                    r.outcome.map(|o| o.to_string()).unwrap_or_default(),
                    f(r.decision_ms),
                    f(r.bye_ms),
                    o(&r.account),
                ]);
            }
            let _ = w.flush();
        }
        Format::Table => print_table(&records),
    }
    0
}

fn print_table(records: &[Record]) {
    if records.is_empty() {
        println!("no calls");
        return;
    }
    // The line only when calls came in on more than one.
    let several = records
        .iter()
        .any(|r| r.account.is_some() && r.account != records[0].account);
    let line = |r: &Record| -> String {
        if several {
            format!(
                "{:<12}  ",
                cut(&printable(r.account.as_deref().unwrap_or("")), 12)
            )
        } else {
            String::new()
        }
    };
    println!(
        "{:<19}  {}{:<17}  {:<16}  {:<17}  {:<19}  reason",
        "time",
        if several {
            format!("{:<12}  ", "line")
        } else {
            String::new()
        },
        "caller",
        "name",
        "decision",
        "outcome"
    );
    for r in records {
        // Escaped: a display name must not drive the terminal.
        let number =
            minisip4fb::call::show::number(r.caller.number.as_deref(), r.caller.e164.as_deref());
        let number = printable(number.as_deref().unwrap_or("anonymous")).into_owned();
        let name = printable(r.caller.name.as_deref().unwrap_or("")).into_owned();
        let outcome = r.outcome.map(|o| o.to_string());
        println!(
            "{:<19}  {}{:<17}  {:<16}  {:<17}  {:<19}  {}",
            r.time.local(),
            line(r),
            cut(&number, 17),
            cut(&name, 16),
            r.decision.as_str(),
            outcome.as_deref().unwrap_or("(in progress)"),
            printable(&r.reason)
        );
    }
}

/// `s` in at most `width` characters; a cut one ends in `…`.
fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut c: String = s.chars().take(width - 1).collect();
    c.push('…');
    c
}

pub fn stats(a: DbArgs) -> i32 {
    let (log, since) = match open(&a) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("minisip4fb: {e}");
            return 2;
        }
    };
    let (days, rules) = match (log.per_day(since), log.per_rule(since)) {
        (Ok(d), Ok(r)) => (d, r),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("minisip4fb: {e}");
            return 1;
        }
    };
    println!(
        "{:<10}  {:>6}  {:>10}  {:>8}  {:>7}",
        "day (UTC)", "calls", "terminated", "declined", "through"
    );
    for (day, calls, term, decl, through) in &days {
        println!("{day:<10}  {calls:>6}  {term:>10}  {decl:>8}  {through:>7}");
    }
    println!("\n{:>6}  {:<16}  rule", "calls", "action");
    for (rule, action, n) in &rules {
        println!(
            "{n:>6}  {action:<16}  {}",
            rule.as_deref().unwrap_or("(default or internal)")
        );
    }
    0
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cut_column_says_so_and_keeps_its_width() {
        assert_eq!(super::cut("09005551234", 17), "09005551234");
        assert_eq!(
            super::cut("Hausverwaltung Müller GmbH", 16),
            "Hausverwaltung …"
        );
        assert_eq!(
            super::cut("Hausverwaltung Müller GmbH", 16).chars().count(),
            16
        );
    }
}
