//! goleash: find goroutine leaks in Go programs.

mod analysis;
mod cli;
mod cmd;
mod collect;
mod config;
mod demo;
mod doc;
mod gate;
mod gotest;
mod history;
mod input;
mod progress;
mod prometheus;
mod render;
mod repo;
mod report;
mod scan;
mod source_map;
mod store;
mod watch;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Find goroutine leaks in Go programs.
#[derive(Parser, Debug)]
#[command(
    name = "goleash",
    version,
    about,
    after_help = "EXAMPLES:
    goleash demo                             see it find a leak in a simulated service
    goleash inspect dump.txt                 group a dump's goroutines by stack
    go test ./... 2>&1 | goleash             read test output, panics and goleak reports
    goleash inspect http://127.0.0.1:6060    read a live service's /debug/pprof
    goleash watch http://127.0.0.1:6060      watch a live service for leaks, keep history
    goleash report -o report.html            draw the history of a watch
    goleash scan --prometheus http://prom:9090   find the leaking services of a fleet
    goleash test ./...                       run the tests, report what each one leaks

EXIT STATUS:
    0 no problem, 1 leaks found or gate failed, 2 usage or input error"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    Inspect(cmd::inspect::InspectArgs),
    Diff(cmd::diff::DiffArgs),
    Check(cmd::check::CheckArgs),
    Watch(cmd::watch::WatchArgs),
    Report(cmd::report::ReportArgs),
    Scan(cmd::scan::ScanArgs),
    Demo(cmd::demo::DemoArgs),
    Test(cmd::test::TestArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(after_help = "EXAMPLES:
    goleash completions bash > ~/.local/share/bash-completion/completions/goleash
    goleash completions zsh > ~/.zfunc/_goleash      (with fpath+=~/.zfunc before compinit)
    goleash completions fish > ~/.config/fish/completions/goleash.fish")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per subcommand into a directory.
    #[command(after_help = "EXAMPLES:
    goleash man > ~/.local/share/man/man1/goleash.1 && man goleash
    goleash man --dir ~/.local/share/man/man1      goleash.1 and goleash-inspect.1, …")]
    Man {
        /// Write goleash.1 and one goleash-SUBCOMMAND.1 per subcommand here.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// Runs one test binary for `goleash test` (go test's -exec program).
    #[command(name = "__test-exec", hide = true)]
    TestExec(gotest::exec::ExecArgs),
}

/// How a run ended, as the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 0: nothing wrong.
    Ok,
    /// 1: leaks found, or a gate failed.
    Leaks,
    /// 2: bad usage or unreadable input.
    InputError,
}

/// Prints an error with its causes, on one line.
pub fn report_error(error: &anyhow::Error) {
    let mut message = format!("goleash: error: {error}");
    for cause in error.chain().skip(1) {
        message.push_str(&format!(": {cause}"));
    }
    // Not `eprintln!`, which panics when stderr is what failed: the exit status still says so.
    let _ = writeln!(io::stderr(), "{message}");
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Completions generated from the same definitions the parser uses, so they never drift.
fn write_completions(shell: clap_complete::Shell) -> anyhow::Result<Outcome> {
    use clap::CommandFactory;
    use std::io::Write;
    let mut command = Cli::command();
    // Into a buffer: clap_complete panics when its writer fails (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "goleash", &mut script);
    io::stdout().lock().write_all(&script)?;
    Ok(Outcome::Ok)
}

/// The manual pages, from the same definitions: `goleash(1)` to stdout, or it and one page
/// per subcommand into `dir`.
fn write_man(dir: Option<&std::path::Path>) -> anyhow::Result<Outcome> {
    use anyhow::Context;
    use clap::CommandFactory;
    let command = Cli::command();
    let Some(dir) = dir else {
        clap_mangen::Man::new(command).render(&mut io::stdout().lock())?;
        return Ok(Outcome::Ok);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut pages = vec![("goleash".to_string(), command.clone())];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("goleash-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut file =
            std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
        clap_mangen::Man::new(page).render(&mut file)?;
    }
    eprintln!("goleash: wrote the manual pages to {}", dir.display());
    Ok(Outcome::Ok)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let command = match cli.command {
        Some(command) => command,
        // `go test ./... 2>&1 | goleash`: with input piped in, reading it is the obvious job.
        None if !io::stdin().is_terminal() => {
            Command::Inspect(cmd::inspect::InspectArgs::parse_default())
        }
        None => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            return ExitCode::from(2);
        }
    };
    let result = match &command {
        Command::TestExec(args) => match gotest::exec::run(args) {
            Ok(code) => return ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => {
                report_error(&e);
                return ExitCode::from(2);
            }
        },
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Diff(args) => cmd::diff::run(args),
        Command::Check(args) => cmd::check::run(args),
        Command::Watch(args) => cmd::watch::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Scan(args) => cmd::scan::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Test(args) => cmd::test::run(args),
        Command::Completions { shell } => write_completions(*shell),
        Command::Man { dir } => write_man(dir.as_deref()),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Leaks) => ExitCode::from(1),
        Ok(Outcome::InputError) => ExitCode::from(2),
        // `goleash … | head` closing the pipe early is not a failure.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            report_error(&e);
            ExitCode::from(2)
        }
    }
}
