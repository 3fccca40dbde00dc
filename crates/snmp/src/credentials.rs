//! SNMP credentials: communities for v1/v2c, USM users for v3.
//!
//! These are what the CLI's common options and a `--credentials FILE` (TOML)
//! describe. Passwords are [`Secret`]s: they never appear in `Debug` output
//! or logs.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// A password or community kept out of logs.
#[derive(Clone, PartialEq, Eq, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The secret itself; call only where it is used, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// SNMPv3 authentication protocols (RFC 3414, RFC 7860).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum AuthProtocol {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// SNMPv3 privacy protocols. AES-192/256 use the Blumenthal key extension,
/// as net-snmp's `AES-192` / `AES-256` do.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum PrivProtocol {
    Des,
    Aes128,
    Aes192,
    Aes256,
}

/// A protocol name that is not one we know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {name:?}; expected one of: {expected}")]
pub struct ProtocolNameError {
    kind: &'static str,
    name: String,
    expected: &'static str,
}

impl FromStr for AuthProtocol {
    type Err = ProtocolNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(match name.to_ascii_lowercase().replace('-', "").as_str() {
            "md5" => AuthProtocol::Md5,
            "sha" | "sha1" => AuthProtocol::Sha1,
            "sha224" => AuthProtocol::Sha224,
            "sha256" => AuthProtocol::Sha256,
            "sha384" => AuthProtocol::Sha384,
            "sha512" => AuthProtocol::Sha512,
            _ => {
                return Err(ProtocolNameError {
                    kind: "authentication protocol",
                    name: name.to_owned(),
                    expected: "md5, sha, sha224, sha256, sha384, sha512",
                });
            }
        })
    }
}

impl FromStr for PrivProtocol {
    type Err = ProtocolNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(match name.to_ascii_lowercase().replace('-', "").as_str() {
            "des" => PrivProtocol::Des,
            "aes" | "aes128" => PrivProtocol::Aes128,
            "aes192" => PrivProtocol::Aes192,
            "aes256" => PrivProtocol::Aes256,
            _ => {
                return Err(ProtocolNameError {
                    kind: "privacy protocol",
                    name: name.to_owned(),
                    expected: "des, aes, aes192, aes256",
                });
            }
        })
    }
}

impl fmt::Display for AuthProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthProtocol::Md5 => "md5",
            AuthProtocol::Sha1 => "sha",
            AuthProtocol::Sha224 => "sha224",
            AuthProtocol::Sha256 => "sha256",
            AuthProtocol::Sha384 => "sha384",
            AuthProtocol::Sha512 => "sha512",
        })
    }
}

impl fmt::Display for PrivProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrivProtocol::Des => "des",
            PrivProtocol::Aes128 => "aes",
            PrivProtocol::Aes192 => "aes192",
            PrivProtocol::Aes256 => "aes256",
        })
    }
}

impl From<AuthProtocol> for async_snmp::AuthProtocol {
    fn from(p: AuthProtocol) -> Self {
        match p {
            AuthProtocol::Md5 => async_snmp::AuthProtocol::Md5,
            AuthProtocol::Sha1 => async_snmp::AuthProtocol::Sha1,
            AuthProtocol::Sha224 => async_snmp::AuthProtocol::Sha224,
            AuthProtocol::Sha256 => async_snmp::AuthProtocol::Sha256,
            AuthProtocol::Sha384 => async_snmp::AuthProtocol::Sha384,
            AuthProtocol::Sha512 => async_snmp::AuthProtocol::Sha512,
        }
    }
}

impl From<PrivProtocol> for async_snmp::PrivProtocol {
    fn from(p: PrivProtocol) -> Self {
        match p {
            PrivProtocol::Des => async_snmp::PrivProtocol::Des,
            PrivProtocol::Aes128 => async_snmp::PrivProtocol::Aes128,
            PrivProtocol::Aes192 => async_snmp::PrivProtocol::Aes192Blumenthal,
            PrivProtocol::Aes256 => async_snmp::PrivProtocol::Aes256Blumenthal,
        }
    }
}

/// The SNMP version of a community credential.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum CommunityVersion {
    V1,
    V2c,
}

/// An SNMPv3 USM user.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UsmCredentials {
    pub user: String,
    /// Authentication protocol and password; `None` is noAuthNoPriv.
    pub auth: Option<(AuthProtocol, Secret)>,
    /// Privacy protocol and password; needs `auth`.
    pub privacy: Option<(PrivProtocol, Secret)>,
    /// The v3 context name (empty by default).
    pub context: String,
}

/// One way of talking to a device.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Credentials {
    Community {
        version: CommunityVersion,
        community: Secret,
    },
    Usm(UsmCredentials),
}

