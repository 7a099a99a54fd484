//! The protocol: document sync, scheduling of package checks, and each
//! request answered from the package's latest analysis.
//!
//! Checks are coalesced rather than debounced by a timer: a change starts a
//! check at once when none is running for the package; changes that arrive
//! meanwhile are checked together as soon as it ends, and diagnostics of a
//! text that has already changed again are never published. So one
//! keystroke costs one check, and a burst of typing at most two.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reaper_compiler::source::FileId;
use serde_json::{Value, json};
use tokio::sync::watch;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

use crate::package::{self, Analysis, PackageKey, ParseCache};
use crate::text::{Document, Encoding};
use crate::{complete, diagnostics, lenses, navigate, outline};

/// How long a request waits for the check of the latest text.
const ANALYSIS_WAIT: Duration = Duration::from_secs(30);

pub struct Server {
    client: Client,
    state: Arc<Mutex<State>>,
    /// Whether the client asked to shut down before `exit` (an `exit`
    /// without it means the session failed: exit code 1).
    shut_down: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Default)]
struct State {
    encoding: Encoding,
    docs: HashMap<Uri, Document>,
    packages: HashMap<PackageKey, Package>,
}

struct Package {
    /// Changes seen: a check of the text as of generation `n` answers
    /// requests made after change `n`.
    wanted: u64,
    running: bool,
    analysis: Option<Arc<Analysis>>,
    done: watch::Sender<u64>,
    /// Generation of `analysis`.
    analyzed: u64,
    /// Shared by the indexing tasks, which take turns.
    cache: Arc<Mutex<ParseCache>>,
    /// What was last published, per document (test failures included).
    published: HashMap<Uri, Vec<Diagnostic>>,
    /// Failures of the last test runs, per document, until it changes.
    test_failures: HashMap<Uri, Vec<Diagnostic>>,
}

