use clap::Parser;
use minisip4fb::cli::{Cli, Command, init_logging, init_logging_level, init_logging_with};

fn main() {
    let cli = Cli::parse();
    // One thread for the daemon's own tasks (reloads, hooks, TR-064); the
    // phone answers SIP on a thread of its own and the book-keeper writes
    // the call log on another, so nothing here can delay a call. Every
    // thread costs memory (stack, malloc arena): no more than that.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("minisip4fb: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match cli.command {
        Command::Run(args) => {
            let level = if args.verbose {
                "minisip4fb=trace"
            } else {
                "minisip4fb=info"
            };
            init_logging_with(
                level,
                args.log_format == minisip4fb::cli::run::LogFormat::Json,
            );
            rt.block_on(minisip4fb::cli::run::run(args))
        }
        Command::Check(args) => {
            init_logging_level("minisip4fb=warn");
            rt.block_on(minisip4fb::cli::check::check(args))
        }
        Command::Calls(args) => minisip4fb::cli::calls::calls(args),
        Command::Stats(args) => minisip4fb::cli::calls::stats(args),
        Command::Setup(args) => minisip4fb::cli::tr064::setup(args),
        Command::Barring(args) => minisip4fb::cli::tr064::barring(args),
        Command::Bench(args) => {
            init_logging_level("minisip4fb=error");
            rt.block_on(minisip4fb::cli::bench::bench(args))
        }
        Command::BenchFloor(args) => minisip4fb::cli::floor::floor(args),
        Command::Demo(args) => {
            // The phone's own log would interleave with the story; -v shows it.
            init_logging_level(if args.verbose {
                "minisip4fb=trace"
            } else {
                "minisip4fb=error"
            });
            rt.block_on(minisip4fb::cli::demo::demo())
        }
        Command::Emulate(args) => {
            init_logging(false);
            rt.block_on(minisip4fb::cli::emulate::emulate(args))
        }
    };
    std::process::exit(code);
}
