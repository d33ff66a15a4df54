use clap::Parser;
use minisip4fb::cli::{Cli, Command, init_logging};

fn main() {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
            init_logging(args.verbose);
            rt.block_on(minisip4fb::cli::run::run(args))
        }
    };
    std::process::exit(code);
}
