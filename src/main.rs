//! The `minisip4fb` binary: everything is in [`minisip4fb::cli`].

fn main() {
    std::process::exit(minisip4fb::cli::main());
}
