//! `roost cli`: a shell for people, command-for-command zkCli.sh.
//!
//! ```text
//! roost cli [-server host:port[,host:port...]] [-timeout ms] [-r] [cmd args...]
//! ```
//!
//! With a command it runs just that command and exits (0 on success, 1 on
//! failure with zkCli's message on stderr, 127 for an unknown command), so
//! scripts can use it. Without one it is an interactive shell with zkCli's
//! prompt, line editing and history (rustyline) when stdin is a terminal,
//! or a plain line reader when it is not. Watch events are printed as they
//! arrive, in zkCli's `WATCHER::` format.
//!
//! Layout: [`client`] speaks the protocol (with the project's codec),
//! [`commands`] maps zkCli's commands onto requests, [`mod@format`] renders
//! zkCli's output. This file is the edge: arguments, terminal, exit codes.

pub mod client;
pub mod commands;
pub mod format;

use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use client::{parse_hosts, Client, Event, EventSink};
use commands::{tokenize, Flow, Output, Shell};

/// zkCli's default session timeout.
const SESSION_TIMEOUT_MS_DEFAULT: i32 = 30_000;

const USAGE: &str =
    "usage: roost cli [-server host:port[,host:port...]] [-timeout ms] [-r] [cmd args...]";

/// Prints watch events without tearing the line being edited: while
/// rustyline is reading, events go through its external printer (which
/// redraws the prompt); otherwise straight to stdout, so an event caused
/// by a command appears before that command's output, as in zkCli.
struct EventPrinter {
    /// Session events (SyncConnected, Disconnected, ...) are noise in
    /// one-shot mode, where stdout is meant for the command's result.
    show_session: bool,
    print_watches: Arc<AtomicBool>,
    external: Mutex<Option<Box<dyn rustyline::ExternalPrinter + Send>>>,
    in_readline: AtomicBool,
}

