//! Keystroke to published diagnostics in `reaper lsp`, on the generated
//! 10,000-rule policy (`reaper_benches::policy`, one file), measured against
//! the real server process over stdio. Each keystroke is one incremental
//! `didChange` (alternately a typo in an attribute name and its fix, so the
//! published diagnostics alternate between one error and none); the clock
//! runs from writing the change to reading the `publishDiagnostics` for
//! that document version. Keystrokes are sequential: the latency of one.
//! In the same run, the baseline: the compiler's own check of the same text
//! in this process (`check_files_keeping`, diagnostics only).
//!
//! ```text
//! cargo build --release -p reaper-cli
//! cargo run --release -p reaper-benches --example lsp_keystroke -- \
//!     --reaper target/release/reaper --rules 10000 --keystrokes 40 [--pause-ms 150]
//! ```
//!
//! Prints one JSON line with medians and p90s in milliseconds. Bounded by
//! `--keystrokes`, and each wait by 60 s.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reaper_compiler::Keep;
use reaper_compiler::source::Sources;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    reaper: String,
    rules: usize,
    keystrokes: usize,
    /// Time between keystrokes: 0 sends the next as soon as the last one's
    /// diagnostics arrive (the worst case: the index of the last one is
    /// still being built); 150 is brisk typing.
    pause_ms: u64,
}

fn args() -> Result<Args, Error> {
    let mut args = Args {
        reaper: "target/release/reaper".into(),
        rules: 10_000,
        keystrokes: 40,
        pause_ms: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--reaper" => args.reaper = value,
            "--rules" => args.rules = value.parse()?,
            "--keystrokes" => args.keystrokes = value.parse()?,
            "--pause-ms" => args.pause_ms = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(args)
}

struct Lsp {
    child: Child,
    stdin: ChildStdin,
    messages: mpsc::Receiver<serde_json::Value>,
}

impl Lsp {
    fn start(reaper: &str) -> Result<Lsp, Error> {
        let mut child = Command::new(reaper)
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length: ") {
                        length = n.parse::<usize>().ok();
                    }
                }
                let Some(length) = length else { return };
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let Ok(message) = serde_json::from_slice(&body) else {
                    return;
                };
                if tx.send(message).is_err() {
                    return;
                }
            }
        });
        Ok(Lsp {
            child,
            stdin,
            messages,
        })
    }

    fn send(&mut self, message: &serde_json::Value) -> Result<(), Error> {
        let body = serde_json::to_vec(message)?;
        write!(self.stdin, "Content-Length: {}\r\n\r\n", body.len())?;
        self.stdin.write_all(&body)?;
        self.stdin.flush()?;
        Ok(())
    }

    /// Waits for the first message `wanted` accepts.
    fn wait(&self, wanted: impl Fn(&serde_json::Value) -> bool) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.messages.recv_timeout(left)?;
            if wanted(&message) {
                return Ok(());
            }
        }
    }
}

fn diagnostics_for(version: i64) -> impl Fn(&serde_json::Value) -> bool {
    move |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"]
                .as_str()
                .is_some_and(|u| u.ends_with("generated.reaper"))
            && m["params"]["version"] == version
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn main() -> Result<(), Error> {
    let args = args()?;
    let text = reaper_benches::policy(args.rules);
    let dir = std::env::temp_dir().join(format!("reaper-lsp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("generated.reaper");
    std::fs::write(&path, &text)?;
    let uri = format!("file://{}", path.display());

    // Baseline: the compiler's check of the same text, in this process.
    let mut baseline = Vec::new();
    for _ in 0..args.keystrokes.clamp(5, 20) {
        let mut sources = Sources::new();
        let file = sources.add("generated.reaper", text.as_str());
        let start = Instant::now();
        let checked = reaper_compiler::check_files_keeping(&sources, &[file], Keep::Diagnostics);
        baseline.push(start.elapsed().as_secs_f64() * 1e3);
        assert!(!checked.has_errors());
    }
    baseline.sort_by(f64::total_cmp);

    let mut lsp = Lsp::start(&args.reaper)?;
    lsp.send(
        &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"processId": null, "rootUri": null, "capabilities": {}}}),
    )?;
    lsp.wait(|m| m["id"] == 1)?;
    lsp.send(&serde_json::json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}))?;
    let opened = Instant::now();
    lsp.send(&serde_json::json!({"jsonrpc": "2.0", "method": "textDocument/didOpen",
        "params": {"textDocument": {"uri": uri, "languageId": "reaper", "version": 1, "text": text}}}))?;
    lsp.wait(diagnostics_for(1))?;
    let open_ms = opened.elapsed().as_secs_f64() * 1e3;

    // The last rule reading `resource.level`: type into that name and back.
    let lines: Vec<&str> = text.lines().collect();
    let (line, column) = lines
        .iter()
        .enumerate()
        .rev()
        .find_map(|(n, l)| {
            l.find("resource.level")
                .map(|c| (n, c + "resource.le".len()))
        })
        .ok_or("the generated policy reads no `resource.level`")?;
    let mut latencies = Vec::new();
    for k in 0..args.keystrokes {
        let version = i64::try_from(k + 2)?;
        let position = serde_json::json!({"line": line, "character": column});
        let after = serde_json::json!({"line": line, "character": column + 1});
        let change = if k % 2 == 0 {
            serde_json::json!({"range": {"start": position, "end": position}, "text": "x"})
        } else {
            serde_json::json!({"range": {"start": position, "end": after}, "text": ""})
        };
        std::thread::sleep(Duration::from_millis(args.pause_ms));
        let sent = Instant::now();
        lsp.send(&serde_json::json!({"jsonrpc": "2.0", "method": "textDocument/didChange",
            "params": {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}}))?;
        lsp.wait(diagnostics_for(version))?;
        latencies.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    lsp.send(&serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))?;
    lsp.wait(|m| m["id"] == 2)?;
    lsp.send(&serde_json::json!({"jsonrpc": "2.0", "method": "exit"}))?;
    let _ = lsp.child.wait();
    let _ = std::fs::remove_dir_all(&dir);

    latencies.sort_by(f64::total_cmp);
    let keystroke_p50 = percentile(&latencies, 0.5);
    let check_p50 = percentile(&baseline, 0.5);
    println!(
        "{}",
        serde_json::json!({
            "rules": args.rules,
            "bytes": text.len(),
            "keystrokes": latencies.len(),
            "pause_ms": args.pause_ms,
            "open_to_diagnostics_ms": (open_ms * 10.0).round() / 10.0,
            "keystroke_to_diagnostics_ms": {"p50": (keystroke_p50 * 10.0).round() / 10.0, "p90": (percentile(&latencies, 0.9) * 10.0).round() / 10.0, "max": (latencies[latencies.len() - 1] * 10.0).round() / 10.0},
            "baseline_check_ms": {"p50": (check_p50 * 10.0).round() / 10.0, "p90": (percentile(&baseline, 0.9) * 10.0).round() / 10.0},
            "ratio_keystroke_to_check": (keystroke_p50 / check_p50 * 100.0).round() / 100.0,
        })
    );
    Ok(())
}
