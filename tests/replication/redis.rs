//! Sidecars sharing one Redis: exact limits across them, one store, and
//! the failure modes while Redis is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::redis_harness::RedisServer;
use super::*;

fn sidecar(redis: &RedisServer) -> Server {
    replicated("redis.toml", &["--redis-url", &redis.url()])
}

/// 100 per minute allows exactly 100 across two sidecars under concurrent
/// load: every hit is counted atomically in Redis.
#[test]
fn two_sidecars_on_one_redis_enforce_one_limit_exactly() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let servers = [sidecar(&redis), sidecar(&redis)];
    // The limit's window is a clock minute: keep the burst inside one.
    std::thread::sleep(common::until_fresh_minute(Duration::from_secs(20)));
    let user = unique("ana");
    let allowed_total = Arc::new(AtomicU64::new(0));
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let addr = servers[thread % 2].addr;
            let (user, allowed_total) = (&user, &allowed_total);
            scope.spawn(move || {
                let mut client = Client::connect(addr);
                for _ in 0..25 {
                    let reply = rate_limit(&mut client, "api", &[("user_id", user)]);
                    if allowed(&reply) {
                        allowed_total.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(allowed_total.load(Ordering::Relaxed), 100, "of 200 hits");
    // Both sidecars see the same count now.
    for server in &servers {
        let reply = rate_limit(&mut server.client(), "api", &[("user_id", &user)]);
        assert!(!allowed(&reply));
        assert_eq!(reply["statuses"][0]["limits"][0]["remaining"], 0);
    }
}

/// A session written through one sidecar is read through the other with
/// the same absolute expiry.
#[test]
fn a_store_write_on_one_sidecar_is_read_on_the_other_with_its_ttl() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (sidecar(&redis), sidecar(&redis));
    let key = unique("session");
    let reply = put(&mut a.client(), &key, "10m", b"\x00token\xff");
    assert_eq!(reply.status, 201, "{}", reply.text());
    let (from_a, from_b) = (get(&mut a.client(), &key), get(&mut b.client(), &key));
    assert_eq!(from_b.status, 200, "{}", from_b.text());
    assert_eq!(from_b.body, b"\x00token\xff");
    let ttl = |r: &Response| -> i64 { r.header("x-reaper-ttl-ms").unwrap().parse().unwrap() };
    assert!(
        ttl(&from_b) > 590_000 && ttl(&from_b) <= 600_000,
        "{}",
        ttl(&from_b)
    );
    // The same expiry: the two reads are a few ms apart at most.
    assert!((ttl(&from_a) - ttl(&from_b)).abs() < 1_000);
    // Created only once, across sidecars.
    let again = b.client().send(
        "PUT",
        &format!("/v1/store/sessions/{key}?ttl=1m"),
        &[SERVICE[0], ("if-none-match", "*")],
        b"other",
    );
    assert_eq!(again.status, 412, "{}", again.text());
    let deleted = b.client().send(
        "DELETE",
        &format!("/v1/store/sessions/{key}"),
        &SERVICE,
        b"",
    );
    assert_eq!(deleted.status, 204);
    assert_eq!(get(&mut a.client(), &key).status, 404);
}

/// Redis stopped: rate limits answer by their failure mode (the `api`
/// domain fails open, `login` fails closed) within the timeout, the store
/// answers 503, and status and metrics show it; Redis back: recovery
/// without a restart.
#[test]
fn redis_down_answers_by_the_failure_modes_and_recovers_when_it_returns() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let server = sidecar(&redis);
    let mut client = server.client();
    let user = unique("bo");
    assert!(allowed(&rate_limit(
        &mut client,
        "login",
        &[("user", &user)]
    )));
    assert_eq!(put(&mut client, &user, "1m", b"v").status, 201);
    assert_eq!(status(&server)["backend"]["health"]["available"], true);

    redis.stop();
    let started = Instant::now();
    let open = rate_limit(&mut client, "api", &[("user_id", &user)]);
    // The configured timeout is 100 ms; a refused connection answers at
    // once. A loaded machine gets a generous margin, never a hang.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(allowed(&open), "api fails open: {open}");
    let closed = rate_limit(&mut client, "login", &[("user", &user)]);
    assert!(!allowed(&closed), "login fails closed: {closed}");
    let unavailable = get(&mut client, &user);
    assert_eq!(unavailable.status, 503, "{}", unavailable.text());
    assert!(
        unavailable.text().contains("redis"),
        "{}",
        unavailable.text()
    );
    let health = &status(&server)["backend"]["health"];
    assert_eq!(health["available"], false, "{health}");
    assert!(health["last_error"].is_string(), "{health}");
    let failovers = health["failovers"].as_array().unwrap();
    assert!(
        failovers
            .iter()
            .any(|f| f["concern"] == "ratelimit" && f["mode"] == "fail_open"),
        "{health}"
    );
    let metrics = client.get("/metrics").text();
    assert!(
        metrics
            .contains("reaper_backend_failovers_total{concern=\"ratelimit\",mode=\"fail_open\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reaper_backend_up{backend=\"redis\"} 0"),
        "{metrics}"
    );
    server
        .wait_for_log("the backend is unavailable", Duration::from_secs(5))
        .unwrap_or_else(|seen| panic!("no outage log line in {seen:#?}"));

    redis.restart();
    eventually(Duration::from_secs(15), "recovery", || {
        put(&mut client, &user, "1m", b"back").status == 201
    });
    assert_eq!(get(&mut client, &user).body, b"back");
    assert!(allowed(&rate_limit(
        &mut client,
        "login",
        &[("user", &user)]
    )));
    assert_eq!(status(&server)["backend"]["health"]["available"], true);
    server
        .wait_for_log("the backend is available again", Duration::from_secs(5))
        .unwrap_or_else(|seen| panic!("no recovery log line in {seen:#?}"));
}
