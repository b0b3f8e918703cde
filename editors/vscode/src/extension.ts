// mimir-sidecar for VS Code: starts the sidecar, turns its events into
// notifications, progress and the Studio, and saves deliverables.
import { relative, isAbsolute, join } from 'node:path';
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { RunWorkflowLens, workflowSelector } from './codelens';
import { downloadFailed, downloadOutcome, noDeliverables, type Outcome } from './downloads';
import { ExecutionProgress } from './progress';
import type { Deliverable, ExecutionSummary, MimirEvent, SaveResponse, WorkflowInfo } from './protocol';
import { findSidecar } from './locate';
import { SaveTracker } from './saves';
import { createClient } from './sidecar';
import { StudioPanel } from './studioPanel';
import { wantedToast, type NotificationSetting } from './toasts';

let client: LanguageClient | undefined;
const history: MimirEvent[] = [];
const maxHistory = 5000;
const saves = new SaveTracker();

function settings() {
  const c = vscode.workspace.getConfiguration('mimir');
  return {
    sidecarPath: c.get<string>('sidecarPath', ''),
    notifications: c.get<NotificationSetting>('notifications', 'all'),
    autoSave: c.get<boolean>('autoSaveDeliverables', false),
    deliverablesFolder: c.get<string>('deliverablesFolder', 'deliverables'),
  };
}

function workspaceRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

