// Finding and starting the sidecar.
import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  TransportKind,
  type ErrorHandler,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { closedResult, RestartPolicy } from './restart';
import { isWorkflowFile, workflowSelector } from './workflowFiles';

/** Restarts a crashed sidecar a few times, telling the user each time. Every
 * result is handled: the language client adds no message of its own (it
 * would show a second error at the restart limit). */
export function errorHandler(policy: RestartPolicy, output: vscode.OutputChannel, onClosed: () => void): ErrorHandler {
  return {
    error: (err, _msg, count) => {
      output.appendLine(`connection to the sidecar erred (${count ?? 1}): ${err.message}`);
      return { action: ErrorAction.Continue, handled: true };
    },
    closed: () => {
      onClosed();
      const d = policy.closed();
      output.appendLine(d.text);
      if (d.restart) {
        void vscode.window.showWarningMessage(d.text);
      } else {
        void vscode.window.showErrorMessage(d.text, 'Restart Sidecar', 'Show Output').then((a) => {
          if (a === 'Restart Sidecar') void vscode.commands.executeCommand('mimir.restartSidecar');
          if (a === 'Show Output') output.show();
        });
      }
      return closedResult(d, { restart: CloseAction.Restart, doNotRestart: CloseAction.DoNotRestart });
    },
  };
}

export interface SidecarSettings {
  deliverablesFolder: string;
}

export function createClient(bin: string, s: SidecarSettings, output: vscode.OutputChannel, handler: ErrorHandler): LanguageClient {
  const server: ServerOptions = { command: bin, transport: TransportKind.stdio };
  const client: LanguageClientOptions = {
    documentSelector: [...workflowSelector],
    // The extension shows its own toasts and progress from mimir/event, and
    // auto-saves itself (so the setting applies without a restart).
    // deliverablesFolder: the caller passes '' (the sidecar's default) for
    // a setting outside the workspace, which the sidecar would refuse to
    // start with; the extension names every save's target itself.
    initializationOptions: { toasts: 'none', progress: false, autoSave: false, deliverablesFolder: s.deliverablesFolder },
    outputChannel: output,
    errorHandler: handler,
    // The selector's workflows/ folders include GitHub Actions'
    // .github/workflows/: those are not Mimir's, so the sidecar neither
    // gets them nor marks them up.
    middleware: {
      didOpen: (doc, next) => (isWorkflowFile(doc.uri.fsPath) ? next(doc) : Promise.resolve()),
      didChange: (e, next) => (isWorkflowFile(e.document.uri.fsPath) ? next(e) : Promise.resolve()),
      didClose: (doc, next) => (isWorkflowFile(doc.uri.fsPath) ? next(doc) : Promise.resolve()),
      handleDiagnostics: (uri, diagnostics, next) => next(uri, isWorkflowFile(uri.fsPath) ? diagnostics : []),
    },
  };
  return new LanguageClient('mimir', 'Mimir', server, client);
}