/// A credential set that cannot work, with what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("SNMPv3 needs a user name (--user)")]
    MissingUser,
    #[error("a privacy protocol needs an authentication protocol and password too")]
    PrivacyWithoutAuth,
    #[error("the {0} password must be at least 8 characters (RFC 3414 §11.2)")]
    ShortPassword(&'static str),
    #[error("{0} is given without its {1}")]
    Incomplete(&'static str, &'static str),
    #[error("unknown SNMP version {0:?}; expected 1, 2c or 3")]
    UnknownVersion(String),
    #[error("{0} applies to SNMPv3 only")]
    NotForCommunity(&'static str),
    #[error(transparent)]
    Protocol(#[from] ProtocolNameError),
}

impl Credentials {
    pub fn v2c(community: impl Into<String>) -> Self {
        Credentials::Community {
            version: CommunityVersion::V2c,
            community: Secret::new(community),
        }
    }

    pub fn v1(community: impl Into<String>) -> Self {
        Credentials::Community {
            version: CommunityVersion::V1,
            community: Secret::new(community),
        }
    }

    /// Checks what the protocol requires before any packet is sent.
    pub fn validate(&self) -> Result<(), CredentialsError> {
        if let Credentials::Usm(usm) = self {
            if usm.user.is_empty() {
                return Err(CredentialsError::MissingUser);
            }
            if usm.privacy.is_some() && usm.auth.is_none() {
                return Err(CredentialsError::PrivacyWithoutAuth);
            }
            if let Some((_, pw)) = &usm.auth
                && pw.expose().len() < 8
            {
                return Err(CredentialsError::ShortPassword("authentication"));
            }
            if let Some((_, pw)) = &usm.privacy
                && pw.expose().len() < 8
            {
                return Err(CredentialsError::ShortPassword("privacy"));
            }
        }
        Ok(())
    }

    /// A short description that is safe to log (no secrets).
    pub fn describe(&self) -> String {
        match self {
            Credentials::Community { version, .. } => match version {
                CommunityVersion::V1 => "v1 community".into(),
                CommunityVersion::V2c => "v2c community".into(),
            },
            Credentials::Usm(u) => {
                let level = match (&u.auth, &u.privacy) {
                    (None, _) => "noAuthNoPriv".to_string(),
                    (Some((a, _)), None) => format!("authNoPriv {a}"),
                    (Some((a, _)), Some((p, _))) => format!("authPriv {a}/{p}"),
                };
                format!("v3 user {:?} {level}", u.user)
            }
        }
    }
}

/// One credential set as written in a credentials file or given on the
/// command line (kebab-case keys, unknown keys rejected).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CredentialSpec {
    #[serde(default)]
    pub snmp_version: Option<String>,
    #[serde(default)]
    pub community: Option<Secret>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub auth_protocol: Option<String>,
    #[serde(default)]
    pub auth_password: Option<Secret>,
    #[serde(default)]
    pub priv_protocol: Option<String>,
    #[serde(default)]
    pub priv_password: Option<Secret>,
    #[serde(default)]
    pub context: Option<String>,
}

impl CredentialSpec {
    /// Builds validated credentials; the version defaults to 2c, or 3 when a
    /// user is named.
    pub fn build(&self) -> Result<Credentials, CredentialsError> {
        let version = match (&self.snmp_version, &self.user) {
            (Some(v), _) => v.to_ascii_lowercase(),
            (None, Some(_)) => "3".into(),
            (None, None) => "2c".into(),
        };
        let credentials = match version.trim_start_matches('v') {
            "1" | "2c" | "2" => {
                for (present, name) in [
                    (self.user.is_some(), "user"),
                    (self.auth_protocol.is_some(), "auth-protocol"),
                    (self.auth_password.is_some(), "auth-password"),
                    (self.priv_protocol.is_some(), "priv-protocol"),
                    (self.priv_password.is_some(), "priv-password"),
                    (self.context.is_some(), "context"),
                ] {
                    if present {
                        return Err(CredentialsError::NotForCommunity(name));
                    }
                }
                Credentials::Community {
                    version: if version.trim_start_matches('v') == "1" {
                        CommunityVersion::V1
                    } else {
                        CommunityVersion::V2c
                    },
                    community: self
                        .community
                        .clone()
                        .unwrap_or_else(|| Secret::new("public")),
                }
            }
            "3" => {
                if self.community.is_some() {
                    return Err(CredentialsError::Incomplete(
                        "a community",
                        "SNMP version 1 or 2c",
                    ));
                }
                let auth = pair(
                    self.auth_protocol.as_deref(),
                    self.auth_password.as_ref(),
                    ("auth-password", "auth-protocol"),
                    AuthProtocol::Sha1,
                )?;
                let privacy = pair(
                    self.priv_protocol.as_deref(),
                    self.priv_password.as_ref(),
                    ("priv-password", "priv-protocol"),
                    PrivProtocol::Aes128,
                )?;
                Credentials::Usm(UsmCredentials {
                    user: self.user.clone().unwrap_or_default(),
                    auth,
                    privacy,
                    context: self.context.clone().unwrap_or_default(),
                })
            }
            _ => return Err(CredentialsError::UnknownVersion(version)),
        };
        credentials.validate()?;
        Ok(credentials)
    }
}

/// A protocol and its password: the password is required, the protocol
/// defaults (as in net-snmp: SHA for auth, AES for privacy).
fn pair<P: FromStr<Err = ProtocolNameError>>(
    protocol: Option<&str>,
    password: Option<&Secret>,
    names: (&'static str, &'static str),
    default: P,
) -> Result<Option<(P, Secret)>, CredentialsError> {
    match (protocol, password) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(CredentialsError::Incomplete(names.1, names.0)),
        (p, Some(pw)) => {
            let protocol = match p {
                Some(name) => name.parse()?,
                None => default,
            };
            Ok(Some((protocol, pw.clone())))
        }
    }
}

