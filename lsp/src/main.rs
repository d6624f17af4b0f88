//! `optidb-lsp`: serves the Language Server Protocol on stdin/stdout (`--stdio` is accepted and
//! implied); `--bench` prints how fast diagnostics and hovers are on a generated file.

use std::process::ExitCode;

const HELP: &str = "optidb-lsp: OptiDB language server (LSP over stdin/stdout)

USAGE:
    optidb-lsp [--stdio]      serve LSP (what editors run)
    optidb-lsp --bench [N]    time diagnostics for a generated N-statement file (default 2000)
    optidb-lsp --version

Settings come from the client: initializationOptions or workspace/configuration section
`optidb`: {\"daemonUrl\": \"http://127.0.0.1:7070\", \"token\": null, \"severity\": \"hint\", \"timeoutMs\": 300}.
Logs go to stderr (RUST_LOG=optidb_lsp=debug). A malformed message is answered with a JSON-RPC
error and logged; messages over 64 MiB are refused. Exit code 1 on `exit` without `shutdown`.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--help" | "-h") => {
            println!("{HELP}");
            ExitCode::SUCCESS
        }
        Some("--version" | "-V") => {
            println!("optidb-lsp {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("--bench") => {
            let n = match args.get(1).map(|s| s.parse::<usize>()) {
                None => 2000,
                Some(Ok(n)) if n > 0 => n,
                Some(_) => {
                    eprintln!("optidb-lsp: --bench takes a positive number of statements");
                    return ExitCode::from(2);
                }
            };
            optidb_lsp::bench::run(n);
            ExitCode::SUCCESS
        }
        None | Some("--stdio") => {
            // stdout is the protocol channel: logs go to stderr only.
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "optidb_lsp=info".into()),
                )
                .init();
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("optidb-lsp: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let end = rt.block_on(optidb_lsp::server::run_stdio());
            // Do not wait for a blocked read of stdin or a daemon call still in flight.
            rt.shutdown_background();
            ExitCode::from(end.code())
        }
        Some(other) => {
            eprintln!("optidb-lsp: unknown argument {other:?} (try --help)");
            ExitCode::from(2)
        }
    }
}
