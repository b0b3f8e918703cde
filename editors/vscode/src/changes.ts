// The changes of isolated tasks (isolation: worktree or copy): where an
// execution's stand, as its events say, and the messages an apply ends
// with. Free of VS Code and of the DOM: the extension and the Studio page
// both use it, and it is tested on its own.
import type { AnyEvent, AppliedFile, ApplyResponse, ChangesState } from './protocol';
import type { Outcome } from './downloads';
import type { Toast } from './toasts';

/** The changes state after an event, as the sidecar keeps it
 * (engine/state.go): the first isolated task to complete makes it
 * pending; an apply sets it to its status; a discard to discarded. */
export function nextChangesState(state: ChangesState, ev: AnyEvent): ChangesState {
  switch (ev.event) {
    case 'task-complete':
      return ev.data.changes && state === '' ? 'pending' : state;
    case 'changes-applied':
      return (ev.data.status as ChangesState | undefined) ?? state;
    case 'changes-discarded':
      return 'discarded';
  }
  return state;
}

/** The toast of an apply or a discard the extension did not ask for (it
 * reports its own from the answer). Not in toasts.ts's table, which is the
 * sidecar's (testdata/toasts.json). */
export function changesToast(ev: AnyEvent): Toast | undefined {
  if (ev.event === 'changes-applied') return { level: ev.data.status === 'conflict' ? 'warning' : 'info', text: ev.data.message };
  if (ev.event === 'changes-discarded') return { level: 'info', text: ev.data.message };
  return undefined;
}

/** Whether changes in this state can be applied (again) or discarded. */
export function actionable(state: ChangesState): boolean {
  return state === 'pending' || state === 'conflict';
}

export interface PendingChanges {
  executionId: string;
  workflow: string;
  state: ChangesState;
  /** The distinct paths the execution's isolated tasks changed. */
  files: string[];
}

/** Executions whose changes can be applied, newest first (by their last
 * execution-start), from the events the extension has seen. */
export function pendingChanges(events: readonly AnyEvent[]): PendingChanges[] {
  const byId = new Map<string, PendingChanges & { order: number }>();
  events.forEach((ev, order) => {
    let p = byId.get(ev.executionId);
    if (!p) {
      p = { executionId: ev.executionId, workflow: '', state: '', files: [], order };
      byId.set(ev.executionId, p);
    }
    if (ev.event === 'execution-start') {
      p.order = order;
      if (ev.data.workflow) p.workflow = ev.data.workflow;
    }
    for (const f of ev.event === 'task-complete' ? (ev.data.changes?.files ?? []) : []) {
      if (!p.files.includes(f.path)) p.files.push(f.path);
    }
    p.state = nextChangesState(p.state, ev);
  });
  return [...byId.values()]
    .filter((p) => actionable(p.state))
    .sort((a, b) => b.order - a.order)
    .map(({ order: _, ...p }) => p);
}

/** Files that kept the change from applying. */
export function blocking(files: readonly AppliedFile[]): AppliedFile[] {
  return files.filter((f) => f.outcome === 'conflict' || f.outcome === 'refused');
}

/** Turns the sidecar's apply answer into the message the user sees: its
 * own message, and for a conflict which files and why. */
export function applyOutcome(res: ApplyResponse): Outcome {
  if (res.status !== 'conflict') return { level: 'info', text: res.message };
  const why = blocking(res.files).map((f) => `${f.path} (${f.error ?? f.outcome})`);
  return { level: 'warning', text: why.length ? `${res.message}: ${why.join(', ')}` : res.message };
}

export function applyFailed(message: string): Outcome {
  return { level: 'error', text: `❌ Apply failed: ${message}` };
}

export const noChanges: Outcome = {
  level: 'warning',
  text: 'No changes to apply: only tasks with isolation: worktree (or copy) that completed have changes',
};

export const noChangesToDiscard: Outcome = { level: 'warning', text: 'No changes to discard: no execution has pending changes' };

/** What is wrong with a branch name the user typed, by git's rules for
 * ref names (git check-ref-format), or undefined when it is fine. The
 * sidecar checks again; this is so the input box can say it at once. */
export function branchNameProblem(name: string): string | undefined {
  if (name.trim() === '') return 'Name the branch to commit the changes on, e.g. mimir/fix';
  if (/[\s~^:?*[\\\x00-\x1f\x7f]/.test(name)) return 'A branch name cannot hold spaces or any of ~ ^ : ? * [ \\';
  if (name.startsWith('-')) return 'A branch name cannot start with -';
  if (name.includes('..') || name.includes('@{') || name === '@') return 'A branch name cannot hold .. or @{, nor be @';
  if (name.includes('//') || name.startsWith('/') || name.endsWith('/')) return 'A branch name cannot start or end with /, nor hold //';
  if (name.endsWith('.') || name.endsWith('.lock') || name.split('/').some((part) => part.startsWith('.') || part.endsWith('.lock'))) {
    return 'No part of a branch name can start with . or end with .lock, nor the name with .';
  }
  return undefined;
}

/** A suggested branch name for an execution's changes. */
export function suggestedBranch(workflow: string, executionId: string): string {
  const slug = workflow.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return `mimir/${slug || executionId.toLowerCase()}`;
}

/** Reads a whole text deliverable (a patch) in bounded slices, up to max
 * bytes; truncated says it stopped there. */
export async function readWhole(
  read: (offset: number) => Promise<{ content: string; encoding: 'utf-8' | 'base64'; truncated: boolean }>,
  max = 16 << 20,
): Promise<{ text: string; truncated: boolean }> {
  let text = '';
  let offset = 0;
  for (;;) {
    const r = await read(offset);
    if (r.encoding !== 'utf-8') throw new Error('it is not UTF-8 text');
    text += r.content;
    offset += new TextEncoder().encode(r.content).length;
    if (!r.truncated) return { text, truncated: false };
    if (offset >= max || r.content === '') return { text, truncated: true };
  }
}
