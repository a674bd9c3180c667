//! The crate's one error type.
//!
//! Every variant says what was being done and, for the identity provider's
//! answers, carries the fields a support ticket needs (`error`, the AADSTS
//! codes of `error_description`, the correlation and trace ids). Transport
//! and storage errors are kept as [`source`](std::error::Error::source) and
//! never also printed in `Display`. No variant holds a token, a secret, a
//! request body or a query string.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Shorthand for `Result<T, msal_client::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the identity provider said when it refused a request (the OAuth2
/// error response, RFC 6749 §5.2, with Entra ID's extra fields).
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdpError {
    /// The HTTP status of the answer.
    pub status: u16,
    /// The OAuth2 `error` code, e.g. `invalid_grant`, `invalid_client`.
    pub error: String,
    /// The human-readable `error_description`; Entra ID starts it with an
    /// `AADSTSnnnnn:` code.
    pub description: Option<String>,
    /// Entra ID's numeric `error_codes` (the AADSTS numbers).
    pub error_codes: Vec<u64>,
    /// Entra ID's `suberror`, e.g. `basic_action`, `consent_required`.
    pub suberror: Option<String>,
    /// The `correlation_id` of the request (the `client-request-id` this
    /// crate sent, echoed by the server).
    pub correlation_id: Option<String>,
    /// The server's `trace_id`.
    pub trace_id: Option<String>,
    /// A claims challenge (`claims`) to pass to the next interactive request.
    pub claims: Option<String>,
    /// Entra ID's `error_additional_info` hints, e.g. `client_mismatch`.
    pub additional_info: Vec<String>,
}

impl IdpError {
    /// The first AADSTS code, read from `error_codes` or the start of the description.
    pub fn aadsts(&self) -> Option<u64> {
        self.error_codes.first().copied().or_else(|| {
            let d = self.description.as_deref()?.strip_prefix("AADSTS")?;
            d.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        })
    }

    /// `true` when the answer means a person must sign in again
    /// (`invalid_grant`, `interaction_required`, `login_required`, `consent_required`).
    pub fn needs_interaction(&self) -> bool {
        matches!(
            self.error.as_str(),
            "invalid_grant" | "interaction_required" | "login_required" | "consent_required"
        )
    }
}

