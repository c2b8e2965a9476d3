//! The `roost` binary: `roost serve [[--config] zoo.cfg]` and its tools.

use anyhow::{bail, Context};
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage:
  roost serve [[--config] FILE]   run a server from a zoo.cfg (which must set dataDir); without one,
                                  standalone on 127.0.0.1:2181 with data in ./roost-data
  roost cli [-server HOST:PORT] [CMD ARGS]  zkCli-compatible shell; with CMD, run it once and exit
  roost log dump DIR              print every record of the transaction log in DIR (dataLogDir/roost-wal)
  roost log entries DIR           print the records a restart would recover from DIR, decoded, one a line
  roost snapshot inspect FILE     print a snapshot's header, checksums, sessions and nodes
  roost version                   print the version";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match run(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("roost: error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

fn run(args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("cli") => roost::cli::run(&args[1..]),
        Some("log") => match (args.get(1).map(String::as_str), args.get(2)) {
            (Some("dump"), Some(dir)) => {
                let mut out = std::io::stdout().lock();
                roost::wal::dump(std::path::Path::new(dir), &mut out)
                    .with_context(|| format!("dumping the log in {dir}"))
            }
            (Some("entries"), Some(dir)) => {
                let path = std::path::Path::new(dir);
                let mut out = std::io::stdout().lock();
                roost::wal::dump::live_records(path)
                    .and_then(|log| {
                        roost::wal::dump::print_live(
                            &log,
                            &roost::consensus::wire::describe_entry,
                            &mut out,
                        )
                    })
                    .with_context(|| format!("reading the log in {dir}"))
            }
            _ => bail!("usage: roost log dump DIR | roost log entries DIR"),
        },
        Some("snapshot") => match (args.get(1).map(String::as_str), args.get(2)) {
            (Some("inspect"), Some(file)) => {
                let mut out = std::io::stdout().lock();
                roost::snapshot::inspect(std::path::Path::new(file), &mut out)
                    .with_context(|| format!("inspecting {file}"))
            }
            _ => bail!("usage: roost snapshot inspect FILE"),
        },
        Some("version" | "--version" | "-V") => {
            println!("roost {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

/// A panic on any executor thread ends the process, in every build (the
/// release profile aborts already): a server with a dead consensus or log
/// executor must not linger half-alive, holding its port and sessions,
/// where a supervisor would restart it.
fn abort_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::abort();
    }));
}

fn serve(args: &[String]) -> anyhow::Result<()> {
    abort_on_panic();
    let mut config_path: Option<PathBuf> = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--config" | "-c" => {
                let v = args.get(i + 1).context("--config needs a file name")?;
                config_path = Some(PathBuf::from(v));
                i += 2;
            }
            // As zkServer.sh passes it: `roost serve /etc/zookeeper/zoo.cfg`.
            file if !file.starts_with('-') && config_path.is_none() => {
                config_path = Some(PathBuf::from(file));
                i += 1;
            }
            other => bail!("unknown option {other:?} for serve\n{USAGE}"),
        }
    }
    let config = match &config_path {
        Some(path) => roost::config::Config::load(path)?,
        None => roost::config::Config::default(),
    };
    init_logging(config.log_level.as_deref());
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(path) = &config_path {
        tracing::info!(config = %path.display(), "configuration loaded");
    }
    roost::runtime::run(config)
}

/// One line per event on stderr; RUST_LOG wins over `roost.logLevel`.
fn init_logging(config_level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(config_level.unwrap_or("info")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
