//! `layerize-server`: serve the page in `--dist` and proxy its registry calls.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use layerize_server::{app, AllowedHost, AppState, CorsOrigin, Targets};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};

#[derive(Parser, Debug)]
#[command(name = "layerize-server", version, about = "Serve the layerize page and proxy its registry calls")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The built page (trunk's output dir).
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
    /// Also allow this registry (its /v2/ API), beside the public ones; repeatable. Hosts on
    /// loopback or private addresses are reached only when listed here.
    #[arg(long = "allow-registry", value_name = "HOST[:PORT]")]
    allow_registry: Vec<AllowedHost>,
    /// Let a page served from ORIGIN (e.g. http://127.0.0.1:8081 by `trunk serve`) call the
    /// server; repeatable.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origin: Vec<CorsOrigin>,
    /// Serve the page without the COOP/COEP headers that make it cross-origin isolated (for
    /// a page that must be embedded in another site). Layers are then read with synchronous
    /// Range requests, several times slower than with the shared memory isolation allows.
    #[arg(long)]
    no_isolation: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging()?;
    if !args.dist.join("index.html").is_file() {
        eprintln!(
            "warning: {} has no index.html; build the page with trunk (the proxy works without it)",
            args.dist.display()
        );
    }
    let mut state = AppState::new(args.dist, Targets::new(args.allow_registry), args.cors_origin)?;
    state.isolated = !args.no_isolation;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    eprintln!("listening on http://{addr}");
    axum::serve(listener, app(state)).await.context("the server stopped")?;
    Ok(())
}

/// Log lines on stderr, `info` unless RUST_LOG says otherwise. The HTTP stack's debug output can
/// show headers (credentials among them), so it stays at `info` whatever RUST_LOG says.
fn init_logging() -> anyhow::Result<()> {
    let mut filter = EnvFilter::builder().with_default_directive(LevelFilter::INFO.into()).from_env_lossy();
    for quiet in ["h2=info", "hyper=info", "hyper_util=info", "reqwest=info", "rustls=info"] {
        filter = filter.add_directive(quiet.parse().context("log directive")?);
    }
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    Ok(())
}
