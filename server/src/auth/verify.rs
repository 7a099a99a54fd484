//! Verifying one bearer token: its header read first (so `alg: none`, an
//! algorithm outside the allow-list or an unknown `kid` is refused with its
//! own reason before any key is tried), then the signature against the
//! candidate keys, then `exp`/`nbf` (with the leeway) and, when
//! configured, `aud` and `iss`. Every refusal is a [`Rejection`]: a metric
//! label and a sentence for the caller.

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::keys::KeySet;
use super::{AuthError, Rejection};
use crate::AuthSettings;

/// Leeway on `exp` and `nbf` unless configured.
const DEFAULT_LEEWAY_SECS: u64 = 60;

/// The checks a token must pass, by allowed algorithm (jsonwebtoken wants
/// one algorithm family per validation).
#[derive(Debug)]
pub struct Verifier {
    validations: Vec<(Algorithm, Validation)>,
}

/// Decoded claims of a verified token.
pub type Claims = Map<String, Value>;

impl Verifier {
    /// The allow-list and the claim checks of `settings`; `None` when no
    /// key is configured (no token is required).
    pub fn new(settings: &AuthSettings) -> Result<Option<Verifier>, AuthError> {
        let setting = |key: &str, reason: String| AuthError::Setting {
            key: key.to_owned(),
            reason,
        };
        let has_keys = settings.jwks_file.is_some()
            || !settings.public_keys.is_empty()
            || settings.hmac_secret_file.is_some();
        if !has_keys {
            for (key, set) in [
                ("auth.algorithms", !settings.algorithms.is_empty()),
                ("auth.audiences", !settings.audiences.is_empty()),
                ("auth.issuers", !settings.issuers.is_empty()),
                ("auth.leeway", settings.leeway.is_some()),
                (
                    "auth.require_for_envoy",
                    settings.require_for_envoy.is_some(),
                ),
            ] {
                if set {
                    return Err(setting(key, no_keys()));
                }
            }
            return Ok(None);
        }
        if settings.algorithms.is_empty() {
            return Err(setting(
                "auth.algorithms",
                "required with a key: list the algorithms tokens may be signed with, as `algorithms = [\"RS256\"]`".into(),
            ));
        }
        let leeway = match &settings.leeway {
            None => DEFAULT_LEEWAY_SECS,
            Some(text) => {
                let ms = reaper_lang::literal::parse_duration(text)
                    .ok()
                    .and_then(|ms| u64::try_from(ms).ok())
                    .ok_or_else(|| {
                        setting(
                            "auth.leeway",
                            format!("`{text}` is not a duration such as `30s`"),
                        )
                    })?;
                ms.div_ceil(1000)
            }
        };
        let mut validations = Vec::new();
        for name in &settings.algorithms {
            let algorithm = allowed_algorithm(name, settings.hmac_secret_file.is_some())
                .map_err(|reason| setting("auth.algorithms", reason))?;
            if validations.iter().any(|(a, _)| *a == algorithm) {
                continue;
            }
            let mut validation = Validation::new(algorithm);
            validation.leeway = leeway;
            validation.validate_exp = true;
            validation.validate_nbf = true;
            let mut required = vec!["exp"];
            if settings.audiences.is_empty() {
                // jsonwebtoken refuses any `aud` when none is expected; an
                // audience is only checked when one is configured.
                validation.validate_aud = false;
            } else {
                validation.set_audience(&settings.audiences);
                required.push("aud");
            }
            if !settings.issuers.is_empty() {
                validation.set_issuer(&settings.issuers);
                required.push("iss");
            }
            validation.set_required_spec_claims(&required);
            validations.push((algorithm, validation));
        }
        Ok(Some(Verifier { validations }))
    }

    /// Whether some key of `keys` can verify some allowed algorithm.
    pub fn usable(&self, keys: &KeySet) -> bool {
        self.validations
            .iter()
            .any(|(alg, _)| keys.candidates(*alg, None).next().is_some())
    }

    /// The claims of `token` if it verifies.
    pub fn verify(&self, keys: &KeySet, token: &str) -> Result<Claims, Rejection> {
        let header = header(token)?;
        if header.alg.eq_ignore_ascii_case("none") {
            return Err(Rejection::new(
                "algorithm",
                "the token is unsigned (`alg: none`), which is never accepted",
            ));
        }
        let not_allowed = || {
            Rejection::new(
                "algorithm",
                format!(
                    "the token is signed with `{}`, which auth.algorithms does not allow",
                    header.alg
                ),
            )
        };
        let algorithm: Algorithm = header.alg.parse().map_err(|_| not_allowed())?;
        let validation = self
            .validations
            .iter()
            .find(|(a, _)| *a == algorithm)
            .map(|(_, v)| v)
            .ok_or_else(not_allowed)?;
        let mut tried = false;
        for key in keys.candidates(algorithm, header.kid.as_deref()) {
            tried = true;
            match jsonwebtoken::decode::<Claims>(token, &key.key, validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
                Err(e) => return Err(rejection(e.kind())),
            }
        }
        Err(match (&header.kid, tried) {
            (Some(kid), false) => Rejection::new(
                "unknown_key",
                format!("no key has the token's kid `{}`", excerpt(kid)),
            ),
            (None, false) => Rejection::new(
                "unknown_key",
                format!("no key verifies `{}` tokens", header.alg),
            ),
            (_, true) => Rejection::new(
                "signature",
                "the signature does not verify with the configured keys",
            ),
        })
    }
}

