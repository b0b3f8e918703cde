// The Studio webview: executions as they run, the Download Deliverables
// button, and the Apply Changes buttons of isolated tasks. It replays past events when it opens, so it shows
// what happened before.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import type { DownloadsPage } from './downloadHistory';
import { errorText, fire } from './fire';
import type { AnyEvent, ReadResponse } from './protocol';
import { nonce, studioHtml } from './studioHtml';
import type { FromStudio, ToStudio } from '../webview/messages';

/** What the Studio's controls do: the same actions as the commands. */
export interface StudioActions {
  client: () => LanguageClient | undefined;
  history: () => AnyEvent[];
  download: (executionId: string, paths: string[]) => Promise<void>;
  cancel: (executionId: string) => Promise<void>;
  run: () => Thenable<unknown>;
  executions: () => Thenable<unknown>;
  openFolder: () => Promise<void>;
  apply: (executionId: string, onBranch: boolean) => Promise<void>;
  discard: (executionId: string) => Promise<void>;
  openPatch: (executionId: string, path: string) => Promise<void>;
  compare: (path: string, theirs: string) => Promise<void>;
  /** The download history's page after cursor, as Mimir: Show Downloads reads it. */
  downloads: (cursor?: string) => Promise<DownloadsPage>;
  /** Opens a saved file, as Mimir: Show Downloads does. */
  openSaved: (savedAs: string) => Promise<void>;
}

export class StudioPanel {
  private static current: StudioPanel | undefined;
  private ready = false;

  static show(ctx: vscode.ExtensionContext, actions: StudioActions) {
    if (StudioPanel.current) {
      StudioPanel.current.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel('mimirStudio', 'Mimir Studio', vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(ctx.extensionUri, 'dist')],
      retainContextWhenHidden: true,
    });
    StudioPanel.current = new StudioPanel(ctx, panel, actions);
  }

  static post(ev: AnyEvent) {
    StudioPanel.current?.send({ type: 'event', event: ev });
  }

  /** Where to open an editor the Studio asks for (a patch, a diff) so
   * that it does not cover the Studio: the first column, unless the Studio
   * is there. */
  static editorColumn(): vscode.ViewColumn {
    return StudioPanel.current?.panel.viewColumn === vscode.ViewColumn.One ? vscode.ViewColumn.Beside : vscode.ViewColumn.One;
  }

  /** The extension started (an id) or ended (null) applying or
   * discarding an execution's changes: the Studio's buttons wait. */
  static applying(executionId: string | null) {
    StudioPanel.current?.send({ type: 'applying', executionId });
  }

  private constructor(
    ctx: vscode.ExtensionContext,
    private panel: vscode.WebviewPanel,
    private actions: StudioActions,
  ) {
    const web = panel.webview;
    web.html = studioHtml({
      scriptUri: web.asWebviewUri(vscode.Uri.joinPath(ctx.extensionUri, 'dist', 'studio.js')).toString(),
      styleUri: web.asWebviewUri(vscode.Uri.joinPath(ctx.extensionUri, 'dist', 'studio.css')).toString(),
      cspSource: web.cspSource,
      nonce: nonce(),
    });
    // Nobody awaits a message's action: a failure is shown, not lost.
    web.onDidReceiveMessage((m: FromStudio) => fire(() => this.receive(m), (why) => void vscode.window.showErrorMessage(`Mimir Studio: ${m.type} failed: ${why}`)));
    panel.onDidDispose(() => {
      StudioPanel.current = undefined;
    });
  }

  private send(msg: ToStudio) {
    if (this.ready) void this.panel.webview.postMessage(msg);
  }

  private async receive(m: FromStudio) {
    switch (m.type) {
      case 'ready':
        this.ready = true;
        for (const ev of this.actions.history()) this.send({ type: 'event', event: ev });
        break;
      case 'download':
        await this.actions.download(m.executionId, m.paths);
        break;
      case 'cancel':
        await this.actions.cancel(m.executionId);
        break;
      case 'run':
        await this.actions.run();
        break;
      case 'executions':
        await this.actions.executions();
        break;
      case 'openFolder':
        await this.actions.openFolder();
        break;
      case 'apply':
        await this.actions.apply(m.executionId, m.onBranch);
        break;
      case 'discard':
        await this.actions.discard(m.executionId);
        break;
      case 'openPatch':
        await this.actions.openPatch(m.executionId, m.path);
        break;
      case 'compare':
        await this.actions.compare(m.path, m.theirs);
        break;
      case 'openSaved':
        await this.actions.openSaved(m.savedAs);
        break;
      case 'downloads':
        try {
          this.send({ type: 'downloads', cursor: m.cursor, page: await this.actions.downloads(m.cursor) });
        } catch (err) {
          this.send({ type: 'downloadsError', message: errorText(err) });
        }
        break;
      case 'preview': {
        const c = this.actions.client();
        if (!c) {
          this.send({ type: 'previewError', path: m.path, message: 'The Mimir sidecar is not running.' });
          break;
        }
        try {
          const preview = await c.sendRequest<ReadResponse>('mimir/readDeliverable', { executionId: m.executionId, path: m.path });
          this.send({ type: 'preview', executionId: m.executionId, preview });
        } catch (err) {
          this.send({ type: 'previewError', path: m.path, message: errorText(err) });
        }
        break;
      }
    }
  }
}
