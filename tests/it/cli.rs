//! The command's own documentation: completions and man pages come from
//! the same definitions as `--help` (the Debian package ships them).

use std::process::Command;

use crate::common;
use crate::common::BIN;

#[test]
fn completions_for_every_shell_the_package_ships() {
    for (shell, marker) in [
        ("bash", "complete -F _minisip4fb"),
        ("zsh", "#compdef minisip4fb"),
        ("fish", "complete -c minisip4fb"),
    ] {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(marker), "{shell}: {text:.200}");
        assert!(
            text.contains("phoneblock"),
            "{shell}: the commands are in it"
        );
    }
    let bad = Command::new(BIN)
        .args(["completions", "cmd.exe"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn man_pages_for_the_command_and_each_subcommand() {
    let dir = common::fresh_dir("cli", "man");
    common::succeeded(Command::new(BIN).arg("manpages").arg(&dir));
    let main = std::fs::read_to_string(dir.join("minisip4fb.1")).unwrap();
    assert!(main.starts_with(".ie"), "roff: {main:.100}");
    assert!(main.contains("/etc/minisip4fb/config.toml"));
    let run = std::fs::read_to_string(dir.join("minisip4fb-run.1")).unwrap();
    assert!(run.contains("\\-\\-config"), "{run:.300}");
    assert!(
        !dir.join("minisip4fb-bench-floor.1").exists(),
        "hidden commands have no page"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
