// OptiDB for VS Code: starts `optidb-lsp` for SQL files and for application code that embeds
// SQL, passes the `optidb.*` settings, handles the client-side command `optidb.copyDdl` (the
// server's "Copy DDL …" code action), and shows the daemon's state in the status bar.

import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as path from "path";
import * as tls from "tls";
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

/// The languages the server reads: SQL files, and SQL in string literals of application code.
/// Keep in step with `activationEvents` in package.json.
export const LANGUAGES = [
  "sql",
  "python",
  "typescript",
  "typescriptreact",
  "javascript",
  "javascriptreact",
  "go",
  "rust",
  "java",
  "kotlin",
  "ruby",
];

/// How often the status bar asks the daemon's `/health` on its own.
const STATUS_EVERY_MS = 30_000;

let client: LanguageClient | undefined;
let status: vscode.StatusBarItem | undefined;
let statusTimer: NodeJS.Timeout | undefined;

interface Settings {
  daemonUrl: string;
  token: string | null;
  daemonCa: string | null;
  severity: string;
  timeoutMs: number;
  scanPollMs: number;
}

function settings(): Settings {
  const c = vscode.workspace.getConfiguration("optidb");
  return {
    daemonUrl: c.get<string>("daemonUrl", "http://127.0.0.1:7070"),
    token: c.get<string | null>("token", null),
    daemonCa: c.get<string | null>("daemonCa", null),
    severity: c.get<string>("severity", "hint"),
    timeoutMs: c.get<number>("timeoutMs", 300),
    scanPollMs: c.get<number>("scanPollMs", 10000),
  };
}

/// `optidb.serverPath` when set, else `bin/optidb-lsp` inside the extension (a package that
/// bundles the server), else `optidb-lsp` from PATH.
function serverCommand(context: vscode.ExtensionContext): string {
  const configured = (vscode.workspace.getConfiguration("optidb").get<string>("serverPath") ?? "").trim();
  if (configured) {
    return configured;
  }
  const exe = process.platform === "win32" ? "optidb-lsp.exe" : "optidb-lsp";
  const bundled = context.asAbsolutePath(path.join("bin", exe));
  return fs.existsSync(bundled) ? bundled : "optidb-lsp";
}

async function start(context: vscode.ExtensionContext) {
  const command = serverCommand(context);
  const serverOptions: ServerOptions = {
    run: { command, transport: TransportKind.stdio },
    debug: { command, transport: TransportKind.stdio },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.flatMap((language) => [
      { scheme: "file", language },
      { scheme: "untitled", language },
    ]),
    initializationOptions: settings(),
    // Answers workspace/configuration for section `optidb` and sends
    // didChangeConfiguration when the settings change.
    synchronize: { configurationSection: "optidb" },
  };
  client = new LanguageClient("optidb", "OptiDB", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (e) {
    client = undefined;
    throw new Error(`${command}: ${e}`);
  }
}

/// What the daemon's `GET /health` answers (docs/api.md); only the fields shown here.
interface Health {
  status?: string;
  last_success_at?: number | null;
  last_error?: string | null;
  target?: string;
}

/// The daemon answered, but not 200 (401: optidb.token is missing or wrong).
class HttpError extends Error {
  constructor(
    readonly status: number,
    body: string,
  ) {
    super(`/health answered ${status}: ${body}`);
  }
}

function getHealth(s: Settings): Promise<Health> {
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(s.daemonUrl.replace(/\/+$/, "") + "/health");
    } catch {
      reject(new Error(`optidb.daemonUrl is not a URL: ${s.daemonUrl}`));
      return;
    }
    const options: https.RequestOptions = { timeout: 3000, headers: {} };
    if (s.token) {
      options.headers = { authorization: `Bearer ${s.token}` };
    }
    if (url.protocol === "https:" && s.daemonCa) {
      try {
        options.ca = [...tls.rootCertificates, fs.readFileSync(s.daemonCa, "utf8")];
      } catch (e) {
        reject(new Error(`cannot read optidb.daemonCa: ${e}`));
        return;
      }
    }
    const get = url.protocol === "https:" ? https.get : http.get;
    const req = get(url, options, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        if (res.statusCode !== 200) {
          reject(new HttpError(res.statusCode ?? 0, body.slice(0, 200)));
          return;
        }
        try {
          resolve(JSON.parse(body) as Health);
        } catch {
          reject(new Error("/health did not answer JSON"));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 3 s")));
    req.on("error", reject);
  });
}

