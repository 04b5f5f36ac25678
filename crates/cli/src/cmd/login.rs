//! `layerize login REGISTRY`: checks a username and password against the registry, then files
//! them where Docker would (see `credentials`), so layerize, docker, skopeo and podman use them.
//!
//! The check is Docker's: `GET /v2/`; on a Basic challenge the same request with the
//! credentials, on a Bearer challenge a token request to the realm with them (no scope, so no
//! repository needs to exist). Nothing is saved unless the registry accepts them.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use http::{header, HeaderValue, Method, StatusCode};
use layerize_core::Reference;
use layerize_registry::auth::Challenge;
use layerize_registry::transport::native::Native;
use layerize_registry::{redact, Credentials, Request, Scheme, Transport};
use url::Url;

use crate::credentials::{self, Stored};
use crate::remote::{self, parse_timeout};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The registry: its host (ghcr.io, 127.0.0.1:5000), or docker.io for Docker Hub.
    registry: String,
    /// The username (asked for on the terminal when not given).
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Read the password from standard input instead of asking on the terminal.
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// Use plain HTTP (loopback registries always use it).
    #[arg(long)]
    insecure: bool,
    /// Give up on a registry that answers nothing for this long (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout, env = "LAYERIZE_TIMEOUT")]
    timeout: Duration,
}

pub fn run(args: Args) -> Result<()> {
    let registry = credentials::registry_name(&args.registry)?;
    // The same parser as every reference, so login reaches the host and scheme pull would.
    let reference: Reference = format!("{registry}/login-check")
        .parse()
        .with_context(|| format!("{:?} is not a registry host", args.registry))?;
    if reference.registry() != registry {
        bail!(
            "{:?} is not a registry host: a registry's name has a dot or a port (ghcr.io, myhost:5000), or is localhost",
            args.registry
        );
    }
    let (username, password) = ask(&args)?;
    let creds = Credentials::Basic { username: username.clone(), password: password.clone() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(check(&reference, args.insecure, args.timeout, &creds))?;
    let stored = credentials::store(&registry, &username, &password)
        .with_context(|| format!("saving the credentials for {registry}"))?;
    if let Stored::File(path) = stored {
        eprintln!(
            "note: the password is saved unencrypted (base64) in {}; a credential helper (\"credsStore\" in that file) keeps it out",
            path.display()
        );
    }
    println!("Login Succeeded");
    Ok(())
}

/// The username and password: from the flags and standard input, else asked on the terminal.
fn ask(args: &Args) -> Result<(String, String)> {
    if args.password_stdin {
        let username = args.username.clone().context("--password-stdin needs --username")?;
        return Ok((checked_username(username)?, remote::read_password()?));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password on: pass -u USER and --password-stdin");
    }
    let username = match &args.username {
        Some(username) => username.clone(),
        None => {
            eprint!("Username: ");
            std::io::stderr().flush()?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("reading the username")?;
            line.trim().to_owned()
        }
    };
    let username = checked_username(username)?;
    let password = rpassword::prompt_password("Password: ").context("reading the password from the terminal")?;
    if password.is_empty() {
        bail!("no password given");
    }
    Ok((username, password))
}

/// HTTP Basic cannot carry a username with a colon (the first colon ends it).
fn checked_username(username: String) -> Result<String> {
    if username.is_empty() {
        bail!("no username given");
    }
    if username.contains(':') {
        bail!("a username cannot contain ':' (HTTP Basic authentication ends the username there)");
    }
    Ok(username)
}

/// Asks the registry whether it takes `creds`, as `docker login` does.
async fn check(reference: &Reference, insecure: bool, timeout: Duration, creds: &Credentials) -> Result<()> {
    let registry = reference.registry();
    let transport = Native::with_idle_timeout(timeout)?;
    let scheme = match Scheme::for_reference(reference, insecure) {
        Scheme::Http => "http",
        Scheme::Https => "https",
    };
    let base = Url::parse(&format!("{scheme}://{}/v2/", reference.api_host()))
        .with_context(|| format!("{registry} is not a usable host"))?;
    let ping = transport.send(Request::new(Method::GET, base.clone())).await?;
    if ping.status.is_success() {
        // The registry asks for no credentials at all; Docker saves them anyway, and so do we.
        return Ok(());
    }
    if ping.status != StatusCode::UNAUTHORIZED {
        bail!("registry {registry} answered {} to GET {}: is it a registry?", ping.status, redact::url(&base));
    }
    let challenge = ping.header("www-authenticate").and_then(Challenge::parse).with_context(|| {
        format!("registry {registry} asks for credentials without saying how (no WWW-Authenticate header)")
    })?;
    let (url, what) = match challenge.scheme.as_str() {
        "basic" => (base, "GET /v2/"),
        "bearer" => (token_url(registry, &challenge, &base, creds)?, "the token request"),
        other => bail!("registry {registry} asks for {other:?} authentication, which layerize does not speak"),
    };
    let mut request = Request::new(Method::GET, url.clone());
    let basic = creds.basic_header().context("login takes a username and password")?;
    let mut value =
        HeaderValue::from_str(&basic).context("the username or password holds characters HTTP cannot carry")?;
    value.set_sensitive(true);
    request.headers.insert(header::AUTHORIZATION, value);
    let answer = transport.send(request).await?;
    match answer.status {
        s if s.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED => bail!("wrong username or password for {registry}"),
        s => {
            bail!("registry {registry} answered {s} to {what} ({}); the credentials were not saved", redact::url(&url))
        }
    }
}

/// The realm's URL for a token with no scope. The realm gets the password, so, as the
/// registry client insists too, only over HTTPS, or over HTTP when the registry itself is.
fn token_url(registry: &str, challenge: &Challenge, base: &Url, creds: &Credentials) -> Result<Url> {
    let realm =
        challenge.param("realm").with_context(|| format!("registry {registry}: bearer challenge without a realm"))?;
    let mut url = Url::parse(realm).with_context(|| format!("registry {registry}: its token realm is not a URL"))?;
    let plain_ok = base.scheme() == "http";
    if !(url.scheme() == "https" || (url.scheme() == "http" && plain_ok)) {
        bail!(
            "registry {registry}: its token realm {} is not {}; refusing to send credentials there",
            redact::url(&url),
            if plain_ok { "an http or https URL" } else { "an https URL" }
        );
    }
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = challenge.param("service") {
            query.append_pair("service", service);
        }
        if let Credentials::Basic { username, .. } = creds {
            query.append_pair("account", username);
        }
    }
    Ok(url)
}
