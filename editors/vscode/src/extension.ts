// mimir-sidecar for VS Code: starts the sidecar, turns its events into
// notifications, progress and the Studio, saves deliverables, and applies
// the changes of isolated tasks.
import { isAbsolute, join, relative, resolve } from 'node:path';
import * as vscode from 'vscode';
import { State, type LanguageClient } from 'vscode-languageclient/node';
import { applyFailed, applyOutcome, blocking, branchNameProblem, noChanges, noChangesToDiscard, pendingChanges, readWhole, suggestedBranch, type PendingChanges } from './changes';
import { RunWorkflowLens } from './codelens';
import { deliverablesDir, insideWorkspace, makeFolder, removeIfEmpty } from './deliverablesFolder';
import { downloadFailed, downloadOutcome, noDeliverables, type Outcome } from './downloads';
import { eventLog } from './eventlog';
import { errorText, fire } from './fire';
import { browseDownloads, pageParams, type DownloadsPage } from './downloadHistory';
import { History } from './history';
import { Lifecycle, type ManagedClient, type Phase } from './lifecycle';
import { findSidecar } from './locate';
import { ExecutionProgress } from './progress';
import type { AnyEvent, ApplyResponse, ChangesState, Deliverable, ExecutionSummary, MimirEvent, ReadResponse, SaveResponse, WorkflowInfo } from './protocol';
import { RestartPolicy } from './restart';
import { SaveTracker } from './saves';
import { createClient, errorHandler } from './sidecar';
import { StudioPanel, type StudioActions } from './studioPanel';
import { wantedToast, type NotificationSetting } from './toasts';
import { isWorkflowFile, workflowSelector } from './workflowFiles';

// Read on every use, so a change applies at once; only sidecarPath needs
// the sidecar restarted (the extension offers to).
function settings() {
  const c = vscode.workspace.getConfiguration('mimir');
  return {
    sidecarPath: c.get<string>('sidecarPath', ''),
    notifications: c.get<NotificationSetting>('notifications', 'all'),
    autoSave: c.get<boolean>('autoSaveDeliverables', false),
    deliverablesFolder: c.get<string>('deliverablesFolder', 'deliverables') || 'deliverables',
  };
}

function workspaceRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

/** The deliverables folder the setting names, inside the workspace; if
 * the setting escapes it, the user is told so plainly and gets undefined. */
function deliverablesFolder(root: string): string | undefined {
  const d = deliverablesDir(root, settings().deliverablesFolder);
  if ('path' in d) return d.path;
  void vscode.window.showErrorMessage(d.error, 'Open Settings').then((a) => {
    if (a) void vscode.commands.executeCommand('workbench.action.openSettings', 'mimir.deliverablesFolder');
  });
  return undefined;
}

function show(o: Outcome) {
  const f = o.level === 'info' ? vscode.window.showInformationMessage : o.level === 'warning' ? vscode.window.showWarningMessage : vscode.window.showErrorMessage;
  void f(o.text);
}

/** The language client, as the lifecycle sees it. */
class Client implements ManagedClient {
  constructor(
    readonly lc: LanguageClient,
    readonly name: string,
  ) {}

  phase(): Phase {
    return this.lc.state === State.Running ? 'running' : this.lc.state === State.Starting ? 'starting' : 'stopped';
  }

  /** Starting for the first time, or after a crash: wait (a little). */
  settled(): Promise<void> {
    if (this.lc.state !== State.Starting) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, 10_000);
      const sub = this.lc.onDidChangeState((e) => e.newState !== State.Starting && done());
      function done() {
        clearTimeout(timer);
        sub.dispose();
        resolve();
      }
    });
  }

  start(): Promise<void> {
    return this.lc.start();
  }

  stop(): Promise<void> {
    return this.lc.stop(5000);
  }
}

/** The sidecar process behind a language client: started, restarted on a
 * crash (with a limit) or on request, one step at a time (lifecycle.ts),
 * and asked for only when it runs. */
class Sidecar {
  private policy = new RestartPolicy();
  private life: Lifecycle<Client>;

  constructor(
    private ctx: vscode.ExtensionContext,
    private output: vscode.LogOutputChannel,
    private onEvent: (ev: MimirEvent) => void,
    onStopped: (reason: string) => void,
  ) {
    this.life = new Lifecycle<Client>({
      create: () => this.create(onStopped),
      stopped: onStopped,
      reset: () => this.policy.reset(),
      warn: (m) => this.output.warn(m),
    });
  }