/// A `--credentials FILE`: credential sets tried in order.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CredentialsFile {
    pub credentials: Vec<CredentialSpec>,
}

impl CredentialsFile {
    /// Parses and validates every set; the error names the set (1-based).
    pub fn parse(text: &str) -> Result<Vec<Credentials>, String> {
        let file: CredentialsFile =
            toml::from_str(text).map_err(|e| format!("credentials file: {e}"))?;
        if file.credentials.is_empty() {
            return Err("credentials file: no [[credentials]] set".into());
        }
        file.credentials
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                spec.build()
                    .map_err(|e| format!("credentials file, set {}: {e}", i + 1))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_v2c_public() {
        let c = CredentialSpec::default().build().expect("valid");
        assert_eq!(c, Credentials::v2c("public"));
    }

    #[test]
    fn v3_auth_priv() {
        let spec = CredentialSpec {
            user: Some("monitor".into()),
            auth_protocol: Some("SHA-256".into()),
            auth_password: Some(Secret::new("authpassword")),
            priv_protocol: Some("aes256".into()),
            priv_password: Some(Secret::new("privpassword")),
            ..Default::default()
        };
        let Credentials::Usm(u) = spec.build().expect("valid") else {
            panic!("expected v3");
        };
        assert_eq!(u.auth.as_ref().map(|a| a.0), Some(AuthProtocol::Sha256));
        assert_eq!(u.privacy.as_ref().map(|p| p.0), Some(PrivProtocol::Aes256));
    }

    #[test]
    fn rejects_what_cannot_work() {
        let short = CredentialSpec {
            user: Some("u".into()),
            auth_password: Some(Secret::new("short")),
            ..Default::default()
        };
        assert_eq!(
            short.build(),
            Err(CredentialsError::ShortPassword("authentication"))
        );
        let priv_only = CredentialSpec {
            user: Some("u".into()),
            priv_password: Some(Secret::new("privpassword")),
            ..Default::default()
        };
        assert_eq!(priv_only.build(), Err(CredentialsError::PrivacyWithoutAuth));
        let mixed = CredentialSpec {
            community: Some(Secret::new("public")),
            user: Some("u".into()),
            snmp_version: Some("2c".into()),
            ..Default::default()
        };
        assert_eq!(
            mixed.build(),
            Err(CredentialsError::NotForCommunity("user"))
        );
        assert!(matches!(
            CredentialSpec {
                snmp_version: Some("4".into()),
                ..Default::default()
            }
            .build(),
            Err(CredentialsError::UnknownVersion(_))
        ));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = Credentials::v2c("s3cret-community");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(!c.describe().contains("s3cret"));
    }

    #[test]
    fn credentials_file_in_order_with_errors_named() {
        let text = r#"
            [[credentials]]
            community = "private"

            [[credentials]]
            user = "monitor"
            auth-protocol = "sha"
            auth-password = "authpassword"
        "#;
        let sets = CredentialsFile::parse(text).expect("valid");
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0], Credentials::v2c("private"));
        let bad = "[[credentials]]\ncomunity = \"x\"\n";
        assert!(CredentialsFile::parse(bad).is_err());
        let bad2 = "[[credentials]]\nuser = \"x\"\nauth-password = \"short\"\n";
        let err = CredentialsFile::parse(bad2).expect_err("short password");
        assert!(err.contains("set 1"), "{err}");
    }
}
