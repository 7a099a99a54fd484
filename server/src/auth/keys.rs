//! The keys tokens are verified with, read from the files `[auth]` names:
//! a JWKS, PEM public keys, an HMAC secret. Read at start and on every
//! reload (so a rotated JWKS is picked up); a file that cannot be read or
//! holds no usable key is an error naming the setting, and the keys in use
//! stay.

use std::path::Path;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use super::AuthError;
use crate::AuthSettings;

/// An HMAC secret shorter than this is refused: it could be guessed.
const MIN_SECRET_BYTES: usize = 32;

/// One verification key.
pub struct Key {
    /// The `kid` tokens name it by, if it has one.
    pub kid: Option<String>,
    /// The one algorithm a JWK restricts it to (`alg`), if it does.
    pub alg: Option<Algorithm>,
    pub family: AlgorithmFamily,
    pub key: DecodingKey,
}

/// Every key of the configuration, in the order given.
#[derive(Default)]
pub struct KeySet {
    pub keys: Vec<Key>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl KeySet {
    /// The keys that may verify a token signed with `alg` naming `kid`:
    /// of the algorithm's family, and when the token names a `kid`, the
    /// keys with that `kid` and those configured without one (a PEM key
    /// given without `kid` still verifies an identity provider's tokens,
    /// which name their key).
    pub fn candidates<'a>(
        &'a self,
        alg: Algorithm,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Key> + 'a {
        self.keys.iter().filter(move |k| {
            k.family == alg.family()
                && k.alg.is_none_or(|a| a == alg)
                && match kid {
                    Some(kid) => k.kid.as_deref().is_none_or(|k| k == kid),
                    None => true,
                }
        })
    }

    /// Reads every key file the settings name.
    pub fn load(settings: &AuthSettings) -> Result<KeySet, AuthError> {
        let mut keys = Vec::new();
        if let Some(path) = &settings.jwks_file {
            keys.extend(jwks(path)?);
        }
        for (i, setting) in settings.public_keys.iter().enumerate() {
            let key = pem(setting.file()).map_err(|reason| AuthError::Setting {
                key: format!("auth.public_keys[{i}]"),
                reason,
            })?;
            keys.push(Key {
                kid: setting.kid().map(str::to_owned),
                alg: None,
                family: key.0,
                key: key.1,
            });
        }
        if let Some(path) = &settings.hmac_secret_file {
            let text = read(path).map_err(|reason| AuthError::Setting {
                key: "auth.hmac_secret_file".into(),
                reason,
            })?;
            let secret = text.trim();
            if secret.len() < MIN_SECRET_BYTES {
                return Err(AuthError::Setting {
                    key: "auth.hmac_secret_file".into(),
                    reason: format!(
                        "`{}` holds {} bytes; an HMAC secret has at least {MIN_SECRET_BYTES}",
                        path.display(),
                        secret.len()
                    ),
                });
            }
            keys.push(Key {
                kid: None,
                alg: None,
                family: AlgorithmFamily::Hmac,
                key: DecodingKey::from_secret(secret.as_bytes()),
            });
        }
        Ok(KeySet { keys })
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// The signing keys of a JWKS. Encryption keys (`use: enc`) are skipped;
/// a symmetric (`oct`) key or one that does not decode is an error, so a
/// broken rotation is refused rather than half applied.
fn jwks(path: &Path) -> Result<Vec<Key>, AuthError> {
    let setting = |reason: String| AuthError::Setting {
        key: "auth.jwks_file".into(),
        reason,
    };
    let text = read(path).map_err(setting)?;
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_str(&text)
        .map_err(|e| setting(format!("`{}` is not a JWKS: {e}", path.display())))?;
    let mut keys = Vec::new();
    for (i, value) in set.keys.into_iter().enumerate() {
        let at = |reason: String| setting(format!("`{}`: keys[{i}]: {reason}", path.display()));
        let text_field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        if text_field("use").as_deref() == Some("enc") {
            continue;
        }
        if text_field("kty").as_deref() == Some("oct") {
            return Err(at(
                "a symmetric (`oct`) key; HMAC secrets come only from auth.hmac_secret_file".into(),
            ));
        }
        let alg = match text_field("alg") {
            Some(name) => Some(
                name.parse::<Algorithm>()
                    .map_err(|_| at(format!("unknown algorithm `{name}`")))?,
            ),
            None => None,
        };
        let jwk: Jwk = serde_json::from_value(value).map_err(|e| at(e.to_string()))?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| at(format!("unusable key: {e}")))?;
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            family: key.family(),
            key,
        });
    }
    if keys.is_empty() {
        return Err(setting(format!(
            "`{}` holds no signing key",
            path.display()
        )));
    }
    Ok(keys)
}

/// A PEM public key of any kind jsonwebtoken verifies with.
fn pem(path: &Path) -> Result<(AlgorithmFamily, DecodingKey), String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    // jsonwebtoken takes a private key's PEM too, and fails only when a
    // token is verified with it: refuse it here, and keep private keys out
    // of the server's files.
    if bytes.windows(7).any(|w| w == b"PRIVATE") {
        return Err(format!(
            "`{}` holds a private key; give the public key (`openssl pkey -pubout`)",
            path.display()
        ));
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(&bytes) {
        return Ok((AlgorithmFamily::Rsa, key));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(&bytes) {
        return Ok((AlgorithmFamily::Ec, key));
    }
    if let Ok(key) = DecodingKey::from_ed_pem(&bytes) {
        return Ok((AlgorithmFamily::Ed, key));
    }
    Err(format!(
        "`{}` is not an RSA, EC or Ed25519 public key in PEM",
        path.display()
    ))
}
