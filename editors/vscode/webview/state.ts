// The Studio's state as a function of the events it receives: kept free of
// the DOM and of VS Code so that it is tested on its own.
import type { Deliverable, AnyEvent, Gap } from '../src/protocol';

export interface TaskView {
  id: string;
  title: string;
  status: 'pending' | 'running' | 'completed' | 'failed' | 'skipped' | 'cancelled' | 'interrupted';
  phase?: 'worker' | 'qc';
  attempt: number;
  maxAttempts: number;
  score?: number;
  gap?: Gap;
}

export interface ExecutionView {
  id: string;
  workflow: string;
  status: string;
  message: string;
  tasks: TaskView[];
  deliverables: Deliverable[];
}

export interface StudioState {
  executions: ExecutionView[]; // newest first
  // Deliverables become downloadable on execution-complete, as in the seed.
  lastExecutionId: string | null;
  deliverables: Deliverable[];
  selected: string[];
}

export const initialState: StudioState = { executions: [], lastExecutionId: null, deliverables: [], selected: [] };

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
  if (!ex && ev.event === 'deliverables-saved') return state;
  if (!ex) {
    ex = { id: ev.executionId, workflow: ev.data.workflow ?? '', status: 'running', message: '', tasks: [], deliverables: [] };
    executions.unshift(ex);
  }
  ex.message = ev.data.message;
  const t = task(ex, ev);
  const d = ev.data;
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
      if (t) Object.assign(t, { status: 'completed', phase: undefined, score: d.score ?? t.score });
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
