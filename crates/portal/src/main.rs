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
    let command = cli.command.unwrap_or(Command::Serve { no_worker: false });
    // The web server hashes passwords: its other threads keep to half the cores and its
    // hashing threads take every core back (see `portal::cores`). Done before any other thread
    // exists, so that every thread after it inherits the half. Other commands (a worker
    // process, the command line) hash nothing and keep every core.
    let async_cores = match command {
        Command::Serve { .. } => portal::cores::keep_to_half(),
        _ => portal::cores::count(),
    };
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
    match runtime.block_on(portal::run(command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
