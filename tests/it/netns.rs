//! The phone follows the network (issue 33, point 2), in two network
//! namespaces the test makes, the Box's and the phone's, joined by a veth
//! pair: nothing leaves them. The daemon runs in the phone's (`ip netns
//! exec`, which also gives it its own /etc/hosts for the Box's name), the
//! emulated Boxes in the Box's, on a thread of this process that entered
//! it. Needs root and iproute2; `MINISIP4FB_SKIP=netns` runs without.

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use minisip4fb_emulator::{CallOutcome, CallSpec, Caller, Emulator, EmulatorConfig};

use crate::common::{self, BIN, PASSWORD, Proc, USER};

/// Two namespaces and the veth between them; all gone when dropped.
struct Net {
    boxes: String,
    phone: String,
    /// `ip netns exec` puts /etc/netns/NAME/hosts over /etc/hosts.
    hosts: PathBuf,
}

impl Net {
    /// `None` when the part is skipped by name.
    fn make() -> Option<Net> {
        let root = unsafe { libc::geteuid() } == 0;
        let ip = common::tool("ip");
        let missing = match (root, &ip) {
            (_, None) => Some("needs ip: sudo apt-get install -y iproute2".to_owned()),
            (false, _) => Some("needs root to make network namespaces (ip netns add)".to_owned()),
            _ => None,
        };
        if !common::require("netns", missing) {
            return None;
        }
        let id = std::process::id();
        let net = Net {
            boxes: format!("ms4fb-box-{id}"),
            phone: format!("ms4fb-phone-{id}"),
            hosts: PathBuf::from(format!("/etc/netns/ms4fb-phone-{id}")),
        };
        let (b, p) = (format!("msb{id}"), format!("msp{id}"));
        net.ip(&["netns", "add", &net.boxes]);
        net.ip(&["netns", "add", &net.phone]);
        net.ip(&["link", "add", &b, "type", "veth", "peer", "name", &p]);
        net.ip(&["link", "set", &b, "netns", &net.boxes]);
        net.ip(&["link", "set", &p, "netns", &net.phone]);
        for (ns, dev, addr) in [
            (&net.boxes, &b, "10.233.0.1/24"),
            (&net.phone, &p, "10.233.0.2/24"),
        ] {
            net.ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            net.ip(&["-n", ns, "link", "set", dev, "up"]);
            net.ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        std::fs::create_dir_all(&net.hosts).unwrap();
        net.box_is_at("10.233.0.1");
        Some(net)
    }

    fn ip(&self, args: &[&str]) {
        let out = Command::new(common::tool("ip").unwrap())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// What `fritz.test` resolves to in the phone's namespace. Written in
    /// place: the bind mount `ip netns exec` made shows the new text.
    fn box_is_at(&self, ip: &str) {
        std::fs::write(
            self.hosts.join("hosts"),
            format!("127.0.0.1 localhost\n{ip} fritz.test\n"),
        )
        .unwrap();
    }

    fn phone_dev(&self) -> String {
        format!("msp{}", std::process::id())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth, and the pair.
        for ns in [&self.phone, &self.boxes] {
            let _ = Command::new(common::tool("ip").unwrap())
                .args(["netns", "del", ns])
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.hosts);
    }
}

/// An emulated Box in namespace `ns`: it runs on a thread of its own that
/// entered the namespace (a namespace is a thread's), so that its sockets
/// are there; dropping the guard stops it, as if the Box were switched off.
struct BoxIn {
    emu: Emulator,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn box_in(ns: &str, bind: &str) -> BoxIn {
    let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    let cfg = EmulatorConfig {
        bind: bind.parse().unwrap(),
        accounts: vec![(USER.into(), PASSWORD.into())],
        expires: 300,
        options_interval: Some(Duration::from_millis(500)),
        ..EmulatorConfig::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        // SAFETY: a valid namespace file this thread keeps open.
        assert_eq!(
            unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            tx.send(
                Emulator::start(cfg)
                    .await
                    .expect("the Box in its namespace"),
            )
            .unwrap();
            let _ = stopped.await;
        });
    });
    BoxIn {
        emu: rx.recv().unwrap(),
        _stop: stop,
    }
}

async fn rings(emu: &Emulator, number: &str) -> CallOutcome {
    let spec =
        CallSpec::new(Caller::National(number.into())).cancel_after(Duration::from_millis(800));
    emu.call(spec).await.outcome
}

/// Waits until the Box holds a binding whose Contact is at `ip`.
async fn bound_at(emu: &Emulator, ip: &str, limit: Duration) -> bool {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        if emu
            .bindings()
            .await
            .iter()
            .any(|b| b.contact.ip().to_string() == ip)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn the_phone_follows_its_own_and_the_boxs_new_address() {
    let Some(net) = Net::make() else { return };
    let first = box_in(&net.boxes, "10.233.0.1:5060");
    let phone = Proc::spawn_logged(
        Command::new(common::tool("ip").unwrap())
            .args(["netns", "exec", &net.phone, BIN, "run"])
            .args([
                "--fritzbox",
                "fritz.test",
                "--user",
                USER,
                "--bind",
                "0.0.0.0:5062",
            ])
            .env("MINISIP4FB_PASSWORD", PASSWORD)
            .stdout(Stdio::null()),
    );
    assert!(
        bound_at(&first.emu, "10.233.0.2", Duration::from_secs(10)).await,
        "registered from 10.233.0.2: {}",
        phone.log()
    );
    assert_eq!(
        rings(&first.emu, "0301234567").await,
        CallOutcome::RangUntilCancelled
    );

    // A new DHCP lease: the old address goes, a new one comes.
    let dev = net.phone_dev();
    net.ip(&[
        "-n",
        &net.phone,
        "addr",
        "del",
        "10.233.0.2/24",
        "dev",
        &dev,
    ]);
    net.ip(&[
        "-n",
        &net.phone,
        "addr",
        "add",
        "10.233.0.3/24",
        "dev",
        &dev,
    ]);
    let moved = std::time::Instant::now();
    assert!(
        bound_at(&first.emu, "10.233.0.3", Duration::from_secs(10)).await,
        "registered again from the new address: {}",
        phone.log()
    );
    let took = moved.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "within a look (3 s) and a round trip: {took:?}"
    );
    let bindings = first.emu.bindings().await;
    assert_eq!(
        bindings.len(),
        1,
        "the new Contact replaced the old: {bindings:?}"
    );
    assert!(
        phone
            .log()
            .contains("our address towards the FRITZ!Box changed from 10.233.0.2 to 10.233.0.3"),
        "{}",
        phone.log()
    );
    assert_eq!(
        rings(&first.emu, "0301234567").await,
        CallOutcome::RangUntilCancelled,
        "the Box rings the new address"
    );
    assert_eq!(first.emu.violations().await, Vec::<String>::new());

    // The Box moves: its name now says 10.233.0.4, and the old one is off,
    // once the phone knows its keepalives (two OPTIONS, 0.5 s apart).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    net.ip(&[
        "-n",
        &net.boxes,
        "addr",
        "add",
        "10.233.0.4/24",
        "dev",
        &format!("msb{}", std::process::id()),
    ]);
    let second = box_in(&net.boxes, "10.233.0.4:5060");
    net.box_is_at("10.233.0.4");
    drop(first);
    let off = std::time::Instant::now();
    assert!(
        bound_at(&second.emu, "10.233.0.3", Duration::from_secs(15)).await,
        "registered at the Box's new address: {}",
        phone.log()
    );
    let took = off.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "within its quiet (1.5 s), a resolve and a round trip, not at the refresh (60 s): {took:?}\n{}",
        phone.log()
    );
    assert!(
        phone.log().contains(
            "the FRITZ!Box's name fritz.test now resolves to 10.233.0.4 (was 10.233.0.1)"
        ),
        "{}",
        phone.log()
    );
    assert_eq!(
        rings(&second.emu, "0301234567").await,
        CallOutcome::RangUntilCancelled,
        "the new Box's INVITEs are taken"
    );
    assert_eq!(second.emu.violations().await, Vec::<String>::new());
    drop(phone);
}
