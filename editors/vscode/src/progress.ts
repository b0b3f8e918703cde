// One progress notification per execution, with a Cancel button; it ends
// when the execution completes, is cancelled or is interrupted.
import * as vscode from 'vscode';
import { ExecutionProgressModel } from './progressModel';
import type { AnyEvent } from './protocol';

interface Shown {
  report: (v: { message?: string; increment?: number }) => void;
  done: () => void;
}

export class ExecutionProgress {
  private model = new ExecutionProgressModel();
  private shown = new Map<string, Shown>();
  constructor(private cancel: (executionId: string) => void) {}

  update(ev: AnyEvent): void {
    const step = this.model.update(ev);
    if (!step) return;
    const id = step.executionId;
    switch (step.kind) {
      case 'begin':
        void vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: step.title, cancellable: true },
          (progress, token) =>
            new Promise<void>((resolve) => {
              const sub = token.onCancellationRequested(() => this.cancel(id));
              const done = () => {
                sub.dispose();
                resolve();
              };
              this.shown.set(id, { report: (v) => progress.report(v), done });
            }),
        );
        break;
      case 'report':
        this.shown.get(id)?.report({ message: step.message, increment: step.increment });
        break;
      case 'end':
        this.shown.get(id)?.done();
        this.shown.delete(id);
        break;
    }
  }

  dispose(): void {
    for (const r of this.shown.values()) r.done();
    this.shown.clear();
  }
}
