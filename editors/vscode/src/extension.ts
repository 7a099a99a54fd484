// Starts `reaper lsp` for .reaper files and restarts it on demand or when
// `reaper.path` changes. Everything else (diagnostics, hover, completion,
// formatting, test lenses and their `reaper.runTest` command) is the
// language server's: vscode-languageclient registers what it announces.
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

let client: LanguageClient | undefined;
// One output channel and one file watcher for the extension's lifetime, so
// a restart does not add a second "Reaper" channel or leak a watcher.
let output: vscode.OutputChannel | undefined;
let watcher: vscode.FileSystemWatcher | undefined;

function createClient(): LanguageClient {
  const command = vscode.workspace.getConfiguration("reaper").get<string>("path") || "reaper";
  const executable = { command, args: ["lsp"], transport: TransportKind.stdio };
  const serverOptions: ServerOptions = { run: executable, debug: executable };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "reaper" },
      { scheme: "untitled", language: "reaper" },
    ],
    // The server checks a document with the other files of its directory,
    // so it hears about .reaper files created, changed or deleted on disk.
    synchronize: { fileEvents: watcher },
    outputChannel: output,
    traceOutputChannel: output,
  };
  // The id `reaper` makes the client read the `reaper.trace.server` setting.
  return new LanguageClient("reaper", "Reaper", serverOptions, clientOptions);
}

async function stop(): Promise<void> {
  const old = client;
  client = undefined;
  if (old?.needsStop()) {
    await old.stop();
  }
}

async function start(): Promise<void> {
  await stop();
  client = createClient();
  try {
    await client.start();
  } catch (error) {
    const path = vscode.workspace.getConfiguration("reaper").get<string>("path") || "reaper";
    void vscode.window.showErrorMessage(
      `Reaper: could not start \`${path} lsp\` (${String(error)}). ` +
        'Install reaper, or set "reaper.path" to the binary.',
    );
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("Reaper");
  watcher = vscode.workspace.createFileSystemWatcher("**/*.reaper");
  context.subscriptions.push(
    output,
    watcher,
    vscode.commands.registerCommand("reaper.restartServer", start),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("reaper.path")) {
        void start();
      }
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}
