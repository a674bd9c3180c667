//! How a confidential client proves who it is: [`ClientCredential`].
//!
//! A certificate credential signs a short-lived JWT (RFC 7523 client
//! assertion) per request, with the certificate's SHA-256 thumbprint in the
//! `x5t#S256` header, as MSAL does for Entra ID. Signing uses `ring`
//! (already linked for TLS); the pair is checked at load time by signing a
//! probe and verifying it against the certificate with `rustls-webpki`, so a
//! key that does not belong to its certificate fails early with a clear
//! message instead of an `invalid_client` from the server.

use std::sync::{Arc, OnceLock};

use msal_extensions::Secret;
use ring::signature::{self, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;

use crate::crypto::{b64std, b64url, nonce, sha256};
use crate::error::{Error, Result};

/// The signature algorithm of a client assertion.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256: what MSAL uses for Entra ID (the default).
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, for identity providers without PSS.
    Rs256,
}

impl AssertionAlgorithm {
    fn name(self) -> &'static str {
        match self {
            AssertionAlgorithm::Ps256 => "PS256",
            AssertionAlgorithm::Rs256 => "RS256",
        }
    }

    fn ring(self) -> &'static dyn signature::RsaEncoding {
        match self {
            AssertionAlgorithm::Ps256 => &signature::RSA_PSS_SHA256,
            AssertionAlgorithm::Rs256 => &signature::RSA_PKCS1_SHA256,
        }
    }

    fn webpki(self) -> &'static dyn rustls_pki_types::SignatureVerificationAlgorithm {
        match self {
            AssertionAlgorithm::Ps256 => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            AssertionAlgorithm::Rs256 => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        }
    }
}

/// An RSA private key and its X.509 certificate, for signed client assertions.
///
/// # Examples
/// ```no_run
/// use msal_client::{ClientCertificate, ClientCredential};
/// let cert = ClientCertificate::from_pem(&std::fs::read("cert.pem")?, &std::fs::read("key.pem")?)?;
/// let credential = ClientCredential::certificate(cert);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ClientCertificate {
    key: Arc<RsaKeyPair>,
    cert_der: Arc<Vec<u8>>,
    thumbprint: String,
    algorithm: AssertionAlgorithm,
    send_x5c: bool,
}

impl ClientCertificate {
    /// Loads the certificate (the first `CERTIFICATE` block of `cert_pem`)
    /// and its unencrypted RSA private key (`PRIVATE KEY` or
    /// `RSA PRIVATE KEY` in `key_pem`). Both may be the same file.
    ///
    /// # Errors
    /// [`Error::Credential`] when a block is missing or malformed, the key is
    /// not RSA (2048 bits or more) or is encrypted, or the key does not
    /// belong to the certificate.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self> {
        let cert = CertificateDer::pem_slice_iter(cert_pem)
            .find_map(std::result::Result::ok)
            .ok_or_else(|| Error::credential("no CERTIFICATE block in the certificate PEM"))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| {
            Error::credential(
                "no unencrypted PRIVATE KEY or RSA PRIVATE KEY block in the key PEM \
                     (decrypt an encrypted key first, e.g. `openssl pkey -in key.pem -out plain.pem`)",
            )
        })?;
        let rejected = |e: ring::error::KeyRejected| Error::Credential {
            reason: "the private key is not a usable RSA key (2048 bits or more)".into(),
            source: Some(Box::new(e)),
        };
        let pair = match &key {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()).map_err(rejected)?,
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()).map_err(rejected)?,
            _ => {
                return Err(Error::credential(
                    "the private key is not RSA; client assertions need an RSA key",
                ));
            }
        };
        let cert_der = cert.to_vec();
        let c = ClientCertificate {
            key: Arc::new(pair),
            thumbprint: b64url(sha256(&cert_der)),
            cert_der: Arc::new(cert_der),
            algorithm: AssertionAlgorithm::default(),
            send_x5c: false,
        };
        c.check_pair()?;
        Ok(c)
    }

    /// The signature algorithm (default [`AssertionAlgorithm::Ps256`]).
    pub fn algorithm(mut self, algorithm: AssertionAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Also send the certificate itself (`x5c` header), for apps configured
    /// for subject name / issuer authentication.
    pub fn send_x5c(mut self, send: bool) -> Self {
        self.send_x5c = send;
        self
    }

    /// The certificate's SHA-256 thumbprint, base64url (the `x5t#S256` header).
    pub fn thumbprint_sha256(&self) -> &str {
        &self.thumbprint
    }

    /// Signs a probe and verifies it with the certificate's public key.
    fn check_pair(&self) -> Result<()> {
        let probe = b"msal-client key/certificate check";
        let sig = self.sign(probe)?;
        let der = CertificateDer::from(self.cert_der.as_slice());
        let cert = webpki::EndEntityCert::try_from(&der).map_err(|e| Error::Credential {
            reason: "the certificate cannot be parsed".into(),
            source: Some(Box::new(e)),
        })?;
        cert.verify_signature(self.algorithm.webpki(), probe, &sig).map_err(|_| {
            Error::credential(
                "the private key does not belong to the certificate (or the certificate's key is not RSA)",
            )
        })
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(self.algorithm.ring(), &ring::rand::SystemRandom::new(), message, &mut sig)
            .map_err(|_| Error::credential("signing the client assertion failed"))?;
        Ok(sig)
    }

    /// A client assertion for `client_id` at `audience` (the token endpoint),
    /// valid for 10 minutes.
    pub(crate) fn assertion(&self, client_id: &str, audience: &str) -> Result<String> {
        let mut header = json!({"alg": self.algorithm.name(), "typ": "JWT", "x5t#S256": self.thumbprint});
        if self.send_x5c {
            header["x5c"] = json!([b64std(self.cert_der.as_slice())]);
        }
        let now = crate::core::now();
        let claims = json!({
            "aud": audience, "iss": client_id, "sub": client_id,
            "jti": nonce(), "iat": now, "nbf": now, "exp": now + 600,
        });
        let signing_input = format!("{}.{}", b64url(header.to_string()), b64url(claims.to_string()));
        let sig = self.sign(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", b64url(sig)))
    }
}

/// Never shows the key.
impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint_sha256", &self.thumbprint)
            .field("algorithm", &self.algorithm)
            .field("send_x5c", &self.send_x5c)
            .finish_non_exhaustive()
    }
}

