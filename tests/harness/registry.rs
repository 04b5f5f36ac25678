//! A real registry, CNCF distribution's `docker-registry`, on a free loopback port with
//! filesystem storage in its private temp dir and one of three kinds of authentication.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::cert::SigningCert;
use crate::ports;
use crate::process::{self, Service};
use crate::token::{self, TokenIssuer};
use crate::tool;

/// How clients must authenticate to a [`Registry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryAuth {
    /// Anyone may pull and push.
    Anonymous,
    /// HTTP Basic against a bcrypt htpasswd file.
    Htpasswd { user: String, password: String },
    /// Bearer tokens from a [`TokenIssuer`] in the test process, which takes these credentials.
    Token { user: String, password: String },
}

impl RegistryAuth {
    pub fn htpasswd(user: &str, password: &str) -> RegistryAuth {
        RegistryAuth::Htpasswd { user: user.to_owned(), password: password.to_owned() }
    }

    pub fn token(user: &str, password: &str) -> RegistryAuth {
        RegistryAuth::Token { user: user.to_owned(), password: password.to_owned() }
    }
}

/// A running registry. Dropping it stops the registry, then its token issuer if any.
#[derive(Debug)]
pub struct Registry {
    // Declared first so it is dropped first: the registry stops before its token issuer.
    service: Service,
    port: u16,
    auth: RegistryAuth,
    token_issuer: Option<TokenIssuer>,
}

impl Registry {
    /// Starts `docker-registry serve` and waits until `/v2/` answers.
    pub fn start(auth: RegistryAuth) -> Registry {
        tool::require_tool("docker-registry");
        let dir = process::service_dir("registry");
        let port = ports::free_port();
        let storage = dir.path().join("storage");

        let mut token_issuer = None;
        let auth_section = match &auth {
            RegistryAuth::Anonymous => String::new(),
            RegistryAuth::Htpasswd { user, password } => {
                tool::require_tool("htpasswd");
                let file = dir.path().join("htpasswd");
                // -B bcrypt (the only hash distribution accepts), -b password from the command
                // line, -n print instead of editing a file.
                let entry = tool::run_stdout(Command::new("htpasswd").args(["-Bbn", user.as_str(), password.as_str()]));
                write(&file, &entry);
                format!(
                    "auth:\n  htpasswd:\n    realm: layerize-test\n    path: {}\n",
                    yaml_string(&file.display().to_string())
                )
            }
            RegistryAuth::Token { user, password } => {
                let cert = SigningCert::generate(dir.path());
                let cert_path = cert.cert_path().display().to_string();
                let issuer = TokenIssuer::start(user, password, cert);
                let section = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    yaml_string(&issuer.realm()),
                    yaml_string(token::SERVICE),
                    yaml_string(token::ISSUER),
                    yaml_string(&cert_path),
                );
                token_issuer = Some(issuer);
                section
            }
        };

        let config = dir.path().join("config.yml");
        let storage = yaml_string(&storage.display().to_string());
        write(
            &config,
            &format!(
                "version: 0.1
log:
  level: debug
  formatter: text
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: layerize-test-secret
{auth_section}"
            ),
        );

        let mut command = Command::new("docker-registry");
        command.arg("serve").arg(&config);
        // REGISTRY_* variables override the config file; none from our environment may leak in.
        for (name, _) in env::vars_os() {
            if name.to_string_lossy().starts_with("REGISTRY_") {
                command.env_remove(name);
            }
        }
        let mut service = Service::spawn("registry", dir, command);
        service.wait_for_http(&format!("http://127.0.0.1:{port}/v2/"));
        Registry { service, port, auth, token_issuer }
    }

    /// `127.0.0.1:PORT`, the registry part of a reference.
    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `127.0.0.1:PORT/REPO:TAG` for `repo_tag` (`REPO:TAG` or `REPO@DIGEST`); a reference that
    /// already names this registry is returned as it is.
    pub fn reference(&self, repo_tag: &str) -> String {
        let host = self.host();
        match repo_tag.strip_prefix(&host) {
            Some(rest) if rest.starts_with('/') => repo_tag.to_owned(),
            _ => format!("{host}/{repo_tag}"),
        }
    }

    pub fn auth(&self) -> &RegistryAuth {
        &self.auth
    }

    /// The user and password clients must use, if any.
    pub fn credentials(&self) -> Option<(String, String)> {
        match &self.auth {
            RegistryAuth::Anonymous => None,
            RegistryAuth::Htpasswd { user, password } | RegistryAuth::Token { user, password } => {
                Some((user.clone(), password.clone()))
            }
        }
    }

    /// `user:password` for tools' `--creds` flags, if any.
    pub fn creds_arg(&self) -> Option<String> {
        self.credentials().map(|(user, password)| format!("{user}:{password}"))
    }

    /// The token issuer, for a registry started with [`RegistryAuth::Token`].
    pub fn token_issuer(&self) -> Option<&TokenIssuer> {
        self.token_issuer.as_ref()
    }

    /// Where the registry keeps blobs and manifests, for tests that inspect or damage them.
    pub fn storage_dir(&self) -> PathBuf {
        self.service.dir().join("storage")
    }

    /// Everything the registry has logged so far (debug level: every request is there).
    pub fn log(&self) -> String {
        self.service.log()
    }

    pub fn log_path(&self) -> PathBuf {
        self.service.log_path().to_path_buf()
    }
}

fn write(path: &std::path::Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// A YAML double-quoted scalar; our values are paths and URLs without control characters.
fn yaml_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}
