//! The `minisip4fb` command: what it does is in [`cli`]; the phone, the
//! rules and the daemon are the `minisip4fb` library's.

// The library's print macros (see its lib.rs): a closed stdout must not
// end a command or the daemon.
#[macro_use]
extern crate minisip4fb;

mod cli;

fn main() {
    std::process::exit(cli::main());
}