/// Asks the daemon how it is and says so in the status bar: reachable or not, and when its last
/// complete scan was.
async function refreshStatus() {
  if (!status) {
    return;
  }
  const s = settings();
  const item = status;
  if (!s.daemonUrl.trim()) {
    item.text = "$(circle-slash) OptiDB: static checks";
    item.tooltip = "No daemon configured (optidb.daemonUrl is empty): only the checks that need no database.";
    return;
  }
  try {
    const h = await getHealth(s);
    const when = h.last_success_at ? new Date(h.last_success_at) : undefined;
    const scanned = when
      ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : undefined;
    if (h.status === "degraded") {
      item.text = "$(warning) OptiDB: last scan failed";
    } else if (scanned) {
      item.text = `$(database) OptiDB: scanned ${scanned}`;
    } else {
      item.text = "$(database) OptiDB: no scan yet";
    }
    const lines = [
      `Daemon ${s.daemonUrl} reachable (${h.status ?? "?"})`,
      h.target ? `Target: ${h.target}` : "",
      when ? `Last complete scan: ${when.toLocaleString()}` : "No complete scan yet",
      h.last_error ? `Last error: ${h.last_error}` : "",
    ];
    item.tooltip = lines.filter((l) => l).join("\n");
  } catch (e) {
    item.text =
      e instanceof HttpError
        ? `$(error) OptiDB: daemon answered ${e.status}`
        : "$(error) OptiDB: daemon unreachable";
    item.tooltip = `Daemon ${s.daemonUrl} unreachable: ${e instanceof Error ? e.message : e}`;
  }
}

export async function activate(context: vscode.ExtensionContext) {
  status = vscode.window.createStatusBarItem("optidb.status", vscode.StatusBarAlignment.Right, 100);
  status.name = "OptiDB";
  status.text = "$(sync~spin) OptiDB";
  status.command = "optidb.refreshStatus";
  status.show();
  statusTimer = setInterval(() => void refreshStatus(), STATUS_EVERY_MS);
  context.subscriptions.push(
    status,
    { dispose: () => statusTimer && clearInterval(statusTimer) },
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
      await refreshStatus();
    }),
    vscode.commands.registerCommand("optidb.refreshStatus", refreshStatus),
    vscode.commands.registerCommand("optidb.showStatements", showStatements),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("optidb")) {
        void refreshStatus();
      }
    }),
  );
  void refreshStatus();
  try {
    await start(context);
  } catch (e) {
    vscode.window.showErrorMessage(
      `OptiDB: cannot start optidb-lsp (${e}). Install it on PATH or set optidb.serverPath.`,
    );
  }
}

/** One statement of `optidb.workspaceStatements` (the server's command). */
interface RankedStatement {
  uri: string;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  query_id: string;
  total_ms: number;
  title: string;
  sql: string;
}

/**
 * The workspace's statements ranked by production total time (the server reads the workspace
 * and asks the daemon), in a quick pick; picking one opens it on the statement.
 */
async function showStatements() {
  if (!client) {
    vscode.window.showWarningMessage("OptiDB: the language server is not running.");
    return;
  }
  const list = (await vscode.commands.executeCommand(
    "optidb.workspaceStatements",
    { limit: 200 },
  )) as RankedStatement[] | undefined;
  if (!list || list.length === 0) {
    vscode.window.showInformationMessage(
      "OptiDB: no statement of this workspace is known to the daemon yet.",
    );
    return;
  }
  const picked = await vscode.window.showQuickPick(
    list.map((s) => ({
      label: s.sql,
      description: s.title,
      detail: `${vscode.workspace.asRelativePath(vscode.Uri.parse(s.uri))}:${s.range.start.line + 1}`,
      statement: s,
    })),
    { title: "OptiDB: the workspace's statements by production total time", matchOnDescription: true },
  );
  if (!picked) {
    return;
  }
  const r = picked.statement.range;
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.parse(picked.statement.uri));
  await vscode.window.showTextDocument(doc, {
    selection: new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character),
  });
}

export async function deactivate() {
  await client?.stop();
}
