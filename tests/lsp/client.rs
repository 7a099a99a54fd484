//! A small LSP client over the real `reaper lsp`: JSON-RPC framed by
//! `Content-Length` headers on the child's stdin/stdout. A reader thread
//! routes what the server sends — responses by id, `publishDiagnostics` per
//! document, `window/showMessage` — into shared state that waits are
//! answered from (a condition variable, never a sleep). Every wait is
//! bounded: a server that hangs fails the test instead of stalling CI.
//!
//! The client keeps each open document's text and version, applying its own
//! edits as the server does, so tests can ask for "the diagnostics of the
//! latest version" and compare against the text as the server sees it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::text;

/// How long a request or a wait may take on a loaded 2-core CI machine.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// One `textDocument/publishDiagnostics` as received.
#[derive(Debug, Clone)]
pub struct Publish {
    /// Its place among all publishes of the session (0, 1, 2, …).
    pub seq: usize,
    pub version: Option<i64>,
    pub diagnostics: Vec<Value>,
}

/// What the reader thread has received so far.
#[derive(Default)]
struct Received {
    responses: HashMap<i64, Value>,
    publishes: HashMap<String, Vec<Publish>>,
    publish_count: usize,
    messages: Vec<Value>,
    /// Requests the server sent the client, by method.
    server_requests: Vec<String>,
    /// The server's standard error, for failure messages.
    stderr: String,
    /// The server closed its stdout (exited or crashed).
    closed: bool,
    /// Frames that were not JSON-RPC.
    garbage: Vec<String>,
}

