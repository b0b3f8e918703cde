// Requests the extension itself made whose outcome the sidecar also
// reports with an event: a save (deliverables-saved), an apply of changes
// (changes-applied), a discard (changes-discarded). For those the user
// started, the extension's own message ("✅ Downloaded …", "✅ Applied …")
// already says it, so the event shows no second toast. Those nobody asked
// for here (auto-saves, an apply run by another client) keep theirs.
import type { MimirEvent } from './protocol';

export type TrackedEvent = 'deliverables-saved' | 'changes-applied' | 'changes-discarded';

export class SaveTracker {
  private pending = new Map<string, number>();

  /** Call before the request (mimir/saveDeliverables by default). */
  begin(executionId: string, event: TrackedEvent = 'deliverables-saved'): void {
    const k = key(event, executionId);
    this.pending.set(k, (this.pending.get(k) ?? 0) + 1);
  }

  /** A failed request emits no event: forget it. */
  failed(executionId: string, event: TrackedEvent = 'deliverables-saved'): void {
    this.take(key(event, executionId));
  }

  /** Whether this event answers a request the extension made (and so is
   * already reported to the user). The sidecar emits the event before it
   * answers, but the two may reach the extension in either order: the mark
   * stays until the event comes. */
  requested(ev: MimirEvent): boolean {
    return this.take(key(ev.event, ev.executionId));
  }

  private take(k: string): boolean {
    const n = this.pending.get(k) ?? 0;
    if (n === 0) return false;
    if (n === 1) this.pending.delete(k);
    else this.pending.set(k, n - 1);
    return true;
  }
}

function key(event: string, executionId: string): string {
  return `${event} ${executionId}`;
}
