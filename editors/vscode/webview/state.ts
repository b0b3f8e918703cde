// The Studio's state as a function of the events it receives: kept free of
// the DOM and of VS Code so that it is tested on its own.
import { actionable, blocking, nextChangesState } from '../src/changes';
import { fileDetail, notOpenable, withPage, type DownloadsPage, type HistoryView, type SavedFile } from '../src/downloadHistory';
import type { AnyEvent, AppliedFile, Changes, ChangesState, Deliverable, Gap } from '../src/protocol';

export interface TaskView {
  id: string;
  title: string;
  status: 'pending' | 'running' | 'completed' | 'failed' | 'skipped' | 'cancelled' | 'interrupted';
  phase?: 'worker' | 'qc';
  attempt: number;
  maxAttempts: number;
  score?: number;
  gap?: Gap;
  /** An isolated task's change, once it completed. */
  changes?: Changes;
}

/** The last apply of an execution's changes (changes-applied). */
export interface ApplyReport {
  status: string;
  branch?: string;
  message: string;
  files: AppliedFile[];
}

export interface ExecutionView {
  id: string;
  workflow: string;
  status: string;
  message: string;
  tasks: TaskView[];
  deliverables: Deliverable[];
  changes: ChangesState;
  applyReport?: ApplyReport;
}

export interface StudioState {
  executions: ExecutionView[]; // newest first
  // Deliverables become downloadable on execution-complete, as in the seed.
  lastExecutionId: string | null;
  deliverables: Deliverable[];
  selected: string[];
  /** The execution whose changes the extension is applying (or
   * discarding) right now: its buttons wait. */
  applying: string | null;
  /** The download history (mimir/downloads), once asked for: read when
   * its section is first opened, and again after every save. */
  downloads?: HistoryView & { error?: string };
}

export const initialState: StudioState = { executions: [], lastExecutionId: null, deliverables: [], selected: [], applying: null };

/** A page of the download history arrived (an older one when asked with a cursor). */
export function downloadsPage(state: StudioState, page: DownloadsPage, cursor?: string): StudioState {
  return { ...state, downloads: withPage(state.downloads ?? { downloads: [] }, page, cursor !== undefined) };
}

export function downloadsError(state: StudioState, message: string): StudioState {
  return { ...state, downloads: { ...(state.downloads ?? { downloads: [] }), error: message } };
}

/** Whether an event makes the download history shown out of date: a save
 * when the history has been read. */
export function staleDownloads(state: StudioState, ev: AnyEvent): boolean {
  return state.downloads !== undefined && ev.event === 'deliverables-saved';
}

const savedIcon: Record<string, string> = { saved: '✅', overwritten: '✅', renamed: '✅', unchanged: '➖', skipped: '⏭️', failed: '❌' };

export interface SavedFileView {
  text: string;
  status: string;
  detail?: string;
  /** The path to open, relative to the workspace; absent when the file was not saved. */
  open?: string;
}

/** A file of a save as the Studio lists it: the same words as Mimir: Show Downloads. */
export function savedFileView(f: SavedFile): SavedFileView {
  return { text: `${savedIcon[f.status] ?? ''} ${f.path}`.trim(), status: f.status, detail: fileDetail(f), open: notOpenable(f) ? undefined : f.savedAs };
}

function task(ex: ExecutionView, ev: AnyEvent): TaskView | undefined {
  const id = ev.data.taskId;
  if (!id) return undefined;
  let t = ex.tasks.find((x) => x.id === id);
  if (!t) {
    t = { id, title: ev.data.taskTitle ?? id, status: 'pending', attempt: 0, maxAttempts: ev.data.maxAttempts ?? 0 };
    ex.tasks.push(t);
  }
  return t;
}

