// Saves the extension itself asked for. The sidecar reports every save with
// a deliverables-saved event; for a download the user started, the
// extension's own "✅ Downloaded …" message already says it, so that event
// shows no second toast. Auto-saves (nobody asked) keep theirs.
import type { MimirEvent } from './protocol';

export class SaveTracker {
  private pending = new Map<string, number>();

  /** Call before mimir/saveDeliverables for this execution. */
  begin(executionId: string): void {
    this.pending.set(executionId, (this.pending.get(executionId) ?? 0) + 1);
  }

  /** A failed request emits no event: forget it. */
  failed(executionId: string): void {
    this.take(executionId);
  }

  /** Whether this event answers a save the extension requested (and so is
   * already reported to the user). The sidecar emits the event before it
   * answers, but the two may reach the extension in either order: the mark
   * stays until the event comes. */
  requested(ev: MimirEvent): boolean {
    return ev.event === 'deliverables-saved' && this.take(ev.executionId);
  }

  private take(executionId: string): boolean {
    const n = this.pending.get(executionId) ?? 0;
    if (n === 0) return false;
    if (n === 1) this.pending.delete(executionId);
    else this.pending.set(executionId, n - 1);
    return true;
  }
}
