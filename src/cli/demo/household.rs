//! The demo's household: its config (the same file as `run --config`)
//! and the calls its two Boxes place, each with what must come of it.

use std::time::Duration;

use minisip4fb::call::EventKind;
use minisip4fb_emulator::{CallOutcome, CallSpec, Caller, Clip};

/// The demo household's config: the same file as `run --config`, with
/// TR-064 so that `setup` can create the phone's account and the rules can
/// use the Box's phonebook and call-barring list, and PhoneBlock's
/// community list. `{sip}` and `{tr064}` are the emulated Box's addresses,
/// `{phoneblock}` the emulated PhoneBlock's.
pub(super) const DEMO_CONFIG: &str = r#"
[fritzbox]
name = "home"
host = "{sip}"
bind = "127.0.0.1:0"
tr064 = "{tr064}"
admin_user = "admin"
admin_password_file = "admin-password"

# A second line: the office's IP phone at the office's Box. setup
# --account office creates it there and fills in user and password_file;
# its call monitor tells of calls that never reached us.
[[account]]
name = "office"
host = "{office_sip}"
bind = "127.0.0.1:0"
tr064 = "{office_tr064}"
admin_user = "admin"
admin_password_file = "admin-password"
call_monitor = true
call_monitor_address = "{office_monitor}"
incoming = ["030 2222222"]

[numbers]
country = "DE"
area_code = "030"

[phoneblock]
api = "{phoneblock}"
token_file = "phoneblock-token"

[calllog]
db = "calls.db"

# demo --web: the dashboard's "block" and "allow" append to these lists.
[web]
block_list = "block.txt"
allow_list = "allow.txt"

[[rule]]
name = "family"
lists = ["fritzbox:Telefonbuch"]
action = "ring"

[[rule]]
name = "allowed from the web"
lists = ["allow.txt"]
action = "ring"

[[rule]]
name = "blocked from the web"
lists = ["block.txt"]
action = "terminate"

[[rule]]
name = "PhoneBlock community"
lists = ["phoneblock:community"]
action = "terminate"

[[rule]]
name = "premium numbers"
types = ["premium"]
action = "terminate-and-bar"

[[rule]]
name = "spam phonebook"
names = ["SPAM*"]
action = "terminate"

[[rule]]
name = "mass calling"
numbers = ["0137*"]
action = "terminate"

[[rule]]
name = "withheld numbers"
anonymous = true
action = "terminate"
announcement = "default"
max_announcement = "3s"

# Robocalls and dialers do not listen; people do. A caller from abroad
# is asked to press a digit said at random; who does may call again.
[[rule]]
name = "from abroad: are you a person?"
foreign = true
action = "challenge"
dtmf_timeout = "3s"

[[rule]]
name = "office: no mobiles"
accounts = ["office"]
numbers = ["0176*"]
action = "terminate"

[[rule]]
name = "door opener"
numbers = ["01701234567"]
action = "answer"
pin = "470815"
dtmf_timeout = "2s"
"#;

/// The premium-rate caller, who must end up on the Box's call-barring list.
pub(super) const PREMIUM: &str = "09005551234";
/// The caller PhoneBlock's community knows, who must be reported back.
const COMMUNITY: &str = "04055512345";
pub(super) const COMMUNITY_E164: &str = "+494055512345";
/// Not listed itself, but its neighbours +49157712345 01 and 02 are: a
/// spam range PhoneBlock forms.
const IN_RANGE: &str = "015771234509";

pub(super) struct Scene {
    pub title: &'static str,
    pub spec: CallSpec,
    pub expect: CallOutcome,
    pub expect_text: &'static str,
    pub line: Line,
    /// The event the daemon must tell of it.
    pub tells: Option<EventKind>,
}

/// Which Box places a scene's call.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Line {
    Home,
    Office,
    /// The office's Box, after it dropped our registration without a word.
    OfficeForgot,
}

/// The person calling from abroad.
const ABROAD: &str = "00442079460000";

/// Every digit of the phone's built-in voice, in both languages: a person
/// listening recognises the one asked for (the emulated caller matches
/// the audio it hears against these).
fn the_voice() -> Vec<Clip> {
    let v = minisip4fb::media::challenge::voice();
    v.digits
        .iter()
        .flat_map(|lang| {
            lang.iter()
                .enumerate()
                .map(|(d, clip)| (char::from(b'0' + d as u8), clip.samples().to_vec()))
        })
        .collect()
}

/// The office's number: its IP phone rings for it only.
const OFFICE_NUMBER: &str = "0302222222";

fn office(caller: Caller) -> CallSpec {
    let mut spec = CallSpec::new(caller).cancel_after(Duration::from_millis(900));
    spec.called = OFFICE_NUMBER.into();
    spec
}