struct Shared {
    received: Mutex<Received>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Received> {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut Received)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    /// Waits until `ready` returns something, at most [`TIMEOUT`].
    fn wait<T>(&self, what: &str, mut ready: impl FnMut(&Received) -> Option<T>) -> T {
        let deadline = Instant::now() + TIMEOUT;
        let mut received = self.lock();
        loop {
            if let Some(found) = ready(&received) {
                return found;
            }
            if received.closed {
                panic!(
                    "the server exited while waiting for {what}; its stderr:\n{}",
                    received.stderr
                );
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "no {what} within {TIMEOUT:?}; the server's stderr:\n{}",
                    received.stderr
                );
            }
            received = self
                .changed
                .wait_timeout(received, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// An open document as the client last sent it.
#[derive(Debug, Clone)]
pub struct Doc {
    pub version: i64,
    pub text: String,
}

/// A JSON-RPC error answer.
#[derive(Debug, Clone)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

/// A running `reaper lsp`, initialized.
pub struct Server {
    child: Child,
    stdin: Arc<Mutex<ChildStdin>>,
    shared: Arc<Shared>,
    next_id: i64,
    docs: HashMap<String, Doc>,
    /// The `initialize` result.
    pub capabilities: Value,
}

fn frame(stdin: &Mutex<ChildStdin>, message: &Value) {
    let body = message.to_string();
    let mut stdin = stdin
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // A server that died shows up in the next wait, with its stderr.
    let _ = write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len());
    let _ = stdin.flush();
}

/// Reads one frame's body, `None` at the end of the stream.
fn read_frame(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

fn route(shared: &Shared, stdin: &Mutex<ChildStdin>, message: Value) {
    let method = message.get("method").and_then(Value::as_str);
    let id = message.get("id").cloned();
    match (method, id) {
        (None, Some(id)) => {
            let id = id.as_i64().unwrap_or(-1);
            shared.update(|r| {
                r.responses.insert(id, message);
            });
        }
        (Some(method), Some(id)) => {
            // A request to the client: none is expected, but answering keeps
            // a server that asks from waiting forever.
            let method = method.to_owned();
            frame(stdin, &json!({"jsonrpc": "2.0", "id": id, "result": null}));
            shared.update(|r| r.server_requests.push(method));
        }
        (Some("textDocument/publishDiagnostics"), None) => {
            let params = &message["params"];
            let uri = params["uri"].as_str().unwrap_or_default().to_owned();
            let version = params.get("version").and_then(Value::as_i64);
            let diagnostics = params["diagnostics"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            shared.update(|r| {
                let seq = r.publish_count;
                r.publish_count += 1;
                r.publishes.entry(uri).or_default().push(Publish {
                    seq,
                    version,
                    diagnostics,
                });
            });
        }
        (Some("window/showMessage"), None) => {
            shared.update(|r| r.messages.push(message["params"].clone()));
        }
        // Logs and other notifications are not asserted on.
        (Some(_), None) => {}
        (None, None) => shared.update(|r| r.garbage.push(message.to_string())),
    }
}

impl Server {
    /// Starts `reaper lsp` and initializes it, offering UTF-16 positions only.
    pub fn start() -> Server {
        Server::start_with_encodings(&["utf-16"])
    }

    /// Starts `reaper lsp` and initializes it, offering `encodings` for
    /// positions.
    pub fn start_with_encodings(encodings: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_reaper"))
            .arg("lsp")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start reaper lsp: {e}"));
        let stdin = Arc::new(Mutex::new(child.stdin.take().expect("piped stdin")));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let shared = Arc::new(Shared {
            received: Mutex::new(Received::default()),
            changed: Condvar::new(),
        });
        {
            let shared = shared.clone();
            let stdin = stdin.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                while let Some(body) = read_frame(&mut reader) {
                    match serde_json::from_slice::<Value>(&body) {
                        Ok(message) => route(&shared, &stdin, message),
                        Err(_) => shared.update(|r| {
                            r.garbage.push(String::from_utf8_lossy(&body).into_owned());
                        }),
                    }
                }
                shared.update(|r| r.closed = true);
            });
        }
        {
            let shared = shared.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stderr);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    shared.update(|r| r.stderr.push_str(&line));
                    line.clear();
                }
            });
        }
        let mut server = Server {
            child,
            stdin,
            shared,
            next_id: 1,
            docs: HashMap::new(),
            capabilities: Value::Null,
        };
        server.capabilities = server.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": null,
                "capabilities": {
                    "general": { "positionEncodings": encodings },
                    "textDocument": {
                        "publishDiagnostics": { "relatedInformation": true, "versionSupport": true },
                        "hover": { "contentFormat": ["markdown", "plaintext"] },
                        "rename": { "prepareSupport": true },
                    },
                    "window": { "showMessage": {} },
                },
            }),
        );
        server.notify("initialized", json!({}));
        server
    }

    pub fn notify(&self, method: &str, params: Value) {
        frame(
            &self.stdin,
            &json!({"jsonrpc": "2.0", "method": method, "params": params}),
        );
    }

    /// Sends a request and waits for its answer: the result, or the error.
    pub fn try_request(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id;
        self.next_id += 1;
        frame(
            &self.stdin,
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        );
        let answer = self
            .shared
            .wait(&format!("answer to {method} (id {id})"), |r| {
                r.responses.get(&id).cloned()
            });
        match answer.get("error") {
            Some(error) => Err(RpcError {
                code: error["code"].as_i64().unwrap_or(0),
                message: error["message"].as_str().unwrap_or_default().to_owned(),
            }),
            None => Ok(answer.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    /// Sends a request that must succeed; its result.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        self.try_request(method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {} {}", e.code, e.message))
    }

    pub fn open(&mut self, uri: &str, text: &str) {
        self.docs.insert(
            uri.to_owned(),
            Doc {
                version: 1,
                text: text.to_owned(),
            },
        );
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "reaper", "version": 1, "text": text}}),
        );
    }

    /// Sends changes (each `{"range": …, "text": …}`, or `{"text": …}` for
    /// the whole text) as the next version, applying them to the client's
    /// copy as well. The new version.
    pub fn change(&mut self, uri: &str, changes: Vec<Value>) -> i64 {
        let doc = self
            .docs
            .get_mut(uri)
            .unwrap_or_else(|| panic!("{uri} is not open"));
        for change in &changes {
            let new = change["text"].as_str().unwrap_or_default();
            match change.get("range") {
                Some(range) => {
                    let start = text::offset(&doc.text, &range["start"]);
                    let end = text::offset(&doc.text, &range["end"]).max(start);
                    doc.text.replace_range(start..end, new);
                }
                None => doc.text = new.to_owned(),
            }
        }
        doc.version += 1;
        let version = doc.version;
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": changes}),
        );
        version
    }

    /// Replaces the whole text of an open document.
    pub fn replace(&mut self, uri: &str, text: &str) -> i64 {
        self.change(uri, vec![json!({"text": text})])
    }

    pub fn close(&mut self, uri: &str) {
        self.docs.remove(uri);
        self.notify(
            "textDocument/didClose",
            json!({"textDocument": {"uri": uri}}),
        );
    }

    /// The client's copy of an open document.
    pub fn doc(&self, uri: &str) -> &Doc {
        self.docs
            .get(uri)
            .unwrap_or_else(|| panic!("{uri} is not open"))
    }

    pub fn open_uris(&self) -> Vec<String> {
        let mut uris: Vec<String> = self.docs.keys().cloned().collect();
        uris.sort();
        uris
    }

    /// How many publishes the session has seen, for [`Server::wait_publish`].
    pub fn publish_count(&self) -> usize {
        self.shared.lock().publish_count
    }

    /// Every publish for `uri` so far, oldest first.
    pub fn publishes(&self, uri: &str) -> Vec<Publish> {
        self.shared
            .lock()
            .publishes
            .get(uri)
            .cloned()
            .unwrap_or_default()
    }

    /// The last publish for `uri`, if any.
    pub fn last_publish(&self, uri: &str) -> Option<Publish> {
        self.shared
            .lock()
            .publishes
            .get(uri)
            .and_then(|p| p.last().cloned())
    }

    /// Waits for a publish for `uri` after the session's `since`-th one
    /// (see [`Server::publish_count`]) that `accept` takes; its diagnostics.
    pub fn wait_publish(
        &self,
        uri: &str,
        since: usize,
        accept: impl Fn(&Publish) -> bool,
    ) -> Vec<Value> {
        self.shared.wait(&format!("diagnostics for {uri}"), |r| {
            r.publishes
                .get(uri)?
                .iter()
                .rev()
                .take_while(|p| p.seq >= since)
                .find(|p| accept(p))
                .map(|p| p.diagnostics.clone())
        })
    }

    /// The diagnostics of the latest version of the open document `uri`:
    /// waits until the last publish for it carries that version, so they
    /// are never those of an older text.
    pub fn wait_diagnostics(&self, uri: &str) -> Vec<Value> {
        let version = self.doc(uri).version;
        self.shared
            .wait(&format!("diagnostics for {uri} version {version}"), |r| {
                let last = r.publishes.get(uri)?.last()?;
                (last.version == Some(version)).then(|| last.diagnostics.clone())
            })
    }

    /// Waits until the last publish for `uri` satisfies `accept` (for files
    /// that are not open, whose publishes carry no version); its diagnostics.
    pub fn wait_diagnostics_until(
        &self,
        uri: &str,
        accept: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        self.shared
            .wait(&format!("matching diagnostics for {uri}"), |r| {
                let last = r.publishes.get(uri)?.last()?;
                accept(&last.diagnostics).then(|| last.diagnostics.clone())
            })
    }

    /// Makes every open document's latest publish reflect the final state of
    /// the package: each document is sent again unchanged as a new version
    /// (a full-text change, as editors without incremental sync send), and
    /// the publish of that version is awaited. A check that saw a
    /// document's new version saw every change sent before it, so no
    /// document is left with diagnostics of an older state of another.
    pub fn settle(&mut self) -> HashMap<String, Vec<Value>> {
        let uris = self.open_uris();
        for uri in &uris {
            let text = self.doc(uri).text.clone();
            self.replace(uri, &text);
        }
        uris.iter()
            .map(|uri| (uri.clone(), self.wait_diagnostics(uri)))
            .collect()
    }

    /// `window/showMessage` notifications received so far.
    pub fn messages(&self) -> Vec<Value> {
        self.shared.lock().messages.clone()
    }

    /// Anything unexpected the server sent: requests to the client and
    /// frames that were not JSON-RPC messages.
    pub fn oddities(&self) -> Vec<String> {
        let r = self.shared.lock();
        r.server_requests
            .iter()
            .map(|m| format!("request {m}"))
            .chain(r.garbage.iter().map(|g| format!("garbage {g}")))
            .collect()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Ends the session as an editor does (`shutdown`, then `exit`) and
    /// waits for the process to end; its exit code.
    pub fn shutdown(mut self) -> Option<i32> {
        let answer = self.request("shutdown", Value::Null);
        assert_eq!(answer, Value::Null, "shutdown answers null");
        self.notify("exit", Value::Null);
        self.wait_exit()
    }

    /// Waits for the process to end; its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.code(),
                Ok(None) if Instant::now() < deadline => {
                    // Bounded polling of the process state: there is no
                    // portable way to wait for a child with a timeout.
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => panic!("reaper lsp did not exit within {TIMEOUT:?} of `exit`"),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
