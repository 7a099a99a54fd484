//! A running `reaper serve` and a small HTTP/1.1 client for it, so the
//! server tests talk to the real binary over real sockets (loopback only).
//! The server binds `127.0.0.1:0`; its address is read from its JSON
//! "ready" log line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a test waits for the server to start on a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The gRPC address, unless started with `--grpc off`.
    pub grpc: Option<SocketAddr>,
    /// The log lines (stderr) after the ready line.
    pub logs: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `reaper serve ARGS --http 127.0.0.1:0 --grpc 127.0.0.1:0
    /// --log-format json` in `dir` and waits until it is ready.
    pub fn start(dir: &Path, args: &[&str]) -> Server {
        Server::start_with_env(dir, args, &[])
    }

    /// [`Server::start`] with environment variables set.
    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::try_start(dir, args, env).unwrap_or_else(|why| panic!("{why}"))
    }

    /// [`Server::start_with_env`], or why the server did not become ready
    /// (its log lines), for a caller that may try again.
    pub fn try_start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Server, String> {
        let mut command = super::reaper(dir);
        command
            .arg("serve")
            .args(args)
            .args(["--http", "127.0.0.1:0", "--log-format", "json"])
            .args(["--grpc", "127.0.0.1:0"])
            .envs(env.iter().copied());
        Server::try_spawn(command)
    }

    /// Runs `command` (a `reaper serve` logging JSON) and waits until it is
    /// ready.
    pub fn spawn(command: Command) -> Server {
        Server::try_spawn(command).unwrap_or_else(|why| panic!("{why}"))
    }

    fn try_spawn(mut command: Command) -> Result<Server, String> {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start reaper serve: {e}"));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let (tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let Ok(line) = logs.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "reaper serve did not become ready; it logged:\n{}",
                    seen.join("\n")
                ));
            };
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                seen.push(line);
                continue;
            };
            if event["message"] == "reaper serve is ready" {
                let addr = event["http"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .unwrap_or_else(|e| panic!("bad address in {line}: {e}"));
                let grpc = event["grpc"].as_str().and_then(|a| a.parse().ok());
                return Ok(Server {
                    child,
                    addr,
                    grpc,
                    logs,
                });
            }
            seen.push(line);
        }
    }

    /// The gRPC listener as a URI (`http://127.0.0.1:PORT`), for tonic clients.
    pub fn grpc_uri(&self) -> String {
        let addr = self.grpc.unwrap_or_else(|| panic!("started without gRPC"));
        format!("http://{addr}")
    }

    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(status.success());
    }

    /// Waits for the process to exit (bounded); its exit code.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits (bounded) for a log line containing `needle`; the lines seen.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<String, Vec<String>> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Ok(line) = self
            .logs
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.contains(needle) {
                return Ok(line);
            }
            seen.push(line);
        }
        Err(seen)
    }

    /// Log lines received so far.
    pub fn drain_logs(&self) -> Vec<String> {
        self.logs.try_iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Client {
    stream: BufReader<TcpStream>,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).ok();
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        Client {
            stream: BufReader::new(stream),
        }
    }

    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.stream.get_ref().set_read_timeout(Some(timeout)).ok();
    }

    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.write_head(method, path, headers, body.len());
        self.write_raw(body);
        self.read_response()
    }

    pub fn write_head(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        length: usize,
    ) {
        let mut head =
            format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-length: {length}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.write_raw(head.as_bytes());
    }

    pub fn write_raw(&mut self, bytes: &[u8]) {
        let stream = self.stream.get_mut();
        stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write: {e}"));
        stream.flush().ok();
    }

    pub fn read_response(&mut self) -> Response {
        self.try_read_response()
            .unwrap_or_else(|e| panic!("read: {e}"))
    }

    pub fn try_read_response(&mut self) -> std::io::Result<Response> {
        let mut line = String::new();
        self.stream.read_line(&mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        let mut length = 0;
        let mut chunked = false;
        loop {
            line.clear();
            self.stream.read_line(&mut line)?;
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if let Some((name, value)) = trimmed.split_once(':') {
                let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                }
                if name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
                    chunked = true;
                }
                headers.push((name, value));
            }
        }
        let body = if chunked {
            self.read_chunks()?
        } else {
            let mut body = vec![0; length];
            self.stream.read_exact(&mut body)?;
            body
        };
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// A chunked body (Envoy's admin answers so), trailers skipped.
    fn read_chunks(&mut self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                loop {
                    line.clear();
                    if self.stream.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            self.stream.read_exact(&mut body[start..])?;
            line.clear();
            self.stream.read_line(&mut line)?;
        }
    }

    pub fn post_json(&mut self, path: &str, body: &str) -> Response {
        self.send(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.send("GET", path, &[], b"")
    }
}