fn no_keys() -> String {
    "set only with a key: auth.jwks_file, auth.public_keys or auth.hmac_secret_file".into()
}

/// An algorithm name `auth.algorithms` may list.
fn allowed_algorithm(name: &str, has_secret: bool) -> Result<Algorithm, String> {
    if name.eq_ignore_ascii_case("none") {
        return Err("`none` (unsigned tokens) is never allowed".into());
    }
    let algorithm: Algorithm = name.parse().map_err(|_| {
        format!(
            "unknown algorithm `{name}` (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384, HS512)"
        )
    })?;
    if algorithm.family() == jsonwebtoken::AlgorithmFamily::Hmac && !has_secret {
        return Err(format!(
            "`{name}` is an HMAC algorithm: allowed only with auth.hmac_secret_file"
        ));
    }
    Ok(algorithm)
}

/// The parts of a token's header Reaper reads itself.
#[derive(serde::Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

fn header(token: &str) -> Result<Header, Rejection> {
    let malformed =
        |why: &str| Rejection::new("malformed", format!("the token is not a JWT: {why}"));
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("it has not three parts separated by dots"));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head.trim_end_matches('='))
        .map_err(|_| malformed("its header is not base64url"))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| malformed("its header is not a JSON object with `alg`"))
}

fn rejection(kind: &ErrorKind) -> Rejection {
    match kind {
        ErrorKind::ExpiredSignature => Rejection::new("expired", "the token has expired (`exp`)"),
        ErrorKind::ImmatureSignature => {
            Rejection::new("not_yet_valid", "the token is not valid yet (`nbf`)")
        }
        ErrorKind::InvalidAudience => Rejection::new(
            "audience",
            "the token's audience (`aud`) is not one of auth.audiences",
        ),
        ErrorKind::InvalidIssuer => Rejection::new(
            "issuer",
            "the token's issuer (`iss`) is not one of auth.issuers",
        ),
        ErrorKind::MissingRequiredClaim(claim) => Rejection::new(
            "missing_claim",
            format!("the token has no `{}` claim", excerpt(claim)),
        ),
        ErrorKind::InvalidClaimFormat(claim) => Rejection::new(
            "malformed",
            format!(
                "the token's `{}` claim is not a number of seconds",
                excerpt(claim)
            ),
        ),
        ErrorKind::InvalidSignature => Rejection::new(
            "signature",
            "the signature does not verify with the configured keys",
        ),
        ErrorKind::InvalidAlgorithm => {
            Rejection::new("algorithm", "the token's algorithm does not fit the key")
        }
        ErrorKind::Json(_) => {
            Rejection::new("malformed", "the token's claims are not a JSON object")
        }
        _ => Rejection::new("malformed", "the token is not a well-formed JWT"),
    }
}

/// At most 64 characters of client text, for messages.
pub(super) fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(64).collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_and_unknown_algorithms_are_refused_in_the_settings() {
        assert!(
            allowed_algorithm("none", true)
                .unwrap_err()
                .contains("never")
        );
        assert!(
            allowed_algorithm("XS256", false)
                .unwrap_err()
                .contains("unknown algorithm `XS256`")
        );
        assert!(
            allowed_algorithm("HS256", false)
                .unwrap_err()
                .contains("hmac_secret_file")
        );
        assert_eq!(allowed_algorithm("HS256", true), Ok(Algorithm::HS256));
        assert_eq!(allowed_algorithm("ES256", false), Ok(Algorithm::ES256));
    }

    #[test]
    fn a_header_that_is_not_a_jwt_is_malformed() {
        for token in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.sig", "e30.e30.sig"] {
            let error = header(token).err().unwrap();
            assert_eq!(error.reason, "malformed", "{token}");
        }
        // {"alg":"none"}
        let head = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        assert_eq!(header(&format!("{head}.e30.")).ok().unwrap().alg, "none");
    }

    #[test]
    fn settings_without_a_key_require_no_token_but_refuse_key_settings() {
        assert!(Verifier::new(&AuthSettings::default()).unwrap().is_none());
        let settings = AuthSettings {
            algorithms: vec!["RS256".into()],
            ..AuthSettings::default()
        };
        let error = Verifier::new(&settings).unwrap_err().to_string();
        assert!(
            error.starts_with("auth.algorithms: set only with a key"),
            "{error}"
        );
    }
}
