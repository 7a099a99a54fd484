//! Arbitrary text through the decision log's redaction of `@sensitive`
//! fields (on a schema marking attributes, nested fields and context
//! fields, to mask and to drop): never a panic; JSON in gives JSON out, in
//! which no marked value survives.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use reaper_runtime::Engine;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let bytes = reaper_fuzz::compile(&[(
            "policy.reaper",
            r#"
entity User { name: String, @sensitive("drop") ssn: String, profile: { @sensitive phone: String, city: String } }
context { @sensitive password?: String, @sensitive("drop") card?: { number: String }, ip?: Ip }
action read on User by User
permit read;
"#,
        )]);
        Engine::load(&bytes).expect("the bundle loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let schema = engine().schema();
    let mut out = String::new();
    let result = schema.sensitive.redact_request(schema, text, &mut out);
    let Ok(input) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    assert!(result.is_ok(), "JSON refused: {text}");
    let output: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {text} -> {out}"));
    if let Some(context) = input.get("context").and_then(serde_json::Value::as_object) {
        let redacted = output.get("context");
        if context.contains_key("password") {
            assert_eq!(redacted.and_then(|c| c.get("password")), Some(&serde_json::json!("<masked>")));
        }
        assert!(redacted.and_then(|c| c.get("card")).is_none(), "card dropped: {out}");
    }
});
