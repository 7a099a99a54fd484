// Starts `reaper lsp` for .reaper files and restarts it on demand or when
// its settings change. Everything else (diagnostics, hover, completion,
// formatting, test lenses) is the language server's.
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

let client: LanguageClient | undefined;

function createClient(): LanguageClient {
  const command = vscode.workspace.getConfiguration("reaper").get<string>("path", "reaper");
  const serverOptions: ServerOptions = {
    run: { command, args: ["lsp"], transport: TransportKind.stdio },
    debug: { command, args: ["lsp"], transport: TransportKind.stdio },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "reaper" },
      { scheme: "untitled", language: "reaper" },
    ],
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.reaper"),
    },
  };
  return new LanguageClient("reaper", "Reaper", serverOptions, clientOptions);
}

async function restart(): Promise<void> {
  if (client) {
    await client.stop();
  }
  client = createClient();
  await client.start();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand("reaper.restartServer", restart),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("reaper.path")) {
        void restart();
      }
    }),
  );
  try {
    await restart();
  } catch (error) {
    void vscode.window.showErrorMessage(
      `Reaper: could not start \`reaper lsp\` (${String(error)}). Set "reaper.path" to the reaper binary.`,
    );
  }
}

export async function deactivate(): Promise<void> {
  if (client) {
    await client.stop();
  }
}