impl EventPrinter {
    fn print(&self, e: &Event) {
        if (e.path.is_none() && !self.show_session) || !self.print_watches.load(Ordering::SeqCst) {
            return;
        }
        let text = format::watched_event(e.state, e.kind, e.path.as_deref());
        if self.in_readline.load(Ordering::SeqCst) {
            let mut ext = self.external.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(p) = ext.as_mut() {
                if p.print(text.clone()).is_ok() {
                    return;
                }
            }
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

struct Options {
    server: String,
    timeout_ms: i32,
    command: Vec<String>,
}

fn parse_options(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options {
        server: "localhost:2181".into(),
        timeout_ms: SESSION_TIMEOUT_MS_DEFAULT,
        command: Vec::new(),
    };
    let mut i = 0;
    // Options come first; the first other word starts the command, as in
    // ZooKeeperMain.MyCommandOptions.
    while i < args.len() {
        let value = |i: usize| {
            args.get(i + 1)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{} needs a value\n{USAGE}", args[i]))
        };
        match args[i].as_str() {
            "-server" | "--server" => {
                o.server = value(i)?;
                i += 2;
            }
            "-timeout" | "--timeout" => {
                o.timeout_ms = value(i)?
                    .parse()
                    .map_err(|_| anyhow::anyhow!("-timeout needs milliseconds\n{USAGE}"))?;
                i += 2;
            }
            // Accepted for compatibility: this shell always waits for the
            // first connection, and never asks for read-only servers.
            "-r" | "-waitforconnection" => i += 1,
            "-client-configuration" => {
                value(i)?;
                eprintln!("roost cli: -client-configuration is ignored");
                i += 2;
            }
            "-h" | "--help" => {
                println!("{USAGE}\n\n{}", commands::usage_text());
                std::process::exit(0);
            }
            _ => {
                o.command = args[i..].to_vec();
                break;
            }
        }
    }
    if o.server.contains('/') {
        anyhow::bail!(
            "a chroot in -server ({}) is not supported by roost cli yet",
            o.server
        );
    }
    Ok(o)
}

/// Entry point for `roost cli ...`. Returns only on success; command
/// failures exit with zkCli's status after printing its message.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let opts = parse_options(args)?;
    let one_shot = !opts.command.is_empty();
    // `help` needs no server: answer it without connecting (zkCli would
    // wait for one first), so it works where there is none.
    if one_shot && opts.command[0] == "help" {
        eprint!("{}", commands::usage_text());
        return Ok(());
    }
    let print_watches = Arc::new(AtomicBool::new(true));
    let printer = Arc::new(EventPrinter {
        show_session: !one_shot,
        print_watches: Arc::clone(&print_watches),
        external: Mutex::new(None),
        in_readline: AtomicBool::new(false),
    });
    let sink: EventSink = {
        let p = Arc::clone(&printer);
        Arc::new(move |e: &Event| p.print(e))
    };
    if !one_shot {
        println!("Connecting to {}", opts.server);
        if std::io::stdin().is_terminal() {
            println!("Welcome to Roost (ZooKeeper-compatible shell)!");
        }
    }
    let (client, first) = Client::new(parse_hosts(&opts.server), opts.timeout_ms, sink);
    let mut shell = Shell {
        client,
        connect_string: opts.server.clone(),
        history: Vec::new(),
        print_watches,
    };
    if one_shot {
        if let Err(e) = first {
            eprintln!("Unable to connect to {}: {e}", opts.server);
            std::process::exit(1);
        }
        shell.history.push(opts.command.join(" "));
        let (_, code) = run_words(&mut shell, &opts.command);
        shell.client.close_quietly();
        std::process::exit(code);
    }
    if let Err(e) = first {
        // Like zkCli, keep going: the client retries in the background.
        eprintln!("Unable to connect to {}: {e} (retrying)", opts.server);
    }
    interactive(&mut shell, &printer);
    shell.client.close_quietly();
    Ok(())
}

/// Runs one command and prints its output; returns the flow and the exit
/// status one-shot mode would use.
fn run_words(shell: &mut Shell, words: &[String]) -> (Flow, i32) {
    let mut out = Output::default();
    let result = shell.execute(words, &mut out);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.out.as_bytes());
    let _ = stdout.flush();
    drop(stdout);
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(out.err.as_bytes());
    let code = match result {
        Ok(flow) => return (flow, 0),
        Err(e) => {
            let _ = writeln!(stderr, "{e}");
            e.exit_code()
        }
    };
    let _ = stderr.flush();
    (Flow::Continue, code)
}

fn run_line(shell: &mut Shell, line: &str) -> Flow {
    let words = tokenize(line);
    if words.is_empty() {
        return Flow::Continue;
    }
    shell.history.push(line.trim().to_owned());
    run_words(shell, &words).0
}

fn prompt(shell: &Shell) -> String {
    format!(
        "[zk: {}({}) {}] ",
        shell.connect_string,
        shell.client.phase().name(),
        shell.history.len()
    )
}

fn interactive(shell: &mut Shell, printer: &EventPrinter) {
    if !std::io::stdin().is_terminal() {
        // Piped input: no editing and no prompt (zkCli without JLine
        // prints none either), so the output is just the results.
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if run_line(shell, &line) == Flow::Quit {
                break;
            }
        }
        return;
    }
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("roost cli: no line editing ({e})");
            return;
        }
    };
    if let Ok(p) = editor.create_external_printer() {
        *printer.external.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(p));
    }
    loop {
        let prompt = prompt(shell);
        printer.in_readline.store(true, Ordering::SeqCst);
        let line = editor.readline(&prompt);
        printer.in_readline.store(false, Ordering::SeqCst);
        match line {
            Ok(text) => {
                // A multi-line paste arrives as one string (bracketed paste):
                // run it line by line, as zkCli does with pasted commands.
                for line in text.split(['\n', '\r']) {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line);
                    }
                    if run_line(shell, line) == Flow::Quit {
                        return;
                    }
                }
            }
            // Ctrl-C abandons the line being typed, like a Unix shell.
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("roost cli: {e}");
                break;
            }
        }
    }
}