pub(super) fn scenes() -> Vec<Scene> {
    let ms = Duration::from_millis;
    vec![
        Scene {
            title: "a contact in the Box's phonebook",
            spec: CallSpec::new(Caller::Named {
                number: "0301234567".into(),
                name: "Oma".into(),
            })
            .cancel_after(ms(1200)),
            expect: CallOutcome::RangUntilCancelled,
            expect_text: "must keep ringing",
            line: Line::Home,
            tells: None,
        },
        Scene {
            title: "a premium-rate number",
            spec: CallSpec::new(Caller::National(PREMIUM.into())),
            expect: CallOutcome::TerminatedByPhone,
            expect_text: "must be terminated (and barred at the Box)",
            line: Line::Home,
            tells: None,
        },
        Scene {
            title: "a number PhoneBlock's community reported 50 times",
            spec: CallSpec::new(Caller::National(COMMUNITY.into())),
            expect: CallOutcome::TerminatedByPhone,
            expect_text: "must be terminated (and reported to PhoneBlock)",
            line: Line::Home,
            tells: None,
        },
        Scene {
            title: "a number in a block of spam numbers (a PhoneBlock spam range)",
            spec: CallSpec::new(Caller::National(IN_RANGE.into())),
            expect: CallOutcome::TerminatedByPhone,
            expect_text: "must be terminated: its neighbours have 24 votes",
            line: Line::Home,
            tells: None,
        },
        Scene {
            title: "a number from an imported spam phonebook, named \"SPAM: …\" by the Box",
            spec: CallSpec::new(Caller::Named {
                number: "02211234567".into(),
                name: "SPAM: Gewinnspiel".into(),
            }),
            expect: CallOutcome::TerminatedByPhone,
            expect_text: "must be terminated (a rule on the caller's name)",
            line: Line::Home,
            tells: None,
        },
        Scene {
            title: "a caller who withholds the number",
            spec: CallSpec::new(Caller::Anonymous),
            expect: CallOutcome::TerminatedByPhone,
            expect_text: "must hear why (3 s of the built-in announcement), then be hung up",
            line: Line::Home,
            tells: None,
        },
        Scene {
            title: "your mobile, keying PIN 470815 and 1# to open the door",
            spec: CallSpec::new(Caller::National("01701234567".into())).keys(ms(300), "4708151#"),
            expect: CallOutcome::TerminatedByPhone,
            expect_text: "must be answered, read the keys and hang up (digits 1: the dtmf event)",
            line: Line::Home,
            tells: None,
        },
        Scene {
            title: "an internal call from another phone of the Box",
            spec: CallSpec::new(Caller::Internal {
                number: "**622".into(),
                name: "Haui Mobil".into(),
            })
            .cancel_after(ms(900)),
            expect: CallOutcome::RangUntilCancelled,
            expect_text: "must never be touched",
            line: Line::Home,
            tells: None,
        },
        Scene {
            title: "a caller who hangs up first",
            spec: CallSpec::new(Caller::National("01712345678".into())).cancel_after(ms(400)),
            expect: CallOutcome::RangUntilCancelled,
            expect_text: "must ring until the caller gives up",
            line: Line::Home,
            tells: None,
        },
        Scene {
            title: "a person calling from abroad, who presses the digit the phone says",
            spec: CallSpec::new(Caller::International(ABROAD.into()))
                .press_what_is_said(the_voice()),
            expect: CallOutcome::TerminatedByPhone,
            expect_text: "must be asked to press a digit said at random, pass, hear \"call again\" and be let through from now on (challenge_passed)",
            line: Line::Home,
            tells: Some(EventKind::ChallengePassed),
        },
        Scene {
            title: "the same person, calling again",
            spec: CallSpec::new(Caller::International(ABROAD.into())).cancel_after(ms(700)),
            expect: CallOutcome::RangUntilCancelled,
            expect_text: "passed the check: must ring",
            line: Line::Home,
            tells: None,
        },
        Scene {
            title: "a dialer from abroad that does not listen",
            spec: CallSpec::new(Caller::International("0033144556677".into())),
            expect: CallOutcome::TerminatedByPhone,
            expect_text: "must be asked, wait 3 s in vain and be hung up (challenge_failed)",
            line: Line::Home,
            tells: Some(EventKind::ChallengeFailed),
        },
        Scene {
            title: "on the office line, a mobile number the office's rule turns away",
            spec: office(Caller::National("01761234567".into())),
            expect: CallOutcome::TerminatedByPhone,
            expect_text: "must be terminated (a rule for the office's account only)",
            line: Line::Office,
            tells: None,
        },
        Scene {
            title: "on the office line, after the office's Box dropped us without a word",
            spec: office(Caller::National("0401234567".into())),
            expect: CallOutcome::NoBinding,
            expect_text: "never reaches the phone: its call monitor must say so (call_not_delivered)",
            line: Line::OfficeForgot,
            tells: Some(EventKind::CallNotDelivered),
        },
    ]
}
