//! `portal`: parses the command line and runs the chosen command; errors end in one line.

use std::process::ExitCode;

use clap::Parser;
use portal::config::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match cli.settings.resolve() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = portal::init_logging(&cli.settings.log, &cli.settings.log_format) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    // Before any other thread exists, so that every thread after it inherits the half; the
    // hashing threads take every core back (see `portal::cores`).
    let async_cores = portal::cores::keep_to_half();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(async_cores)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = cli.command.unwrap_or(Command::Serve { no_worker: false });
    match runtime.block_on(portal::run(command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
