//! Arbitrary messages to every gRPC method of `reaper serve`, in process,
//! on the Envoy example (an `http` block, a rate-limit domain, entity
//! data): the first byte picks the method, the rest is the message. Every
//! answer is a gRPC status the server means (never INTERNAL or UNKNOWN),
//! and the server goes on answering. Never panics.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 11] = [
    "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
    "/envoy.service.auth.v3.Authorization/Check",
    "/reaper.v1.Reaper/Authorize",
    "/reaper.v1.Reaper/AuthorizeBatch",
    "/reaper.v1.Reaper/RateLimit",
    "/reaper.v1.Reaper/StoreGet",
    "/reaper.v1.Reaper/StorePut",
    "/reaper.v1.Reaper/StoreDelete",
    "/reaper.v1.Reaper/Status",
    "/reaper.v1.Reaper/Reload",
    "/grpc.health.v1.Health/Check",
];

fn server() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static SERVER: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let shared = reaper_fuzz::example_server("envoy", &["schema", "http", "rules", "limits"], &runtime);
        let (router, _health) = runtime
            .block_on(reaper_server::grpc::routes(shared, reaper_server::GrpcLimits::default()))
            .expect("the gRPC services");
        (runtime, router)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, message)) = data.split_first() else {
        return;
    };
    let method = METHODS[usize::from(first) % METHODS.len()];
    let (runtime, router) = server();
    runtime.block_on(async {
        let (code, why) = reaper_fuzz::grpc_call(router, method, message).await;
        assert!(!matches!(code, tonic::Code::Internal | tonic::Code::Unknown), "{method}: {code:?} {why}");
        assert_eq!(reaper_fuzz::grpc_call(router, "/reaper.v1.Reaper/Status", &[]).await.0, tonic::Code::Ok);
    });
});