export function reduce(state: StudioState, ev: AnyEvent): StudioState {
  const executions = state.executions.map((e) => ({ ...e, tasks: e.tasks.map((t) => ({ ...t })) }));
  let ex = executions.find((e) => e.id === ev.executionId);
  // Saving the deliverables of an execution the Studio never saw run (one
  // from an earlier session) adds no phantom "running" execution.
  // So does applying the changes of one.
  if (!ex && ['deliverables-saved', 'changes-applied', 'changes-discarded'].includes(ev.event)) return state;
  if (!ex) {
    ex = { id: ev.executionId, workflow: ev.data.workflow ?? '', status: 'running', message: '', tasks: [], deliverables: [], changes: '' };
    executions.unshift(ex);
  }
  ex.message = ev.data.message;
  const t = task(ex, ev);
  const d = ev.data;
  ex.changes = nextChangesState(ex.changes, ev);
  let next: StudioState = { ...state, executions };
  switch (ev.event) {
    case 'execution-start':
      // A new execution, or one resumed (mimir/resume) after it was
      // interrupted, failed or was cancelled: it runs again, and so does
      // every task of it that did not complete.
      ex.status = 'running';
      if (d.workflow) ex.workflow = d.workflow;
      if (d.resumed) {
        for (const x of ex.tasks) if (x.status !== 'completed') Object.assign(x, { status: 'pending', phase: undefined });
      }
      break;
    case 'task-start':
      if (t) t.status = 'running';
      break;
    case 'worker-start':
    case 'qc-start':
      if (t) Object.assign(t, { status: 'running', phase: d.phase, attempt: d.attempt ?? t.attempt, maxAttempts: d.maxAttempts ?? t.maxAttempts });
      break;
    case 'qc-complete':
      if (t) {
        t.score = d.score;
        if (!d.passed && d.gap) t.gap = d.gap;
      }
      break;
    case 'task-complete':
      if (t) Object.assign(t, { status: 'completed', phase: undefined, score: d.score ?? t.score, changes: d.changes ?? t.changes });
      break;
    case 'changes-applied':
      ex.applyReport = { status: d.status ?? '', branch: d.branch, message: d.message, files: (d.results ?? []) as AppliedFile[] };
      if (next.applying === ex.id) next = { ...next, applying: null };
      break;
    case 'changes-discarded':
      if (next.applying === ex.id) next = { ...next, applying: null };
      break;
    case 'task-fail':
      if (t) Object.assign(t, { status: 'failed', phase: undefined, gap: d.gap ?? t.gap });
      break;
    case 'task-skipped':
      if (t) t.status = 'skipped';
      break;
    case 'execution-complete':
      ex.status = d.status ?? 'completed';
      ex.deliverables = d.deliverables ?? [];
      next = { ...next, lastExecutionId: ex.id, deliverables: ex.deliverables, selected: ex.deliverables.map((x) => x.path) };
      break;
    case 'execution-cancelled':
      ex.status = 'cancelled';
      for (const x of ex.tasks) if (x.status === 'running' || x.status === 'pending') x.status = 'cancelled';
      break;
    case 'execution-interrupted':
      // The sidecar stopped while it ran (a crash, or a restart): nothing
      // of it runs any more.
      ex.status = 'interrupted';
      for (const x of ex.tasks) if (x.status === 'running' || x.status === 'pending') Object.assign(x, { status: 'interrupted', phase: undefined });
      break;
  }
  return next;
}

export function toggle(state: StudioState, path: string): StudioState {
  const selected = state.selected.includes(path) ? state.selected.filter((p) => p !== path) : [...state.selected, path];
  return { ...state, selected };
}

export interface ButtonView {
  label: string;
  disabled: boolean;
  title: string;
}

/** The seed's "📥 Download Deliverables (N)" button. N, in the label and in
 * the tooltip alike, is the count of deliverables available, as the seed
 * has it ("Shows count of available deliverables"); the tooltip says how
 * many of them a click downloads when the user has unticked some. */