impl Package {
    fn new() -> Self {
        Self {
            wanted: 0,
            running: false,
            analysis: None,
            done: watch::Sender::new(0),
            analyzed: 0,
            cache: Arc::new(Mutex::new(ParseCache::new())),
            published: HashMap::new(),
            test_failures: HashMap::new(),
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock would leave plain data behind; the
    // state stays usable.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Server {
    pub fn new(client: Client, shut_down: Arc<std::sync::atomic::AtomicBool>) -> Self {
        Self {
            client,
            state: Arc::new(Mutex::new(State::default())),
            shut_down,
        }
    }

    /// Notes a change to the package at `key` and makes sure a check runs.
    fn schedule(&self, key: PackageKey) {
        let start = {
            let mut state = lock(&self.state);
            let package = state
                .packages
                .entry(key.clone())
                .or_insert_with(Package::new);
            package.wanted += 1;
            !std::mem::replace(&mut package.running, true)
        };
        if start {
            let worker = Worker {
                client: self.client.clone(),
                state: self.state.clone(),
                key,
            };
            tokio::spawn(worker.run());
        }
    }

    /// The analysis of `uri`'s package as of now (waiting for a running
    /// check), and the file's id in it.
    async fn analysis(&self, uri: &Uri) -> Result<Option<(Arc<Analysis>, FileId)>> {
        let key = PackageKey::of(uri);
        let pending = {
            let state = lock(&self.state);
            state
                .packages
                .get(&key)
                .map(|p| (p.wanted, p.done.subscribe()))
        };
        let (target, mut done) = match pending {
            Some(pending) => pending,
            None => {
                // A file never opened (a reference into a closed file, say).
                self.schedule(key.clone());
                let state = lock(&self.state);
                let Some(package) = state.packages.get(&key) else {
                    return Ok(None);
                };
                (package.wanted, package.done.subscribe())
            }
        };
        let waited = tokio::time::timeout(ANALYSIS_WAIT, done.wait_for(|g| *g >= target)).await;
        if waited.is_err() {
            return Err(Error::internal_error());
        }
        let state = lock(&self.state);
        let Some(analysis) = state.packages.get(&key).and_then(|p| p.analysis.clone()) else {
            return Ok(None);
        };
        let Some(file) = analysis.package.file_of(uri) else {
            return Ok(None);
        };
        Ok(Some((analysis, file)))
    }

    /// The analysis and the byte offset of a position in it.
    async fn at(
        &self,
        position: &TextDocumentPositionParams,
    ) -> Result<Option<(Arc<Analysis>, FileId, usize)>> {
        let Some((analysis, file)) = self.analysis(&position.text_document.uri).await? else {
            return Ok(None);
        };
        let text = analysis.package.text(file);
        let offset = analysis
            .package
            .file(file)
            .lines
            .offset(text, position.position);
        Ok(Some((analysis, file, offset)))
    }

    async fn run_test(&self, arguments: &[Value]) -> Result<Option<Value>> {
        let (Some(uri), Some(name)) = (
            arguments.first().and_then(Value::as_str),
            arguments.get(1).and_then(Value::as_str),
        ) else {
            return Err(Error::invalid_params(
                "reaper.runTest takes a document URI and a test name",
            ));
        };
        let uri: Uri = uri
            .parse()
            .map_err(|_| Error::invalid_params(format!("not a URI: {uri}")))?;
        let Some((analysis, file)) = self.analysis(&uri).await? else {
            return Err(Error::invalid_params(format!(
                "no policy package for {}",
                uri.as_str()
            )));
        };
        let name_owned = name.to_owned();
        let worker = analysis.clone();
        let outcome = tokio::task::spawn_blocking(move || lenses::run(&worker, &name_owned))
            .await
            .map_err(|_| Error::internal_error())?;
        let text = analysis.package.text(file);
        let lines = &analysis.package.file(file).lines;
        let failures: Vec<Diagnostic> = outcome
            .failures
            .iter()
            .map(|(line, message)| {
                let start = text
                    .split_inclusive('\n')
                    .take(line.saturating_sub(1) as usize)
                    .map(str::len)
                    .sum::<usize>();
                let end = text[start..]
                    .find(['\n', '\r'])
                    .map_or(text.len(), |n| start + n);
                // From the expectation's first character, not the indentation.
                let start = start + (text[start..end].len() - text[start..end].trim_start().len());
                Diagnostic {
                    range: lines.range(text, start, end),
                    severity: Some(DiagnosticSeverity::ERROR),
                    code: Some(NumberOrString::String("test-failed".into())),
                    source: Some("reaper test".into()),
                    message: format!("test `{name}`: {message}"),
                    ..Diagnostic::default()
                }
            })
            .collect();
        let kind = if outcome.passed {
            MessageType::INFO
        } else {
            MessageType::ERROR
        };
        self.client.show_message(kind, &outcome.summary).await;
        let publish = {
            let mut state = lock(&self.state);
            let version = state.docs.get(&uri).map(|d| d.version);
            let key = PackageKey::of(&uri);
            state.packages.get_mut(&key).map(|package| {
                let tests = package.test_failures.entry(uri.clone()).or_default();
                tests.retain(|d| !d.message.starts_with(&format!("test `{name}`: ")));
                tests.extend(failures.iter().cloned());
                let mut all = package.published.get(&uri).cloned().unwrap_or_default();
                all.retain(|d| d.source.as_deref() != Some("reaper test"));
                all.extend(tests.iter().cloned());
                package.published.insert(uri.clone(), all.clone());
                (all, version)
            })
        };
        if let Some((all, version)) = publish {
            self.client.publish_diagnostics(uri, all, version).await;
        }
        Ok(Some(json!({
            "passed": outcome.passed,
            "summary": outcome.summary,
            "failures": outcome.failures.iter().map(|(line, message)| json!({"line": line, "message": message})).collect::<Vec<_>>(),
        })))
    }
}

/// One package's check loop: checks until the latest change is checked.
struct Worker {
    client: Client,
    state: Arc<Mutex<State>>,
    key: PackageKey,
}

impl Worker {
    /// Checks and publishes until the latest change is checked. Indexing
    /// runs beside it ([`Worker::index`]), so the next keystroke's check
    /// does not wait for the last one's index.
    async fn run(self) {
        loop {
            let Some((generation, open, versions, encoding, cache)) = self.snapshot() else {
                return;
            };
            let key = self.key.clone();
            let checked = tokio::task::spawn_blocking(move || {
                let inputs = package::inputs(&key, &open);
                package::check(inputs, encoding)
            })
            .await;
            let Ok(checked) = checked else {
                // The check panicked: a compiler bug. Requests get the last
                // analysis rather than waiting for one that never comes.
                self.indexed(generation, None);
                if self.finish(generation) {
                    continue;
                }
                return;
            };
            if !self.superseded(generation) {
                self.publish(&checked, &versions).await;
                let worker = Worker {
                    client: self.client.clone(),
                    state: self.state.clone(),
                    key: self.key.clone(),
                };
                tokio::spawn(worker.index(generation, checked, cache));
            }
            if !self.finish(generation) {
                return;
            }
        }
    }

    async fn index(
        self,
        generation: u64,
        checked: package::CheckedPackage,
        cache: Arc<Mutex<ParseCache>>,
    ) {
        let analysis = tokio::task::spawn_blocking(move || {
            let mut cache = cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            package::index(checked, &mut cache)
        })
        .await;
        self.indexed(generation, analysis.ok().map(Arc::new));
    }

    #[allow(clippy::type_complexity, reason = "one snapshot, used once")]
    fn snapshot(
        &self,
    ) -> Option<(
        u64,
        HashMap<Uri, Arc<str>>,
        HashMap<Uri, i32>,
        Encoding,
        Arc<Mutex<ParseCache>>,
    )> {
        let state = lock(&self.state);
        let encoding = state.encoding;
        let open: HashMap<Uri, Arc<str>> = state
            .docs
            .iter()
            .filter(|(uri, _)| PackageKey::of(uri) == self.key)
            .map(|(uri, doc)| (uri.clone(), Arc::from(doc.rope.to_string())))
            .collect();
        let versions = state
            .docs
            .iter()
            .map(|(uri, doc)| (uri.clone(), doc.version))
            .collect();
        let package = state.packages.get(&self.key)?;
        Some((
            package.wanted,
            open,
            versions,
            encoding,
            package.cache.clone(),
        ))
    }

    fn superseded(&self, generation: u64) -> bool {
        let state = lock(&self.state);
        state
            .packages
            .get(&self.key)
            .is_some_and(|p| p.wanted > generation)
    }

    /// Stores an analysis unless a newer one is there, and lets requests
    /// waiting for this generation go on.
    fn indexed(&self, generation: u64, analysis: Option<Arc<Analysis>>) {
        let mut state = lock(&self.state);
        let Some(package) = state.packages.get_mut(&self.key) else {
            return;
        };
        if generation >= package.analyzed {
            package.analyzed = generation;
            if analysis.is_some() {
                package.analysis = analysis;
            }
            package.done.send_if_modified(|done| {
                let newer = generation > *done;
                if newer {
                    *done = generation;
                }
                newer
            });
        }
    }

    /// Whether to check again (changes came in meanwhile).
    fn finish(&self, generation: u64) -> bool {
        let mut state = lock(&self.state);
        let Some(package) = state.packages.get_mut(&self.key) else {
            return false;
        };
        if package.wanted > generation {
            true
        } else {
            package.running = false;
            false
        }
    }

    async fn publish(&self, checked: &package::CheckedPackage, versions: &HashMap<Uri, i32>) {
        let mut by_file = diagnostics::by_file(checked);
        let cleared: Vec<Uri> = {
            let mut state = lock(&self.state);
            let Some(package) = state.packages.get_mut(&self.key) else {
                return;
            };
            // Test failures stay until their document changes.
            for (uri, list) in &mut by_file {
                if let Some(tests) = package.test_failures.get(uri) {
                    list.extend(tests.iter().cloned());
                }
            }
            let now: HashSet<&Uri> = by_file.keys().collect();
            let gone = package
                .published
                .keys()
                .filter(|u| !now.contains(u))
                .cloned()
                .collect();
            package.published = by_file.clone();
            gone
        };
        for uri in cleared {
            self.client.publish_diagnostics(uri, Vec::new(), None).await;
        }
        for (uri, list) in by_file {
            let version = versions.get(&uri).copied();
            self.client.publish_diagnostics(uri, list, version).await;
        }
    }
}

impl LanguageServer for Server {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let utf8 = params
            .capabilities
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_ref())
            .is_some_and(|e| e.contains(&PositionEncodingKind::UTF8));
        let encoding = if utf8 {
            Encoding::Utf8
        } else {
            Encoding::Utf16
        };
        lock(&self.state).encoding = encoding;
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(if utf8 {
                    PositionEncodingKind::UTF8
                } else {
                    PositionEncodingKind::UTF16
                }),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec![".".into(), " ".into()]),
                    ..CompletionOptions::default()
                }),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                rename_provider: Some(OneOf::Right(RenameOptions {
                    prepare_provider: Some(true),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                })),
                document_formatting_provider: Some(OneOf::Left(true)),
                document_symbol_provider: Some(OneOf::Left(true)),
                folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
                semantic_tokens_provider: Some(
                    SemanticTokensServerCapabilities::SemanticTokensOptions(
                        SemanticTokensOptions {
                            legend: outline::legend(),
                            full: Some(SemanticTokensFullOptions::Bool(true)),
                            range: None,
                            work_done_progress_options: WorkDoneProgressOptions::default(),
                        },
                    ),
                ),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                        ..CodeActionOptions::default()
                    },
                )),
                code_lens_provider: Some(CodeLensOptions {
                    resolve_provider: Some(false),
                }),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: vec![lenses::RUN_TEST.to_owned()],
                    ..ExecuteCommandOptions::default()
                }),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "reaper".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn shutdown(&self) -> Result<()> {
        self.shut_down
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        let key = PackageKey::of(&doc.uri);
        lock(&self.state)
            .docs
            .insert(doc.uri, Document::new(&doc.text, doc.version));
        self.schedule(key);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        {
            let mut state = lock(&self.state);
            let encoding = state.encoding;
            let Some(doc) = state.docs.get_mut(&uri) else {
                return;
            };
            for change in &params.content_changes {
                doc.apply(change, encoding);
            }
            doc.version = params.text_document.version;
            if let Some(package) = state.packages.get_mut(&PackageKey::of(&uri)) {
                package.test_failures.remove(&uri);
            }
        }
        self.schedule(PackageKey::of(&uri));
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        self.schedule(PackageKey::of(&params.text_document.uri));
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        {
            let mut state = lock(&self.state);
            state.docs.remove(&uri);
            if let Some(package) = state.packages.get_mut(&PackageKey::of(&uri)) {
                package.test_failures.remove(&uri);
            }
        }
        // Untitled buffers leave nothing behind; files are read from disk.
        if uri.to_file_path().is_none() {
            self.client
                .publish_diagnostics(uri.clone(), Vec::new(), None)
                .await;
        }
        self.schedule(PackageKey::of(&uri));
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let keys: HashSet<PackageKey> = params
            .changes
            .iter()
            .map(|c| PackageKey::of(&c.uri))
            .collect();
        {
            // The failures point into the text as it was.
            let mut state = lock(&self.state);
            for change in &params.changes {
                if let Some(package) = state.packages.get_mut(&PackageKey::of(&change.uri)) {
                    package.test_failures.remove(&change.uri);
                }
            }
        }
        for key in keys {
            if lock(&self.state).packages.contains_key(&key) {
                self.schedule(key);
            }
        }
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let Some((analysis, file, offset)) = self.at(&params.text_document_position_params).await?
        else {
            return Ok(None);
        };
        Ok(navigate::hover(&analysis, file, to_u32(offset)))
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        let Some((analysis, file, offset)) = self.at(&params.text_document_position_params).await?
        else {
            return Ok(None);
        };
        let found = navigate::definition(&analysis, file, to_u32(offset));
        Ok((!found.is_empty()).then_some(GotoDefinitionResponse::Array(found)))
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let Some((analysis, file, offset)) = self.at(&params.text_document_position).await? else {
            return Ok(None);
        };
        let found = navigate::references(
            &analysis,
            file,
            to_u32(offset),
            params.context.include_declaration,
        );
        Ok(Some(found))
    }

    async fn prepare_rename(
        &self,
        params: TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>> {
        let Some((analysis, file, offset)) = self.at(&params).await? else {
            return Ok(None);
        };
        match navigate::prepare_rename(&analysis, file, to_u32(offset)) {
            Ok((span, placeholder)) => Ok(Some(PrepareRenameResponse::RangeWithPlaceholder {
                range: diagnostics::range(&analysis.package, span),
                placeholder,
            })),
            Err(navigate::RenameError(reason)) => Err(Error::invalid_params(reason)),
        }
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let Some((analysis, file, offset)) = self.at(&params.text_document_position).await? else {
            return Ok(None);
        };
        navigate::rename(&analysis, file, to_u32(offset), &params.new_name)
            .map(Some)
            .map_err(|navigate::RenameError(reason)| Error::invalid_params(reason))
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let Some((analysis, file, offset)) = self.at(&params.text_document_position).await? else {
            return Ok(None);
        };
        let items =
            tokio::task::spawn_blocking(move || complete::complete(&analysis, file, offset))
                .await
                .map_err(|_| Error::internal_error())?;
        Ok(Some(CompletionResponse::Array(items)))
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let uri = params.text_document.uri;
        let (text, encoding) = {
            let state = lock(&self.state);
            let Some(doc) = state.docs.get(&uri) else {
                return Ok(None);
            };
            (doc.rope.to_string(), state.encoding)
        };
        // Text with syntax errors is left as it is: formatting it would
        // need guesses about what was meant.
        let Ok(formatted) = reaper_compiler::fmt::format_source(FileId(0), &text) else {
            return Ok(None);
        };
        if formatted == text {
            return Ok(Some(Vec::new()));
        }
        let lines = crate::text::LineIndex::new(&text, encoding);
        let whole = lines.range(&text, 0, text.len());
        Ok(Some(vec![TextEdit::new(whole, formatted)]))
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let Some((analysis, file)) = self.analysis(&params.text_document.uri).await? else {
            return Ok(None);
        };
        Ok(Some(DocumentSymbolResponse::Nested(
            outline::document_symbols(&analysis, file),
        )))
    }

    async fn folding_range(&self, params: FoldingRangeParams) -> Result<Option<Vec<FoldingRange>>> {
        let Some((analysis, file)) = self.analysis(&params.text_document.uri).await? else {
            return Ok(None);
        };
        Ok(Some(outline::folding_ranges(&analysis, file)))
    }

    async fn semantic_tokens_full(
        &self,
        params: SemanticTokensParams,
    ) -> Result<Option<SemanticTokensResult>> {
        let Some((analysis, file)) = self.analysis(&params.text_document.uri).await? else {
            return Ok(None);
        };
        Ok(Some(SemanticTokensResult::Tokens(SemanticTokens {
            result_id: None,
            data: outline::semantic_tokens(&analysis, file),
        })))
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let Some((analysis, file)) = self.analysis(&uri).await? else {
            return Ok(None);
        };
        let mut actions = Vec::new();
        for diagnostic in &analysis.package.diagnostics {
            if diagnostic.primary.span.file != file {
                continue;
            }
            let shown = diagnostics::convert(&analysis.package, diagnostic);
            let overlaps =
                shown.range.start <= params.range.end && params.range.start <= shown.range.end;
            if !overlaps {
                continue;
            }
            for fix in diagnostics::fixes(&analysis, diagnostic) {
                let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
                for (uri, edit) in diagnostics::edits(&analysis, &fix) {
                    changes.entry(uri).or_default().push(edit);
                }
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: fix.title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![shown.clone()]),
                    edit: Some(WorkspaceEdit {
                        changes: Some(changes),
                        ..WorkspaceEdit::default()
                    }),
                    is_preferred: Some(true),
                    ..CodeAction::default()
                }));
            }
        }
        Ok(Some(actions))
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        let uri = params.text_document.uri;
        let Some((analysis, file)) = self.analysis(&uri).await? else {
            return Ok(None);
        };
        Ok(Some(lenses::lenses(&analysis, file, &uri)))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        if params.command != lenses::RUN_TEST {
            return Err(Error::invalid_params(format!(
                "unknown command `{}`",
                params.command
            )));
        }
        self.run_test(&params.arguments).await
    }
}

fn to_u32(offset: usize) -> u32 {
    u32::try_from(offset).unwrap_or(u32::MAX)
}
