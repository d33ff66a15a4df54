//! The dashboard in a real browser: Debian's chromium, headless, driven by
//! `tests/browser/dashboard.mjs` (playwright-core) against the daemon, the
//! emulated Box (SIP and TR-064) and the PhoneBlock stand-in, all on
//! loopback. The script asks for calls ("CALL 0305551234 [NAME]"); this side
//! places them and answers with the outcome, then checks what the clicks
//! did: the list files, the Box's call-barring list and phonebook, the
//! rating PhoneBlock got.
//!
//! Needs `chromium` and `npm ci --prefix tests/browser`; without them the
//! test fails and says so, unless `MINISIP4FB_SKIP=browser`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use minisip4fb_emulator::phoneblock::{PhoneBlockConfig, PhoneBlockStandIn};
use minisip4fb_emulator::tr064::Tr064Config;
use minisip4fb_emulator::{CallSpec, Caller};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::common;

const SCRIPT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");

/// The browser and the driver, or why not.
fn tools() -> Result<PathBuf, String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!(
            "no {} (apt-get install chromium)",
            chromium.display()
        ));
    }
    if !Path::new(SCRIPT_DIR)
        .join("node_modules/playwright-core")
        .exists()
    {
        return Err("no playwright-core (npm ci --prefix tests/browser)".into());
    }
    Ok(chromium)
}

fn config(dir: &Path, tr064: &str, phoneblock: &str) -> PathBuf {
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write("password", "geheim123\n");
    write("admin-password", "fritz-admin-pw\n");
    write("web-password", "dashboard-secret\n");
    write("token", "good\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("token"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
    write("block.txt", "# blocked by hand or from the web\n");
    write("allow.txt", "# allowed by hand or from the web\n");
    crate::media::write_wav(&dir.join("ask.wav"), 8000, 1, 0.5);
    let path = dir.join("config.toml");
    write(
        "config.toml",
        &format!(
            r#"[fritzbox]
user = "620"
password_file = "password"
tr064 = "{tr064}"
admin_user = "admin"
admin_password_file = "admin-password"
[numbers]
country = "DE"
area_code = "030"
[screen]
pass_list = "passed.txt"
[calllog]
db = "calls.db"
[phoneblock]
api = "{phoneblock}"
token_file = "token"
[web]
listen = "127.0.0.1:0"
password_file = "web-password"
block_list = "block.txt"
allow_list = "allow.txt"
[[rule]]
name = "allowed from the web"
lists = ["allow.txt"]
action = "ring"
[[rule]]
name = "blocked from the web"
lists = ["block.txt"]
action = "terminate"
[[rule]]
name = "premium"
numbers = ["0900*"]
action = "terminate"
[[rule]]
name = "from abroad"
foreign = true
action = "challenge"
announcement = "ask.wav"
digit = "5"
"#
        ),
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    let tools = tools();
    if !common::require("browser", tools.as_ref().err().cloned()) {
        return;
    }
    let chromium = tools.unwrap();
    let dir = common::fresh_dir("browser", "dashboard");
    let emu = common::emulated_box(
        &[(common::USER, common::PASSWORD)],
        Some(Tr064Config::default()),
        31,
    )
    .await;
    let pb = PhoneBlockStandIn::start(PhoneBlockConfig {
        token: "good".into(),
        ..PhoneBlockConfig::default()
    })
    .await
    .expect("stand-in on loopback");
    let cfg = config(&dir, emu.tr064_url().unwrap(), &pb.url());
    let d = common::Proc::spawn_logged(
        common::against_box(&["run"], &cfg, emu.addr()).env_remove("MINISIP4FB_WEB_PASSWORD"),
    );
    let url = crate::web::base(&d).await;
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    // The status page names the PhoneBlock copy once there is one.
    assert!(
        d.wait_for("PhoneBlock: full sync", Duration::from_secs(20))
            .await,
        "{}",
        d.log()
    );

    // The screenshot for the README when asked, else beside the test's files.
    let shot = std::env::var_os("MINISIP4FB_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("dashboard.png"));
    let mut node = tokio::process::Command::new("node")
        .arg(Path::new(SCRIPT_DIR).join("dashboard.mjs"))
        .args([url.as_str(), "dashboard-secret"])
        .arg(&shot)
        .env("CHROMIUM", &chromium)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (apt-get install nodejs)");
    let mut to_node = node.stdin.take().unwrap();
    let mut lines = tokio::io::BufReader::new(node.stdout.take().unwrap()).lines();
    let mut said = Vec::new();
    let verdict = tokio::time::timeout(Duration::from_secs(150), async {
        while let Ok(Some(line)) = lines.next_line().await {
            said.push(line.clone());
            if let Some(what) = line.strip_prefix("PRESS ") {
                let (number, keys) = what.split_once(' ').unwrap_or((what, ""));
                let spec = CallSpec::new(Caller::National(number.into()))
                    .keys(Duration::from_millis(300), keys);
                let outcome = emu.call(spec).await.outcome;
                to_node
                    .write_all(format!("{outcome:?}\n").as_bytes())
                    .await
                    .unwrap();
            } else if let Some(what) = line.strip_prefix("CALL ") {
                let caller = match what.split_once(' ') {
                    Some((number, name)) => Caller::Named {
                        number: number.into(),
                        name: name.into(),
                    },
                    None => Caller::National(what.into()),
                };
                let spec = CallSpec::new(caller).cancel_after(Duration::from_millis(1500));
                let outcome = emu.call(spec).await.outcome;
                to_node
                    .write_all(format!("{outcome:?}\n").as_bytes())
                    .await
                    .unwrap();
            } else if line == "PASS" || line.starts_with("FAIL") {
                return line;
            }
        }
        "the script ended without a verdict".into()
    })
    .await
    .unwrap_or_else(|_| "over 150 s".into());
    let _ = node.wait().await;
    // The verdict first: CI shows only the start of a long message.
    assert!(
        verdict == "PASS",
        "{verdict}\n--- the script ---\n{}\n--- daemon ---\n{}",
        said.join("\n"),
        d.log()
    );

    // What the clicks did, seen from the other side.
    let block = std::fs::read_to_string(dir.join("block.txt")).unwrap();
    assert!(
        block.contains("+49305551234  # blocked from the web"),
        "{block}"
    );
    let allow = std::fs::read_to_string(dir.join("allow.txt")).unwrap();
    assert!(
        allow.contains("+49401234567  # allowed from the web"),
        "{allow}"
    );
    let mut barred = false;
    for _ in 0..50 {
        barred = emu.barred_numbers().iter().any(|n| n == "0891234567");
        if barred {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        barred,
        "on the Box's call-barring list: {:?}",
        emu.barred_numbers()
    );
    assert!(
        !emu.barred_numbers().iter().any(|n| n == "0305551234"),
        "blocked without barring"
    );
    let contact = emu
        .phonebooks()
        .into_iter()
        .flat_map(|(_, c)| c)
        .find(|c| c.name == "Praxis Dr. Weber");
    assert_eq!(
        contact.map(|c| c.number),
        Some("0401234567".to_owned()),
        "in the Box's phonebook"
    );
    assert_eq!(
        pb.rated(),
        [(
            "+49305551234".to_owned(),
            "G_FRAUD".to_owned(),
            "Gewinnspiel-Betrug".to_owned()
        )]
    );
    let passed = std::fs::read_to_string(dir.join("passed.txt")).unwrap();
    assert_eq!(passed, "", "kept for good, then taken back");
    assert_eq!(pb.violations(), Vec::<String>::new());
    assert_eq!(emu.violations().await, Vec::<String>::new());
    assert!(shot.exists());
}
