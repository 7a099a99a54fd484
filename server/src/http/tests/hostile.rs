//! Whatever a client sends, the server answers with a status below 500
//! (or 503/507, which are about the backend, not the request), never
//! panics, and loses no stored data.

use axum::body::Body;
use axum::http::{Method, StatusCode};

use super::*;
use proptest::prelude::*;

const PATHS: &[&str] = &[
    "/v1/authorize",
    "/v1/authorize/batch",
    "/access/v1/evaluation",
    "/access/v1/evaluations",
    "/v1/ratelimit",
    "/v1/store/sessions/k",
    "/v1/store/sessions/%FF%00",
    "/v1/store/nope/k",
    "/v1/admin/reload",
    "/v1/admin/entities",
    "/v1/admin/entities/User/bo",
    "/v1/status",
    "/metrics",
    "/nowhere",
];

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        // JSON-ish text, often almost valid.
        "[{}\\[\\]\":,0-9a-z \\-.]{0,80}".prop_map(String::into_bytes),
        Just(br#"{"principal":{"type":"User","id":"bo"},"action":"read","resource":{"type":"Doc","id":"d"}}"#.to_vec()),
        Just(br#"{"domain":"edge","descriptors":[{"entries":[{"key":"user_id","value":"x"}],"hits_addend":"9"}]}"#.to_vec()),
        Just(br#"{"requests":[1,{},null]}"#.to_vec()),
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Service::\"api\"".to_owned()),
        Just("{\"mfa\": false}".to_owned()),
        Just("Bearer sesame".to_owned()),
        "[ -~]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn no_request_breaks_the_server_or_its_data(
        requests in proptest::collection::vec(
            (0..5usize, 0..PATHS.len(), body(), proptest::collection::vec((0..4usize, header_value()), 0..3)),
            1..8,
        )
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let h = harness();
            let put = call(&h.app, Method::PUT, "/v1/store/sessions/kept", &STORE_HEADERS, "safe").await;
            assert_eq!(put.status, StatusCode::CREATED);
            for (method, path, body, headers) in requests {
                let method = [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH][method].clone();
                let names = ["x-reaper-principal", "x-reaper-context", "authorization", "if-none-match"];
                let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (names[*n], v.as_str())).collect();
                let reply = call(&h.app, method.clone(), PATHS[path], &headers, body).await;
                let status = reply.status.as_u16();
                assert!(status < 500 || status == 503 || status == 507, "{method} {}: {status} {:?}", PATHS[path], reply.body);
                if reply.headers.get("content-type").is_some_and(|t| t == "application/json") {
                    reply.json();
                }
            }
            let get = call(&h.app, Method::GET, "/v1/store/sessions/kept", &STORE_HEADERS, Body::empty()).await;
            assert_eq!(get.body, "safe");
        });
    }
}