impl fmt::Display for IdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {})", self.error, self.status)?;
        if let Some(d) = &self.description {
            // Entra's descriptions end with a multi-line trace/correlation block.
            write!(f, ": {}", d.lines().next().unwrap_or("").trim())?;
        }
        if let Some(c) = &self.correlation_id {
            write!(f, " [correlation id {c}]")?;
        }
        if let Some(t) = &self.trace_id {
            write!(f, " [trace id {t}]")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong while acquiring a token.
///
/// Match on the variant to decide what to do: [`Error::InteractionRequired`]
/// means "sign the user in again" (device code or browser), the others are
/// configuration, network or storage problems.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// No token can be had without the user: there is no account or refresh
    /// token in the cache, or the identity provider refused the refresh
    /// token (`invalid_grant`, `interaction_required`, e.g. after a password
    /// change or a new MFA policy). Sign the user in interactively, passing
    /// [`claims`](Error::claims) along if there is one.
    InteractionRequired {
        /// Why, in words.
        reason: String,
        /// The identity provider's answer, when it refused a refresh token.
        idp: Option<Box<IdpError>>,
    },
    /// The identity provider refused the request for another reason (a bad
    /// client secret, an unknown tenant, throttling that outlasted the retries).
    IdentityProvider {
        /// What was asked, e.g. `"token request (client_credentials)"`.
        operation: String,
        /// The endpoint, without its query.
        url: String,
        /// What it answered.
        idp: Box<IdpError>,
    },
    /// The identity provider could not be reached or the connection failed
    /// (DNS, TCP, TLS, timeout). The transport's error is the `source`.
    Transport {
        /// What was asked.
        operation: String,
        /// The endpoint, without its query.
        url: String,
        /// The transport's error.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The identity provider answered, but not with what the protocol says
    /// (not JSON, a missing field).
    InvalidResponse {
        /// What was asked.
        operation: String,
        /// The endpoint, without its query.
        url: String,
        /// What is wrong with the answer (never quoting it: it may hold tokens).
        reason: String,
    },
    /// The token cache could not be read or written.
    Cache(msal_extensions::Error),
    /// The client credential (certificate or key) cannot be used.
    Credential {
        /// What is wrong and how to fix it.
        reason: String,
        /// The parser's or crypto library's error, when there is one.
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// A wait ran out: the device code expired before the user approved it,
    /// or nobody came back to the loopback redirect in time.
    Timeout {
        /// What was being waited for.
        what: &'static str,
        /// How long.
        waited: Duration,
    },
    /// The interactive sign-in failed locally: the loopback port could not
    /// be opened, the redirect carried a wrong `state`, or the browser
    /// reported an error.
    Interactive {
        /// What went wrong.
        reason: String,
        /// The I/O error, when there is one.
        source: Option<std::io::Error>,
    },
    /// Azure CLI's sign-in state cannot give what was asked: its profile,
    /// configuration or service principal store is unreadable, or names no
    /// such subscription. (Not being signed in at all is
    /// [`Error::InteractionRequired`].)
    AzureCli {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong and what to run.
        reason: String,
        /// The I/O or parse error, when there is one.
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// What was asked is of a kind this crate does not handle, e.g. a token
    /// for a managed identity Azure CLI is signed in with.
    Unsupported {
        /// What it is.
        what: String,
        /// Why, and what to use instead.
        reason: String,
    },
    /// An argument is unusable (an authority that is not an `https` URL, no scopes).
    InvalidInput {
        /// Which argument.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// The claims challenge to send with the next interactive sign-in, if
    /// the identity provider gave one.
    pub fn claims(&self) -> Option<&str> {
        self.idp()?.claims.as_deref()
    }

    /// The identity provider's answer, for the variants that carry one.
    pub fn idp(&self) -> Option<&IdpError> {
        match self {
            Error::InteractionRequired { idp, .. } => idp.as_deref(),
            Error::IdentityProvider { idp, .. } => Some(idp),
            _ => None,
        }
    }

    /// `true` for [`Error::InteractionRequired`].
    pub fn is_interaction_required(&self) -> bool {
        matches!(self, Error::InteractionRequired { .. })
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput { what, reason: reason.into() }
    }

    pub(crate) fn azure_cli(path: impl AsRef<Path>, reason: impl Into<String>) -> Self {
        Error::AzureCli { path: path.as_ref().to_path_buf(), reason: reason.into(), source: None }
    }

    pub(crate) fn credential(reason: impl Into<String>) -> Self {
        Error::Credential { reason: reason.into(), source: None }
    }

    pub(crate) fn interactive(reason: impl Into<String>, source: Option<std::io::Error>) -> Self {
        Error::Interactive { reason: reason.into(), source }
    }

    /// Turns a refusal that means "sign in again" into [`Error::InteractionRequired`].
    pub(crate) fn into_interaction_required(self) -> Self {
        match self {
            Error::IdentityProvider { idp, .. } if idp.needs_interaction() => {
                let reason = "the identity provider refused the refresh token; sign the user in again".into();
                Error::InteractionRequired { reason, idp: Some(idp) }
            }
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InteractionRequired { reason, idp } => {
                write!(f, "interaction required: {reason}")?;
                if let Some(idp) = idp {
                    write!(f, " ({idp})")?;
                }
                Ok(())
            }
            Error::IdentityProvider { operation, url, idp } => {
                write!(f, "{operation} to {url} failed: {idp}")
            }
            Error::Transport { operation, url, .. } => {
                write!(f, "{operation} to {url} failed: could not reach the identity provider")
            }
            Error::InvalidResponse { operation, url, reason } => {
                write!(f, "{operation} to {url}: unexpected answer: {reason}")
            }
            Error::Cache(_) => f.write_str("the token cache could not be used"),
            Error::Credential { reason, .. } => write!(f, "client credential: {reason}"),
            Error::Timeout { what, waited } => {
                write!(f, "gave up waiting for {what} after {:.0?}", waited)
            }
            Error::Interactive { reason, .. } => write!(f, "interactive sign-in: {reason}"),
            Error::AzureCli { path, reason, .. } => write!(f, "Azure CLI: {} {reason}", path.display()),
            Error::Unsupported { what, reason } => write!(f, "{what}: not supported here; {reason}"),
            Error::InvalidInput { what, reason } => write!(f, "invalid {what}: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport { source, .. } => Some(&**source),
            Error::Cache(e) => Some(e),
            Error::Credential { source: Some(s), .. } => Some(&**s),
            Error::Interactive { source: Some(s), .. } => Some(s),
            Error::AzureCli { source: Some(s), .. } => Some(&**s),
            _ => None,
        }
    }
}

impl From<msal_extensions::Error> for Error {
    fn from(e: msal_extensions::Error) -> Self {
        Error::Cache(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aadsts_from_codes_or_description() {
        let mut e = IdpError { description: Some("AADSTS50076: Due to ...".into()), ..Default::default() };
        assert_eq!(e.aadsts(), Some(50076));
        e.error_codes = vec![700082];
        assert_eq!(e.aadsts(), Some(700082));
    }

    #[test]
    fn display_keeps_first_line_and_ids() {
        let e = IdpError {
            status: 400,
            error: "invalid_grant".into(),
            description: Some("AADSTS70008: expired.\r\nTrace ID: x\r\nCorrelation ID: y".into()),
            correlation_id: Some("c-1".into()),
            ..Default::default()
        };
        assert_eq!(e.to_string(), "invalid_grant (HTTP 400): AADSTS70008: expired. [correlation id c-1]");
    }
}