  private create(onStopped: (reason: string) => void): Client | { problem: string } {
    const found = findSidecar(settings().sidecarPath, this.ctx.extensionPath);
    if ('error' in found) {
      this.output.error(found.error);
      void vscode.window.showErrorMessage(found.error, 'Open Settings').then((a) => {
        if (a) void vscode.commands.executeCommand('workbench.action.openSettings', 'mimir.sidecarPath');
      });
      return { problem: found.error };
    }
    // A setting outside the workspace would stop the sidecar from starting
    // at all: it gets the default, and a save into it is refused.
    const root = workspaceRoot();
    const folder = settings().deliverablesFolder;
    const deliverablesFolder = root && 'error' in deliverablesDir(root, folder) ? '' : folder;
    const c = createClient(found.path, { deliverablesFolder }, this.output, errorHandler(this.policy, this.output, () => onStopped('the sidecar stopped')));
    c.onNotification('mimir/event', (ev: MimirEvent) => this.onEvent(ev));
    this.output.info(`starting ${found.path}`);
    return new Client(c, found.path);
  }

  start(): Promise<void> {
    return this.life.start();
  }

  restart(): Promise<void> {
    return this.life.restart();
  }

  /** For deactivation; never rejects. */
  stop(): Promise<void> {
    return this.life.stop();
  }

  /** The client when the sidecar runs (waiting for one that is starting or
   * restarting); otherwise says plainly why not. */
  async ready(): Promise<LanguageClient | undefined> {
    const r = await this.life.ready();
    if (!('why' in r)) return r.lc;
    void vscode.window.showErrorMessage(`The Mimir sidecar is not running: ${r.why.replace(/\.$/, '')}.`, 'Restart Sidecar', 'Show Output').then((a) => {
      if (a === 'Restart Sidecar') void vscode.commands.executeCommand('mimir.restartSidecar');
      if (a === 'Show Output') this.output.show();
    });
    return undefined;
  }

  /** The client if it runs, without telling anyone. */
  quiet(): LanguageClient | undefined {
    const c = this.life.client;
    return c?.phase() === 'running' ? c.lc : undefined;
  }
}

/** How many executions the list shows before "Older executions…". */
const executionsPage = 100;

let sidecar: Sidecar | undefined;

