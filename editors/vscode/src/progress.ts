// One progress notification per execution, with a Cancel button.
import * as vscode from 'vscode';
import type { MimirEvent } from './protocol';

interface Running {
  report: (v: { message?: string; increment?: number }) => void;
  done: () => void;
  finished: number;
  total: number;
}

export class ExecutionProgress {
  private running = new Map<string, Running>();
  constructor(private cancel: (executionId: string) => void) {}

  update(ev: MimirEvent): void {
    const d = ev.data;
    if (ev.event === 'execution-start') {
      void vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Mimir: ${d.workflow}`, cancellable: true },
        (progress, token) =>
          new Promise<void>((done) => {
            token.onCancellationRequested(() => this.cancel(ev.executionId));
            this.running.set(ev.executionId, { report: (v) => progress.report(v), done, finished: 0, total: d.tasks ?? 0 });
          }),
      );
      return;
    }
    const r = this.running.get(ev.executionId);
    if (!r) return;
    switch (ev.event) {
      case 'worker-start':
      case 'qc-start':
        r.report({ message: `${d.taskTitle} · ${d.phase} · attempt ${d.attempt}/${d.maxAttempts}` });
        break;
      case 'task-complete':
      case 'task-fail':
      case 'task-skipped':
        r.finished++;
        r.report({ message: d.message, increment: r.total ? 100 / r.total : undefined });
        break;
      case 'execution-complete':
      case 'execution-cancelled':
        r.done();
        this.running.delete(ev.executionId);
        break;
    }
  }

  dispose(): void {
    for (const r of this.running.values()) r.done();
    this.running.clear();
  }
}
