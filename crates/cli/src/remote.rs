//! Connecting to the registry a reference names, with Docker's choice of scheme and
//! credentials.

use std::io::Read;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use layerize_core::Reference;
use layerize_registry::transport::native::{Native, DEFAULT_TRIES};
use layerize_registry::{Client, Credentials, Scheme};

use crate::credentials;

/// How to reach registries, from the command line.
#[derive(Clone, Debug)]
pub struct Access {
    pub insecure: bool,
    /// `--username` / `--password-stdin`, for the registries named in `explicit_for`.
    pub explicit: Option<Credentials>,
    pub explicit_for: Vec<String>,
    /// Silence after which a transfer is given up (`--timeout`).
    pub idle_timeout: Duration,
    /// Tries of a request or transfer that fails for a passing reason (`--retries`).
    pub tries: u32,
}

impl Access {
    pub fn client(&self, reference: &Reference) -> Result<Client<Native>> {
        let creds = match &self.explicit {
            Some(c) if self.explicit_for.iter().any(|r| r == reference.registry()) => Some(c.clone()),
            _ => credentials::lookup(reference.registry())?,
        };
        let scheme = Scheme::for_reference(reference, self.insecure);
        let transport = Native::with_options(self.idle_timeout, self.tries)?
            .with_retry_hook(crate::progress::Progress::retry_hook());
        Ok(Client::new(transport, reference.api_host(), scheme, creds)?)
    }
}

/// The registry flags `save` and `load` share.
#[derive(clap::Args, Debug)]
pub struct RegistryFlags {
    /// Use plain HTTP for the registries (loopback registries always use it).
    #[arg(long)]
    pub insecure: bool,
    /// Username for the registry (with --password-stdin).
    #[arg(long, requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the password for --username from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Give up on a registry that sends or takes nothing for this long (e.g. 90s, 5m; requests
    /// that can be repeated are tried 3 times first).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout, env = "LAYERIZE_TIMEOUT")]
    pub timeout: Duration,
    /// Tries of a request or a blob transfer that fails for a passing reason (a cut
    /// connection, a timeout, 408, 429 or 5xx), with backoff between them; a broken transfer
    /// continues from the byte it had reached.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TRIES, env = "LAYERIZE_RETRIES")]
    pub retries: u32,
}

/// `--timeout`: a duration (`90s`, `2m`) or plain seconds, at least one second.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = match text.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text.trim()).map_err(|e| format!("{text:?} is not a duration: {e}"))?,
    };
    if duration < Duration::from_secs(1) {
        return Err(format!("{text:?} is shorter than one second"));
    }
    Ok(duration)
}

impl RegistryFlags {
    /// The access these flags give, the explicit credentials going to `registries`.
    pub fn access(&self, registries: Vec<String>) -> Result<Access> {
        let explicit = match (&self.username, self.password_stdin) {
            (Some(username), true) => {
                Some(Credentials::Basic { username: username.clone(), password: read_password()? })
            }
            _ => None,
        };
        Ok(Access {
            insecure: self.insecure,
            explicit,
            explicit_for: registries,
            idle_timeout: self.timeout,
            tries: self.retries.max(1),
        })
    }
}

/// The password from standard input, without its line ending.
pub fn read_password() -> Result<String> {
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password).context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("--password-stdin: standard input was empty");
    }
    Ok(password)
}