export async function activate(ctx: vscode.ExtensionContext) {
  const output = vscode.window.createOutputChannel('Mimir', { log: true });
  const history = new History();
  const saves = new SaveTracker();
  // A progress notification's Cancel: nobody awaits it, so it says itself
  // when it cannot cancel.
  const progress = new ExecutionProgress((id) =>
    fire(
      () => {
        const c = sidecar?.quiet();
        if (!c) throw new Error('the sidecar is not running (it stopped or is restarting; see the Mimir output)');
        return c.sendRequest('mimir/cancel', { executionId: id });
      },
      (why) => void vscode.window.showErrorMessage(`Mimir: cannot cancel ${id}: ${why}`),
    ),
  );
  ctx.subscriptions.push(output, { dispose: () => progress.dispose() });

  // Every event, from the sidecar or recorded here when it stopped, goes
  // through one path: the log, the progress, the Studio.
  const dispatch = (ev: AnyEvent) => {
    const log = eventLog(ev);
    output.info(log.line);
    for (const d of log.details) output.info(d);
    output.debug(log.json);
    progress.update(ev);
    StudioPanel.post(ev);
  };
  const onEvent = (ev: MimirEvent) => {
    if (!history.push(ev)) {
      // The restarted sidecar's own record of an interruption the
      // extension recorded (and showed) when the sidecar stopped.
      output.info(`${ev.seq} ${ev.executionId} ${ev.event}: the sidecar records the interruption already shown`);
      return;
    }
    dispatch(ev);
    const t = saves.requested(ev) ? undefined : wantedToast(ev, settings().notifications);
    if (t) show(t);
    const s = settings();
    if (ev.event === 'execution-complete' && ev.data.status === 'completed' && s.autoSave && (ev.data.deliverables?.length ?? 0) > 0) {
      // Not a requested save: the sidecar's deliverables-saved toast reports it.
      const root = workspaceRoot();
      if (root && !deliverablesFolder(root)) return;
      void sidecar?.quiet()?.sendRequest('mimir/saveDeliverables', { executionId: ev.executionId, target: s.deliverablesFolder }).catch((err) => {
        show(downloadFailed(`auto-save of ${ev.executionId}: ${errorText(err)}`));
      });
    }
  };
  const onStopped = (reason: string) => {
    for (const ev of history.interruptRunning(reason)) dispatch(ev);
  };
  sidecar = new Sidecar(ctx, output, onEvent, onStopped);
  const sc = sidecar;

  const download = async (executionId: string, paths?: string[]) => {
    const c = await sc.ready();
    const root = workspaceRoot();
    if (!c) return;
    if (!root) return show(downloadFailed('no folder is open: deliverables are saved into the workspace'));
    let all: Deliverable[];
    try {
      all = (await c.sendRequest<{ deliverables: Deliverable[] }>('mimir/deliverables', { executionId })).deliverables;
    } catch (err) {
      return show(downloadFailed(errorText(err)));
    }
    const chosen = paths ?? all.map((d) => d.path);
    if (all.length === 0 || chosen.length === 0) return show(noDeliverables);
    const dir = deliverablesFolder(root);
    if (!dir) return;
    // A folder dialog cannot start in a folder that does not exist yet: it
    // is made for the dialog, and removed again (if still empty) unless the
    // deliverables are saved into it.
    let created: string[] = [];
    try {
      created = await makeFolder(dir);
    } catch (err) {
      output.warn(`cannot create ${dir}: ${errorText(err)}`);
    }
    let picked: vscode.Uri[] | undefined;
    try {
      picked = await vscode.window.showOpenDialog({
        canSelectFiles: false,
        canSelectFolders: true,
        canSelectMany: false,
        openLabel: 'Save deliverables here',
        defaultUri: vscode.Uri.file(dir),
      });
    } finally {
      const into = picked?.[0]?.fsPath;
      if (!into || !insideWorkspace(dir, into)) await removeIfEmpty(created);
    }
    if (!picked?.[0]) return;
    if (!insideWorkspace(root, picked[0].fsPath)) {
      return show({ level: 'error', text: `Choose a folder inside the workspace ${root}: the sidecar only writes there.` });
    }
    const target = relative(root, picked[0].fsPath) || '.';
    saves.begin(executionId);
    try {
      const res = await c.sendRequest<SaveResponse>('mimir/saveDeliverables', { executionId, paths: chosen, target });
      show(downloadOutcome(res));
    } catch (err) {
      saves.failed(executionId);
      show(downloadFailed(errorText(err)));
    }
  };

  const cancel = async (executionId?: string) => {
    const ids = history.running();
    if (!executionId) {
      if (ids.length === 0) return void vscode.window.showInformationMessage('No execution is running.');
      executionId = ids.length === 1 ? ids[0] : await vscode.window.showQuickPick([...ids].reverse(), { placeHolder: 'Cancel which execution?' });
    }
    if (!executionId) return;
    const c = await sc.ready();
    if (!c) return;
    try {
      await c.sendRequest('mimir/cancel', { executionId });
    } catch (err) {
      void vscode.window.showErrorMessage(`Mimir: ${errorText(err)}`);
    }
  };

  const openFolder = async () => {
    const root = workspaceRoot();
    if (!root) return void vscode.window.showErrorMessage('Mimir: open a folder first; deliverables are saved into the workspace.');
    const dir = deliverablesFolder(root);
    if (!dir) return;
    const uri = vscode.Uri.file(dir);
    await vscode.workspace.fs.createDirectory(uri);
    await vscode.commands.executeCommand('revealInExplorer', uri);
  };

  /** Runs the given workflow, the active one, or one the user picks (the
   * Studio always asks: it has no current file). */
  const runWorkflow = async (uri?: vscode.Uri, pick = false) => {
    if (uri && !isWorkflowFile(uri.fsPath)) {
      // Named by whoever ran the command: a GitHub Actions workflow, say.
      return void vscode.window.showErrorMessage(`Mimir: ${uri.fsPath} is not a Mimir workflow (*.mimir.yaml, workflow.yaml, or a file in a workflows/ folder other than .github/workflows/).`);
    }
    const c = await sc.ready();
    if (!c) return;
    let file = uri?.fsPath ?? vscode.window.activeTextEditor?.document.uri.fsPath;
    if (!uri && (pick || !(file && isWorkflowFile(file)))) {
      let workflows: WorkflowInfo[];
      try {
        workflows = (await c.sendRequest<{ workflows: WorkflowInfo[] }>('mimir/workflows', {})).workflows;
      } catch (err) {
        return void vscode.window.showErrorMessage(`Mimir: ${errorText(err)}`);
      }
      const chosen = await vscode.window.showQuickPick(
        workflows.map((w) => ({ label: w.name ?? w.path, description: w.path, detail: w.valid ? `${w.tasks} tasks` : '⚠️ has problems', path: w.path })),
        { placeHolder: workflows.length ? 'Run which workflow?' : 'No workflows found in this workspace' },
      );
      if (!chosen) return;
      file = join(workspaceRoot() ?? '', chosen.path);
    }
    try {
      const res = await c.sendRequest<{ executionId: string; workflow: string }>('mimir/execute', { workflow: file });
      output.info(`started ${res.workflow} as ${res.executionId}`);
      studio();
    } catch (err) {
      void vscode.window.showErrorMessage(`Mimir: ${errorText(err)}`);
    }
  };

  /** Executions with changes to apply, newest first: those the extension
   * saw; failing that, the sidecar's recent ones (an earlier session's). */
  const withChanges = async (c: LanguageClient): Promise<PendingChanges[]> => {
    const seen = pendingChanges(history.events);
    if (seen.length > 0) return seen;
    const recent = (await c.sendRequest<{ executions: ExecutionSummary[] }>('mimir/executions', {})).executions.filter((e) => e.status !== 'running').slice(0, 20);
    const infos = await Promise.all(recent.map((e) => c.sendRequest<{ changes?: ChangesState }>('mimir/execution', { executionId: e.executionId })));
    return recent
      .map((e, i) => ({ executionId: e.executionId, workflow: e.workflow, state: infos[i].changes ?? '', files: [] }))
      .filter((p) => p.state === 'pending' || p.state === 'conflict');
  };

  /** Asks which execution's changes, when there is a choice; says nothing
   * (an outcome) when there is none. */
  const pickChanges = async (c: LanguageClient, verb: string, nothing: Outcome): Promise<PendingChanges | undefined> => {
    let all: PendingChanges[];
    try {
      all = await withChanges(c);
    } catch (err) {
      show(applyFailed(errorText(err)));
      return undefined;
    }
    if (all.length === 0) return void show(nothing);
    if (all.length === 1) return all[0];
    const pick = await vscode.window.showQuickPick(
      all.map((p) => ({
        label: p.workflow || p.executionId,
        description: p.executionId,
        detail: `${p.state === 'conflict' ? '⚠️ conflicts with your edits' : 'pending'}${p.files.length ? `: ${p.files.join(', ')}` : ''}`,
        p,
      })),
      { placeHolder: `${verb} the changes of which execution?` },
    );
    return pick?.p;
  };

  /** Applies an execution's changes to the working tree (a three-way
   * merge; a conflict writes nothing), or commits them on a new branch. */
  const applyChanges = async (executionId?: string, onBranch = false) => {
    const c = await sc.ready();
    if (!c) return;
    let workflow = '';
    if (!executionId) {
      const p = await pickChanges(c, onBranch ? 'Commit' : 'Apply', noChanges);
      if (!p) return;
      ({ executionId, workflow } = p);
    }
    let branch: string | undefined;
    if (onBranch) {
      const name = workflow || history.events.find((e) => e.executionId === executionId && e.data.workflow)?.data.workflow || '';
      branch = await vscode.window.showInputBox({
        title: 'Apply on Branch',
        prompt: 'Commit the changes on a new branch (based on HEAD); your working tree stays as it is',
        value: suggestedBranch(name, executionId),
        validateInput: branchNameProblem,
      });
      if (!branch) return;
    }
    let res: ApplyResponse;
    StudioPanel.applying(executionId);
    saves.begin(executionId, 'changes-applied');
    try {
      res = await c.sendRequest<ApplyResponse>('mimir/applyChanges', { executionId, branch });
    } catch (err) {
      saves.failed(executionId, 'changes-applied');
      return show(applyFailed(errorText(err)));
    } finally {
      StudioPanel.applying(null);
    }
    const o = applyOutcome(res);
    if (res.status !== 'conflict') return show(o);
    const comparable = blocking(res.files).filter((f) => f.theirs);
    const id = executionId;
    void vscode.window.showWarningMessage(o.text, ...(comparable.length ? ['Compare'] : []), 'Apply on Branch…').then(async (a) => {
      if (a === 'Compare') for (const f of comparable.slice(0, 10)) await compare(f.path, f.theirs!);
      if (a === 'Apply on Branch…') await applyChanges(id, true);
    });
  };

  const discardChanges = async (executionId?: string) => {
    const c = await sc.ready();
    if (!c) return;
    if (!executionId) executionId = (await pickChanges(c, 'Discard', noChangesToDiscard))?.executionId;
    if (!executionId) return;
    const ok = await vscode.window.showWarningMessage(
      `Discard the worktrees of ${executionId}'s changes? Your files are not touched; the change stays recorded in the execution.`,
      { modal: true },
      'Discard',
    );
    if (ok !== 'Discard') return;
    StudioPanel.applying(executionId);
    saves.begin(executionId, 'changes-discarded');
    try {
      await c.sendRequest('mimir/discardChanges', { executionId });
      void vscode.window.showInformationMessage('🗑️ Discarded the worktrees of the changes');
    } catch (err) {
      saves.failed(executionId, 'changes-discarded');
      void vscode.window.showErrorMessage(`❌ Discard failed: ${errorText(err)}`);
    } finally {
      StudioPanel.applying(null);
    }
  };

  /** Opens a task's patch (a deliverable) as a diff document. */
  const openPatch = async (executionId: string, path: string) => {
    const c = await sc.ready();
    if (!c) return;
    try {
      const read = (offset: number) => c.sendRequest<ReadResponse>('mimir/readDeliverable', { executionId, path, offset, limit: 1 << 20 });
      const patch = await readWhole(read);
      const doc = await vscode.workspace.openTextDocument({ content: patch.text, language: 'diff' });
      await vscode.window.showTextDocument(doc, { preview: true, viewColumn: StudioPanel.editorColumn() });
      if (patch.truncated) void vscode.window.showWarningMessage(`Mimir: ${path} is long; this shows its first part.`);
    } catch (err) {
      void vscode.window.showErrorMessage(`Mimir: cannot open ${path}: ${errorText(err)}`);
    }
  };

  /** A conflicting file: the user's beside the task's version. */
  const compare = async (path: string, theirs: string) => {
    const root = workspaceRoot();
    if (!root) return void vscode.window.showErrorMessage('Mimir: open the workspace folder first; the conflicting file is in it.');
    const mine = join(root, path);
    if (!insideWorkspace(root, mine) || !isAbsolute(theirs)) return void vscode.window.showErrorMessage(`Mimir: cannot compare ${path}: not a file of the workspace.`);
    await vscode.commands.executeCommand('vscode.diff', vscode.Uri.file(mine), vscode.Uri.file(theirs), `${path}: yours ↔ the task's version`, {
      viewColumn: StudioPanel.editorColumn(),
    });
  };

  // The download history, the same for Mimir: Show Downloads and the Studio.
  const downloadsPage = (c: LanguageClient, cursor?: string) => c.sendRequest<DownloadsPage>('mimir/downloads', pageParams(cursor));
  const openSaved = async (savedAs: string) => {
    const root = workspaceRoot();
    if (!root) return void vscode.window.showErrorMessage('Mimir: open the workspace folder first; saved deliverables are in it.');
    const file = resolve(root, savedAs);
    if (!insideWorkspace(root, file)) return void vscode.window.showErrorMessage(`Mimir: cannot open ${savedAs}: not a file of the workspace.`);
    const uri = vscode.Uri.file(file);
    try {
      await vscode.workspace.fs.stat(uri);
    } catch {
      return void vscode.window.showWarningMessage(`Mimir: ${savedAs} is no longer there: it was moved or deleted since it was saved. Download the deliverables again to get it back.`);
    }
    // vscode.open, not showTextDocument: a deliverable may be an image.
    await vscode.commands.executeCommand('vscode.open', uri, { viewColumn: StudioPanel.editorColumn() });
  };

  const actions: StudioActions = {
    client: () => sc.quiet(),
    history: () => history.events,
    download: (id, paths) => download(id, paths),
    cancel: (id) => cancel(id),
    run: () => runWorkflow(undefined, true),
    executions: () => vscode.commands.executeCommand('mimir.showExecutions'),
    openFolder,
    apply: (id, onBranch) => applyChanges(id, onBranch),
    discard: (id) => discardChanges(id),
    openPatch,
    compare,
    downloads: (cursor) => {
      const c = sc.quiet();
      if (!c) return Promise.reject(new Error('the Mimir sidecar is not running (see the Mimir output, or Mimir: Restart Sidecar)'));
      return downloadsPage(c, cursor);
    },
    openSaved,
  };
  const studio = () => StudioPanel.show(ctx, actions);

  // Commands first: they exist even when the sidecar cannot start, and say why.
  ctx.subscriptions.push(
    vscode.languages.registerCodeLensProvider(workflowSelector, new RunWorkflowLens()),
    vscode.commands.registerCommand('mimir.runWorkflow', (uri?: vscode.Uri) => runWorkflow(uri instanceof vscode.Uri ? uri : undefined)),
    vscode.commands.registerCommand('mimir.cancelExecution', (executionId?: string) => cancel(typeof executionId === 'string' ? executionId : undefined)),
    vscode.commands.registerCommand('mimir.showExecutions', async () => {
      const c = await sc.ready();
      if (!c) return;
      // The history comes a page at a time, newest first; older pages on request.
      const executions: ExecutionSummary[] = [];
      let cursor: string | undefined;
      for (;;) {
        try {
          const page = await c.sendRequest<{ executions: ExecutionSummary[]; nextCursor?: string }>('mimir/executions', cursor ? { cursor, limit: executionsPage } : { limit: executionsPage });
          executions.push(...page.executions);
          cursor = page.nextCursor;
        } catch (err) {
          return void vscode.window.showErrorMessage(`Mimir: ${errorText(err)}`);
        }
        const items = executions.map((e) => ({ label: `${e.workflow} — ${e.status}`, description: e.executionId, detail: `${e.completedTasks}/${e.tasks} tasks, ${e.deliverables} deliverables`, id: e.executionId, status: e.status, more: false }));
        if (cursor) items.push({ label: '$(history) Older executions…', description: '', detail: '', id: '', status: '', more: true });
        const pick = await vscode.window.showQuickPick(items, { placeHolder: executions.length ? 'Executions' : 'No executions yet' });
        if (pick?.more) continue;
        if (pick) {
          const choices = pick.status === 'running' ? ['Cancel', 'Open Studio'] : ['Download Deliverables', 'Open Studio'];
          const action = await vscode.window.showInformationMessage(`${pick.label} (${pick.id})`, ...choices);
          if (action === 'Download Deliverables') await download(pick.id);
          if (action === 'Cancel') await cancel(pick.id);
          if (action === 'Open Studio') studio();
        }
        return;
      }
    }),
    vscode.commands.registerCommand('mimir.downloadDeliverables', async (executionId?: string, paths?: string[]) => {
      const id = typeof executionId === 'string' ? executionId : history.lastCompleted();
      if (!id) return show(noDeliverables);
      await download(id, Array.isArray(paths) ? paths : undefined);
    }),
    vscode.commands.registerCommand('mimir.showDownloads', async () => {
      const c = await sc.ready();
      if (!c) return;
      await browseDownloads({
        page: (cursor) => downloadsPage(c, cursor),
        pick: (items, placeHolder) => Promise.resolve(vscode.window.showQuickPick(items, { placeHolder })),
        open: openSaved,
        warn: (m) => void vscode.window.showWarningMessage(`Mimir: ${m}`),
      }).catch((err) => vscode.window.showErrorMessage(`Mimir: ${errorText(err)}`));
    }),
    vscode.commands.registerCommand('mimir.openDeliverablesFolder', openFolder),
    // Not mimir.applyChanges / mimir.discardChanges: the language client
    // registers those itself, as the sidecar's executeCommand commands.
    vscode.commands.registerCommand('mimir.applyExecutionChanges', (executionId?: string) => applyChanges(typeof executionId === 'string' ? executionId : undefined)),
    vscode.commands.registerCommand('mimir.applyExecutionChangesOnBranch', (executionId?: string) => applyChanges(typeof executionId === 'string' ? executionId : undefined, true)),
    vscode.commands.registerCommand('mimir.discardExecutionChanges', (executionId?: string) => discardChanges(typeof executionId === 'string' ? executionId : undefined)),
    vscode.commands.registerCommand('mimir.openStudio', studio),
    vscode.commands.registerCommand('mimir.restartSidecar', () => sc.restart()),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration('mimir')) return;
      output.info(`settings changed: ${JSON.stringify(settings())}`);
      if (!e.affectsConfiguration('mimir.sidecarPath')) return;
      const running = history.running().length;
      const a = await vscode.window.showInformationMessage(
        `mimir.sidecarPath changed: restart the sidecar to use it?${running ? ` The ${running} running execution(s) will be interrupted.` : ''}`,
        'Restart Sidecar',
      );
      if (a) await sc.restart();
    }),
    // Never rejects (lifecycle.ts), even for a client that never started.
    { dispose: () => void sc.stop() },
  );

  await sc.start();
}

/** Stops the sidecar; resolves even if it never started (VS Code would
 * otherwise log a rejected deactivation). */
export async function deactivate(): Promise<void> {
  await sidecar?.stop();
}
