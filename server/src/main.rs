//! `layerize-server`: serve the page in `--dist` and proxy its registry calls.
//!
//! Every option is a flag and an environment variable (`LAYERIZE_…`; the flag wins), so that the
//! same image runs under `docker run -e`, a Kubernetes `env:` list or a command line.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use layerize_server::shutdown::{self, Stopped};
use layerize_server::{app, AllowedHost, AppState, CorsOrigin, Targets};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};

#[derive(Parser, Debug)]
#[command(name = "layerize-server", version, about = "Serve the layerize page and proxy its registry calls")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "LAYERIZE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The built page (trunk's output dir).
    #[arg(long, env = "LAYERIZE_DIST", default_value = "dist")]
    dist: PathBuf,
    /// Also allow this registry (its /v2/ API), beside the public ones; repeatable, or
    /// comma-separated. Hosts on loopback or private addresses are reached only when listed
    /// here.
    #[arg(long = "allow-registry", env = "LAYERIZE_ALLOW_REGISTRY", value_name = "HOST[:PORT]", value_delimiter = ',')]
    allow_registry: Vec<AllowedHost>,
    /// Let a page served from ORIGIN (e.g. http://127.0.0.1:8081 by `trunk serve`) call the
    /// server; repeatable, or comma-separated.
    #[arg(long = "cors-origin", env = "LAYERIZE_CORS_ORIGIN", value_name = "ORIGIN", value_delimiter = ',')]
    cors_origin: Vec<CorsOrigin>,
    /// No effect, kept so that deployments passing it still start: the page is never served
    /// cross-origin isolated now (it shares no memory between workers, so it needs no COOP/COEP).
    #[arg(long, env = "LAYERIZE_NO_ISOLATION", hide = true)]
    no_isolation: bool,
    /// Log lines as text, or as one JSON object per line (for a log collector).
    #[arg(long, env = "LAYERIZE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// On SIGTERM or SIGINT, how long requests in flight may still take before they are cut
    /// and the server exits (e.g. 5s, 500ms, 1m).
    #[arg(long, env = "LAYERIZE_SHUTDOWN_GRACE", value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    shutdown_grace: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging(args.log_format)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let served = runtime.block_on(serve(args));
    // Dropping a runtime waits for its blocking threads without end; a name lookup still
    // running on one must not hold the exit after the grace.
    runtime.shutdown_timeout(Duration::from_secs(1));
    served
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let signal = shutdown::on_signal().context("cannot install the SIGTERM and SIGINT handlers")?;
    if !args.dist.join("index.html").is_file() {
        tracing::warn!(
            "{} has no index.html; build the page with trunk (the proxy works without it)",
            args.dist.display()
        );
    }
    if args.no_isolation {
        tracing::info!("--no-isolation has no effect: the page is never served cross-origin isolated");
    }
    let state = AppState::new(args.dist, Targets::new(args.allow_registry), args.cors_origin)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    tracing::info!("listening on http://{addr}");
    let grace = args.shutdown_grace;
    let stop = async move {
        let name = signal.await;
        tracing::info!(signal = name, grace = %humantime::format_duration(grace), "stopping: no new connections; requests in flight may finish within the grace");
    };
    match shutdown::serve(listener, app(state), stop, grace).await.context("the server stopped")? {
        Stopped::Drained => tracing::info!("stopped"),
        Stopped::Cut => tracing::warn!("stopped: the grace ended with requests in flight, which are cut"),
    }
    Ok(())
}

/// Log lines on stderr, `info` unless RUST_LOG says otherwise. The HTTP stack's debug output can
/// show headers (credentials among them), so it stays at `info` whatever RUST_LOG says.
fn init_logging(format: LogFormat) -> anyhow::Result<()> {
    let mut filter = EnvFilter::builder().with_default_directive(LevelFilter::INFO.into()).from_env_lossy();
    for quiet in ["h2=info", "hyper=info", "hyper_util=info", "reqwest=info", "rustls=info"] {
        filter = filter.add_directive(quiet.parse().context("log directive")?);
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        // One object per line: time, level, target and the event's fields at the top level.
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).with_span_list(false).init(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn every_option_has_an_environment_variable() {
        let command = Args::command();
        let mut names = Vec::new();
        for arg in command.get_arguments().filter(|a| a.get_long().is_some_and(|l| l != "help" && l != "version")) {
            let long = arg.get_long().unwrap_or_default();
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            let want = format!("LAYERIZE_{}", long.to_uppercase().replace('-', "_"));
            assert_eq!(env.as_deref(), Some(want.as_str()), "--{long}");
            names.push(want);
        }
        assert!(names.len() >= 7, "{names:?}");
    }

    #[test]
    fn flags_parse_and_lists_split_on_commas() {
        let args = Args::try_parse_from([
            "layerize-server",
            "--allow-registry",
            "127.0.0.1:5000,registry.local:443",
            "--allow-registry",
            "10.0.0.1",
            "--log-format",
            "json",
            "--shutdown-grace",
            "1500ms",
            "--no-isolation",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(args.allow_registry.len(), 3);
        assert_eq!(args.log_format, LogFormat::Json);
        assert_eq!(args.shutdown_grace, Duration::from_millis(1500));
        assert!(args.no_isolation);
        let defaults = Args::try_parse_from(["layerize-server"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(defaults.shutdown_grace, Duration::from_secs(5));
        assert_eq!(defaults.log_format, LogFormat::Text);
        assert!(Args::try_parse_from(["layerize-server", "--log-format", "xml"]).is_err());
    }
}
