// The Studio webview: executions as they run and the Download
// Deliverables button. It replays past events when it opens, so it shows
// what happened before.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import type { MimirEvent, ReadResponse } from './protocol';
import { nonce, studioHtml } from './studioHtml';
import type { FromStudio, ToStudio } from '../webview/messages';

export class StudioPanel {
  private static current: StudioPanel | undefined;
  private ready = false;

  static show(ctx: vscode.ExtensionContext, client: () => LanguageClient | undefined, history: MimirEvent[], download: (id: string, paths: string[]) => Promise<void>) {
    if (StudioPanel.current) {
      StudioPanel.current.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel('mimirStudio', 'Mimir Studio', vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(ctx.extensionUri, 'dist')],
      retainContextWhenHidden: true,
    });
    StudioPanel.current = new StudioPanel(ctx, panel, client, history, download);
  }

  static post(ev: MimirEvent) {
    StudioPanel.current?.send({ type: 'event', event: ev });
  }

  private constructor(
    ctx: vscode.ExtensionContext,
    private panel: vscode.WebviewPanel,
    private client: () => LanguageClient | undefined,
    private history: MimirEvent[],
    private download: (id: string, paths: string[]) => Promise<void>,
  ) {
    const web = panel.webview;
    web.html = studioHtml({
      scriptUri: web.asWebviewUri(vscode.Uri.joinPath(ctx.extensionUri, 'dist', 'studio.js')).toString(),
      styleUri: web.asWebviewUri(vscode.Uri.joinPath(ctx.extensionUri, 'dist', 'studio.css')).toString(),
      cspSource: web.cspSource,
      nonce: nonce(),
    });
    web.onDidReceiveMessage((m: FromStudio) => this.receive(m));
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
        for (const ev of this.history) this.send({ type: 'event', event: ev });
        break;
      case 'download':
        await this.download(m.executionId, m.paths);
        break;
      case 'cancel':
        await this.client()?.sendRequest('mimir/cancel', { executionId: m.executionId });
        break;
      case 'preview':
        try {
          const preview = await this.client()!.sendRequest<ReadResponse>('mimir/readDeliverable', { executionId: m.executionId, path: m.path });
          this.send({ type: 'preview', executionId: m.executionId, preview });
        } catch (err) {
          this.send({ type: 'previewError', path: m.path, message: err instanceof Error ? err.message : String(err) });
        }
        break;
    }
  }
}
