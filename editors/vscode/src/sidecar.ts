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


const maxRestarts = 5;
const restartWindowMs = 3 * 60 * 1000;

/** Restarts a crashed sidecar a few times, telling the user each time. */
export function restartPolicy(): ErrorHandler {
  let crashes: number[] = [];
  return {
    error: () => ({ action: ErrorAction.Continue }),
    closed: () => {
      const now = Date.now();
      crashes = crashes.filter((t) => now - t < restartWindowMs);
      crashes.push(now);
      if (crashes.length > maxRestarts) {
        void vscode.window.showErrorMessage(
          `The Mimir sidecar stopped ${crashes.length} times in 3 minutes and will not be restarted. See the Mimir output for why, then run "Developer: Reload Window".`,
        );
        return { action: CloseAction.DoNotRestart };
      }
      void vscode.window.showWarningMessage(`The Mimir sidecar stopped unexpectedly; restarting it (${crashes.length}/${maxRestarts}).`);
      return { action: CloseAction.Restart };
    },
  };
}

export interface SidecarSettings {
  autoSave: boolean;
  deliverablesFolder: string;
}

export function createClient(bin: string, s: SidecarSettings, output: vscode.OutputChannel): LanguageClient {
  const server: ServerOptions = { command: bin, transport: TransportKind.stdio };
  const client: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', pattern: '**/*.mimir.{yaml,yml,json}' },
      { scheme: 'file', pattern: '**/workflow.{yaml,yml,json}' },
      { scheme: 'file', pattern: '**/workflows/*.{yaml,yml,json}' },
    ],
    // The extension shows its own toasts and progress from mimir/event.
    initializationOptions: { toasts: 'none', progress: false, autoSave: s.autoSave, deliverablesFolder: s.deliverablesFolder },
    outputChannel: output,
    errorHandler: restartPolicy(),
  };
  return new LanguageClient('mimir', 'Mimir', server, client);
}
