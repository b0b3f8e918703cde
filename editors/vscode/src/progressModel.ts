// What the per-execution progress notification does for each event. No VS
// Code API here: progress.ts draws it.
import { finalEvents } from './history';
import type { AnyEvent } from './protocol';

export type ProgressStep =
  | { kind: 'begin'; executionId: string; title: string }
  | { kind: 'report'; executionId: string; message: string; increment?: number }
  | { kind: 'end'; executionId: string; message: string };

export class ExecutionProgressModel {
  private running = new Map<string, { total: number }>();

  update(ev: AnyEvent): ProgressStep | undefined {
    const d = ev.data;
    const id = ev.executionId;
    if (ev.event === 'execution-start') {
      if (this.running.has(id)) return undefined;
      this.running.set(id, { total: d.tasks ?? 0 });
      return { kind: 'begin', executionId: id, title: `Mimir: ${d.workflow ?? id}` };
    }
    const r = this.running.get(id);
    if (!r) return undefined;
    if (finalEvents.has(ev.event)) {
      this.running.delete(id);
      return { kind: 'end', executionId: id, message: d.message };
    }
    switch (ev.event) {
      case 'worker-start':
      case 'qc-start':
        return { kind: 'report', executionId: id, message: `${d.taskTitle} · ${d.phase} · attempt ${d.attempt}/${d.maxAttempts}` };
      case 'task-complete':
      case 'task-fail':
      case 'task-skipped':
        return { kind: 'report', executionId: id, message: d.message, increment: r.total ? 100 / r.total : undefined };
    }
    return undefined;
  }

  active(): string[] {
    return [...this.running.keys()];
  }
}
