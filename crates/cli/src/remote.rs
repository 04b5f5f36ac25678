//! Connecting to the registry a reference names, with Docker's choice of scheme and
//! credentials.

use anyhow::Result;
use layerize_core::Reference;
use layerize_registry::transport::native::Native;
use layerize_registry::{Client, Credentials, Scheme};

use crate::credentials;

/// How to reach registries, from the command line.
#[derive(Clone, Debug, Default)]
pub struct Access {
    pub insecure: bool,
    /// `--username` / `--password-stdin`, for the registries named in `explicit_for`.
    pub explicit: Option<Credentials>,
    pub explicit_for: Vec<String>,
}

impl Access {
    pub fn client(&self, reference: &Reference) -> Result<Client<Native>> {
        let creds = match &self.explicit {
            Some(c) if self.explicit_for.iter().any(|r| r == reference.registry()) => Some(c.clone()),
            _ => credentials::lookup(reference.registry())?,
        };
        let scheme = Scheme::for_reference(reference, self.insecure);
        Ok(Client::new(Native::new()?, reference.api_host(), scheme, creds)?)
    }
}