function show(o: Outcome) {
  const f = o.level === 'info' ? vscode.window.showInformationMessage : o.level === 'warning' ? vscode.window.showWarningMessage : vscode.window.showErrorMessage;
  void f(o.text);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function activate(ctx: vscode.ExtensionContext) {
  const output = vscode.window.createOutputChannel('Mimir');
  const progress = new ExecutionProgress((id) => void client?.sendRequest('mimir/cancel', { executionId: id }));
  ctx.subscriptions.push(output, { dispose: () => progress.dispose() });

  const found = findSidecar(settings().sidecarPath, ctx.extensionPath);
  if ('error' in found) {
    output.appendLine(found.error);
    void vscode.window.showErrorMessage(found.error, 'Open Settings').then((a) => {
      if (a) void vscode.commands.executeCommand('workbench.action.openSettings', 'mimir.sidecarPath');
    });
  } else {
    client = createClient(found.path, settings(), output);
    client.onNotification('mimir/event', (ev: MimirEvent) => {
      history.push(ev);
      if (history.length > maxHistory) history.shift();
      output.appendLine(`${ev.seq} ${ev.event} ${ev.data.taskId ?? ''} ${ev.data.message}`);
      const t = saves.requested(ev) ? undefined : wantedToast(ev, settings().notifications);
      if (t) show(t);
      progress.update(ev);
      StudioPanel.post(ev);
    });
    ctx.subscriptions.push({ dispose: () => void client?.stop() });
    await client.start();
  }

  const download = async (executionId: string, paths?: string[]) => {
    const c = client;
    const root = workspaceRoot();
    if (!c || !root) return show(downloadFailed('the sidecar is not running or no folder is open'));
    let all: Deliverable[];
    try {
      all = (await c.sendRequest<{ deliverables: Deliverable[] }>('mimir/deliverables', { executionId })).deliverables;
    } catch (err) {
      return show(downloadFailed(errorText(err)));
    }
    const chosen = paths ?? all.map((d) => d.path);
    if (all.length === 0 || chosen.length === 0) return show(noDeliverables);
    // A folder dialog cannot start in a folder that does not exist yet.
    const defaultUri = vscode.Uri.file(join(root, settings().deliverablesFolder));
    try {
      await vscode.workspace.fs.createDirectory(defaultUri);
    } catch (err) {
      output.appendLine(`cannot create ${defaultUri.fsPath}: ${errorText(err)}`);
    }
    const picked = await vscode.window.showOpenDialog({
      canSelectFiles: false,
      canSelectFolders: true,
      canSelectMany: false,
      openLabel: 'Save deliverables here',
      defaultUri,
    });
    if (!picked?.[0]) return;
    const target = relative(root, picked[0].fsPath) || '.';
    if (target.startsWith('..') || isAbsolute(target)) {
      return show({ level: 'error', text: `Choose a folder inside the workspace ${root}: the sidecar only writes there.` });
    }
    saves.begin(executionId);
    try {
      const res = await c.sendRequest<SaveResponse>('mimir/saveDeliverables', { executionId, paths: chosen, target });
      show(downloadOutcome(res));
    } catch (err) {
      saves.failed(executionId);
      show(downloadFailed(errorText(err)));
    }
  };

  const lastExecution = () => [...history].reverse().find((e) => e.event === 'execution-complete')?.executionId;
  const running = () => {
    const done = new Set(history.filter((e) => e.event === 'execution-complete' || e.event === 'execution-cancelled').map((e) => e.executionId));
    return [...new Set(history.map((e) => e.executionId))].filter((id) => !done.has(id));
  };

  ctx.subscriptions.push(
    vscode.languages.registerCodeLensProvider(workflowSelector, new RunWorkflowLens()),
    vscode.commands.registerCommand('mimir.runWorkflow', async (uri?: vscode.Uri) => {
      if (!client) return void vscode.window.showErrorMessage('The Mimir sidecar is not running; see the Mimir output.');
      let file = uri?.fsPath ?? vscode.window.activeTextEditor?.document.uri.fsPath;
      const isWorkflow = file && /(\.mimir\.(ya?ml|json)|workflow\.(ya?ml|json)|\/workflows\/[^/]+\.(ya?ml|json))$/.test(file);
      if (!uri && !isWorkflow) {
        const { workflows } = await client.sendRequest<{ workflows: WorkflowInfo[] }>('mimir/workflows', {});
        const pick = await vscode.window.showQuickPick(
          workflows.map((w) => ({ label: w.name ?? w.path, description: w.path, detail: w.valid ? `${w.tasks} tasks` : '⚠️ has problems', path: w.path })),
          { placeHolder: workflows.length ? 'Run which workflow?' : 'No workflows found in this workspace' },
        );
        if (!pick) return;
        file = join(workspaceRoot() ?? '', pick.path);
      }
      try {
        const res = await client.sendRequest<{ executionId: string; workflow: string }>('mimir/execute', { workflow: file });
        output.appendLine(`started ${res.workflow} as ${res.executionId}`);
        StudioPanel.show(ctx, () => client, history, download);
      } catch (err) {
        void vscode.window.showErrorMessage(`Mimir: ${errorText(err)}`);
      }
    }),
    vscode.commands.registerCommand('mimir.cancelExecution', async () => {
      const ids = running();
      if (ids.length === 0) return void vscode.window.showInformationMessage('No execution is running.');
      const id = ids.length === 1 ? ids[0] : await vscode.window.showQuickPick(ids, { placeHolder: 'Cancel which execution?' });
      if (id) await client?.sendRequest('mimir/cancel', { executionId: id });
    }),
    vscode.commands.registerCommand('mimir.showExecutions', async () => {
      if (!client) return;
      const { executions } = await client.sendRequest<{ executions: ExecutionSummary[] }>('mimir/executions', {});
      const pick = await vscode.window.showQuickPick(
        executions.map((e) => ({ label: `${e.workflow} — ${e.status}`, description: e.executionId, detail: `${e.completedTasks}/${e.tasks} tasks, ${e.deliverables} deliverables`, id: e.executionId })),
        { placeHolder: executions.length ? 'Executions' : 'No executions yet' },
      );
      if (pick) {
        const action = await vscode.window.showInformationMessage(`${pick.label} (${pick.id})`, 'Download Deliverables', 'Open Studio');
        if (action === 'Download Deliverables') await download(pick.id);
        if (action === 'Open Studio') StudioPanel.show(ctx, () => client, history, download);
      }
    }),
    vscode.commands.registerCommand('mimir.downloadDeliverables', async (executionId?: string, paths?: string[]) => {
      const id = executionId ?? lastExecution();
      if (!id) return show(noDeliverables);
      await download(id, paths);
    }),
    vscode.commands.registerCommand('mimir.openDeliverablesFolder', async () => {
      const root = workspaceRoot();
      if (!root) return;
      const uri = vscode.Uri.file(join(root, settings().deliverablesFolder));
      await vscode.workspace.fs.createDirectory(uri);
      await vscode.commands.executeCommand('revealInExplorer', uri);
    }),
    vscode.commands.registerCommand('mimir.openStudio', () => StudioPanel.show(ctx, () => client, history, download)),
  );
}

export async function deactivate() {
  await client?.stop();
}
