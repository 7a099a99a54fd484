//! Arbitrary `authorization` header values against `[auth]` as the tests
//! configure it (a JWKS with RSA and EC keys, a PEM key, HS256 with a
//! secret; audience and issuer checked; claims mapped to the principal and
//! context): every value is refused with a reason or yields an identity,
//! never a panic. The input goes in as it is and after `Bearer `, and as a
//! token with a forged header (`alg` from the input) over the test's claims.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use reaper_server::AuthSettings;
use reaper_server::auth::Auth;

fn auth() -> &'static Auth {
    static AUTH: OnceLock<Auth> = OnceLock::new();
    AUTH.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/auth");
        let secret = std::env::temp_dir().join("reaper-fuzz-hmac-secret");
        std::fs::write(&secret, "a shared secret of at least thirty-two bytes").expect("a temp file");
        let settings: AuthSettings = toml::from_str(&format!(
            r#"
jwks_file = "{jwks}"
public_keys = ["{rsa}"]
hmac_secret_file = "{secret}"
algorithms = ["RS256", "ES256", "HS256"]
audiences = ["reaper"]
issuers = ["https://issuer.test/"]

[principal]
type = "Service"
id_claim = "sub"

[context]
tenant = "tenant_id"
level = "org.level"
"#,
            jwks = dir.join("jwks.json").display(),
            rsa = dir.join("rsa2.pub.pem").display(),
            secret = secret.display(),
        ))
        .expect("the settings parse");
        let policy = std::fs::read_to_string(dir.join("policy.reaper")).expect("the test policy");
        let bytes = reaper_fuzz::compile(&[("policy.reaper", &policy)]);
        let engine = reaper_runtime::Engine::load(&bytes).expect("the bundle loads");
        Auth::build(&settings, &engine).expect("the settings hold")
    })
}

fuzz_target!(|data: &[u8]| {
    let auth = auth();
    let _ = auth.authenticate(Some(data));
    let mut bearer = b"Bearer ".to_vec();
    bearer.extend_from_slice(data);
    let _ = auth.authenticate(Some(&bearer));
    // A well-formed token shape whose header and payload come from the input.
    let text = String::from_utf8_lossy(data);
    let (header, payload) = text.split_once('\n').unwrap_or((&text, "{}"));
    let encode = |part: &str| base64_url(part.as_bytes());
    let token = format!("Bearer {}.{}.c2ln", encode(header), encode(payload));
    let _ = auth.authenticate(Some(token.as_bytes()));
});

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}