/// How a confidential client authenticates to the token endpoint.
///
/// `Debug` never shows the secret or key.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum ClientCredential {
    /// A client secret (sent as `client_secret` in the request body).
    Secret(Secret),
    /// A certificate: a signed client assertion is sent instead of a secret.
    Certificate(ClientCertificate),
}

impl ClientCredential {
    /// A client secret.
    pub fn secret(secret: impl Into<String>) -> Self {
        ClientCredential::Secret(Secret::new(secret))
    }

    /// A certificate and its private key.
    pub fn certificate(certificate: ClientCertificate) -> Self {
        ClientCredential::Certificate(certificate)
    }

    /// The form fields proving the client's identity to `token_endpoint`.
    pub(crate) fn form_fields(
        &self,
        client_id: &str,
        token_endpoint: &str,
    ) -> Result<Vec<(&'static str, String)>> {
        Ok(match self {
            ClientCredential::Secret(s) => vec![("client_secret", s.expose().to_owned())],
            ClientCredential::Certificate(c) => vec![
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()),
                ("client_assertion", c.assertion(client_id, token_endpoint)?),
            ],
        })
    }
}

/// The credential of a client: given, or built on first use (Azure CLI's
/// service principals: reading the entries file and the certificate, parsing
/// and checking the key, is left to the renewal that needs it, so a cache
/// hit does none of it).
pub(crate) enum Credential {
    Ready(ClientCredential),
    Deferred {
        build: Box<dyn Fn() -> Result<ClientCredential> + Send + Sync>,
        built: OnceLock<ClientCredential>,
    },
}

impl Credential {
    /// A credential `build` makes when a request first needs it; a failed
    /// build is tried again by the next request.
    pub(crate) fn deferred(build: impl Fn() -> Result<ClientCredential> + Send + Sync + 'static) -> Self {
        Credential::Deferred { build: Box::new(build), built: OnceLock::new() }
    }

    /// The credential, built now if it was deferred and not built yet.
    pub(crate) fn get(&self) -> Result<&ClientCredential> {
        match self {
            Credential::Ready(c) => Ok(c),
            Credential::Deferred { build, built } => {
                if let Some(c) = built.get() {
                    return Ok(c);
                }
                let c = build()?;
                Ok(built.get_or_init(|| c))
            }
        }
    }
}

/// Never shows the secret or key (as [`ClientCredential`]'s own `Debug`).
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Ready(c) => c.fmt(f),
            Credential::Deferred { built, .. } => match built.get() {
                Some(c) => c.fmt(f),
                None => f.write_str("Deferred(not built yet)"),
            },
        }
    }
}
