//! A self-signed RSA key and certificate, made by openssl, that sign registry tokens: the
//! registry trusts the certificate as its root bundle, and each token carries it in `x5c`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::tool;

#[derive(Debug, Clone)]
pub struct SigningCert {
    key: PathBuf,
    cert: PathBuf,
    der_base64: String,
}

impl SigningCert {
    /// Generates a 2048-bit RSA key and a two-day self-signed certificate into `dir`.
    pub fn generate(dir: &Path) -> SigningCert {
        tool::require_tool("openssl");
        let key = dir.join("token-signing.key");
        let cert = dir.join("token-signing.crt");
        tool::run(
            Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=layerize-test-token-issuer",
                    "-keyout",
                ])
                .arg(&key)
                .arg("-out")
                .arg(&cert),
        );
        let der = tool::run(Command::new("openssl").args(["x509", "-outform", "DER", "-in"]).arg(&cert)).stdout;
        SigningCert { key, cert, der_base64: STANDARD.encode(der) }
    }

    /// The PEM private key.
    pub fn key_path(&self) -> &Path {
        &self.key
    }

    /// The PEM certificate, the registry's `rootcertbundle`.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// The certificate as standard base64 of its DER, the form a JWT `x5c` header holds.
    pub fn der_base64(&self) -> &str {
        &self.der_base64
    }

    /// RS256: an RSASSA-PKCS1-v1_5 signature over the SHA-256 of `input`.
    pub fn sign_rs256(&self, input: &[u8]) -> Vec<u8> {
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start openssl to sign a token: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input).unwrap_or_else(|e| panic!("cannot feed openssl the token to sign: {e}"));
        }
        let output = child.wait_with_output().unwrap_or_else(|e| panic!("openssl did not sign the token: {e}"));
        if !output.status.success() {
            panic!("openssl dgst -sign failed with {}: {}", output.status, String::from_utf8_lossy(&output.stderr));
        }
        output.stdout
    }
}
