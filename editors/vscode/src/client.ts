// OptiDB for VS Code: starts `optidb-lsp` for SQL files, passes the `optidb.*` settings, and
// handles the client-side command `optidb.copyDdl` (the server's "Copy DDL …" code action).

import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

let client: LanguageClient | undefined;

function settings() {
  const c = vscode.workspace.getConfiguration("optidb");
  return {
    daemonUrl: c.get<string>("daemonUrl", "http://127.0.0.1:7070"),
    token: c.get<string | null>("token", null),
    daemonCa: c.get<string | null>("daemonCa", null),
    severity: c.get<string>("severity", "hint"),
    timeoutMs: c.get<number>("timeoutMs", 300),
  };
}

async function start(context: vscode.ExtensionContext) {
  const command = vscode.workspace
    .getConfiguration("optidb")
    .get<string>("serverPath", "optidb-lsp");
  const serverOptions: ServerOptions = {
    run: { command, transport: TransportKind.stdio },
    debug: { command, transport: TransportKind.stdio },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "sql" },
      { scheme: "untitled", language: "sql" },
    ],
    initializationOptions: settings(),
    // Answers workspace/configuration for section `optidb` and sends
    // didChangeConfiguration when the settings change.
    synchronize: { configurationSection: "optidb" },
  };
  client = new LanguageClient("optidb", "OptiDB", serverOptions, clientOptions);
  await client.start();
}

export async function activate(context: vscode.ExtensionContext) {
  context.subscriptions.push(
    vscode.commands.registerCommand("optidb.copyDdl", async (ddl?: string) => {
      if (typeof ddl !== "string" || ddl.length === 0) {
        vscode.window.showWarningMessage("OptiDB: no DDL to copy.");
        return;
      }
      await vscode.env.clipboard.writeText(ddl);
      vscode.window.showInformationMessage("OptiDB: DDL copied to the clipboard.");
    }),
    vscode.commands.registerCommand("optidb.restart", async () => {
      await client?.stop();
      await start(context);
    }),
  );
  try {
    await start(context);
  } catch (e) {
    vscode.window.showErrorMessage(
      `OptiDB: cannot start optidb-lsp (${e}). Install it or set optidb.serverPath.`,
    );
  }
}

export async function deactivate() {
  await client?.stop();
}