export function downloadButton(state: StudioState): ButtonView {
  const n = state.deliverables.length;
  if (n === 0) {
    return { label: '📥 Download Deliverables (0)', disabled: true, title: 'No deliverables available' };
  }
  const k = state.selected.length;
  const title = k === n ? `Download ${n} deliverable(s)` : k === 0 ? 'No deliverables selected' : `Download ${k} of ${n} deliverable(s)`;
  return { label: `📥 Download Deliverables (${n})`, disabled: k === 0, title };
}

/** Executions that are still running, newest first. */
export function runningExecutions(state: StudioState): string[] {
  return state.executions.filter((e) => e.status === 'running').map((e) => e.id);
}

/** The extension started (an id) or ended (null) applying or discarding
 * an execution's changes. */
export function setApplying(state: StudioState, executionId: string | null): StudioState {
  return { ...state, applying: executionId };
}

/** The execution the toolbar's change buttons act on: the newest one whose
 * isolated tasks changed anything. */
export function changesTarget(state: StudioState): ExecutionView | undefined {
  return state.executions.find((e) => e.changes !== '');
}

/** The distinct paths an execution's isolated tasks changed. */
export function changedPaths(ex: ExecutionView): string[] {
  return [...new Set(ex.tasks.flatMap((t) => t.changes?.files.map((f) => f.path) ?? []))];
}

export interface ChangeButtons {
  executionId?: string;
  apply: ButtonView;
  branch: ButtonView;
  discard: ButtonView;
}

function files(n: number): string {
  return `${n} ${n === 1 ? 'file' : 'files'}`;
}

/** The toolbar's Apply Changes, Apply on Branch… and Discard buttons: for
 * the newest execution with changes; Apply Changes says where they stand
 * (applying, applied, conflicts), and all three are disabled when there is
 * nothing to apply. */
export function changeButtons(state: StudioState): ChangeButtons {
  const ex = changesTarget(state);
  const apply = '🔀 Apply Changes';
  const branch = '🌿 Apply on Branch…';
  const discard = '🗑️ Discard';
  if (!ex) {
    const title = 'No changes to apply: only tasks with isolation: worktree (or copy) change your files';
    return { apply: { label: apply, disabled: true, title }, branch: { label: branch, disabled: true, title }, discard: { label: discard, disabled: true, title } };
  }
  const name = ex.workflow || ex.id;
  const n = changedPaths(ex).length;
  const report = ex.applyReport;
  const idle = (title: string) => ({ label: apply, disabled: false, title });
  const waiting = state.applying === ex.id;
  const open = actionable(ex.changes) && !waiting;
  const out: ChangeButtons = {
    executionId: ex.id,
    apply: idle(`Apply the changes of ${name} to ${files(n)} to your working tree (a three-way merge: your own edits are kept)`),
    branch: { label: branch, disabled: !open, title: open ? `Commit the changes of ${name} on a new branch, leaving your working tree alone` : 'No changes to apply' },
    discard: { label: discard, disabled: !open, title: open ? `Discard the worktrees of ${name}'s changes` : 'No changes to discard' },
  };
  if (waiting) {
    out.apply = { label: '⏳ Applying…', disabled: true, title: `Applying the changes of ${name}` };
    return out;
  }
  const k = blocking(report?.files ?? []).length;
  switch (ex.changes) {
    case 'conflict':
      out.apply = {
        label: '⚠️ Conflicts',
        disabled: false,
        title: `Nothing applied: ${files(k)} conflict with your edits. Resolve them (Compare, below) and click to apply again, or apply on a branch`,
      };
      break;
    case 'applied':
      out.apply = { label: '✅ Applied', disabled: true, title: report?.message ?? `The changes of ${name} are applied` };
      break;
    case 'branch':
      out.apply = { label: `✅ On branch ${report?.branch ?? ''}`.trimEnd(), disabled: true, title: report?.message ?? `The changes of ${name} are committed on a branch` };
      break;
    case 'discarded':
      out.apply = { label: '🗑️ Discarded', disabled: true, title: `The worktrees of ${name}'s changes were discarded` };
      break;
  }
  return out;
}
