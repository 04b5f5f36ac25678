//! The HTTP clients that reach upstreams: one for allowlisted hosts, and one for everything else
//! whose resolver hands out public addresses only, so that a name re-resolving to a private
//! address after it was checked (DNS rebinding) still cannot be reached.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::error::Error;
use crate::target::{classify, Reach};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence while reading an upstream answer; a blob may take long, but not stall.
const READ_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Clone, Debug)]
pub struct Upstream {
    listed: reqwest::Client,
    public: reqwest::Client,
}

impl Upstream {
    pub fn new() -> Result<Upstream, Error> {
        let build = |builder: reqwest::ClientBuilder| {
            builder
                // Redirects are followed by the proxy, which checks every hop.
                .redirect(reqwest::redirect::Policy::none())
                // An HTTP(S)_PROXY from the environment would connect in our place, unchecked.
                .no_proxy()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .user_agent(concat!("layerize-server/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::Client(e.to_string()))
        };
        Ok(Upstream {
            listed: build(reqwest::Client::builder())?,
            public: build(reqwest::Client::builder().dns_resolver(Arc::new(PublicOnly)))?,
        })
    }

    pub fn client(&self, reach: Reach) -> &reqwest::Client {
        match reach {
            Reach::Listed => &self.listed,
            Reach::PublicOnly => &self.public,
        }
    }
}

/// Resolves a name to its public addresses, failing if it has none. (IP literals never reach a
/// resolver; the proxy checks them before sending.)
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.into_iter().filter(|addr| classify(addr.ip()).is_public()).collect();
            if public.is_empty() {
                let refused =
                    io::Error::new(io::ErrorKind::PermissionDenied, format!("{host} resolves to no public address"));
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}
