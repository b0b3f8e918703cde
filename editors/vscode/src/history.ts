// The events the extension has seen, kept so the Studio can replay them when
// it opens and commands know which executions still run. No VS Code API here.
import type { MimirEvent } from './protocol';

/** Events after which an execution runs no more. */
export const finalEvents = new Set(['execution-complete', 'execution-cancelled', 'execution-interrupted']);

export const interruptedMessage = '⚠️ Execution interrupted: the sidecar stopped while it ran';

export class History {
  readonly events: MimirEvent[] = [];
  constructor(private max = 5000) {}

  push(ev: MimirEvent): void {
    this.events.push(ev);
    if (this.events.length > this.max) this.events.shift();
  }

  /** Executions that started (or resumed) and have not ended, oldest
   * first. Other events of an execution, such as deliverables-saved for one
   * from an earlier session, do not make it running. */
  running(): string[] {
    const state = new Map<string, boolean>();
    for (const e of this.events) {
      if (finalEvents.has(e.event)) state.set(e.executionId, false);
      else if (e.event === 'execution-start') state.set(e.executionId, true);
    }
    return [...state].filter(([, on]) => on).map(([id]) => id);
  }

  /** The last execution whose deliverables can be downloaded. */
  lastCompleted(): string | undefined {
    return [...this.events].reverse().find((e) => e.event === 'execution-complete')?.executionId;
  }

  /** The sidecar stopped (crashed, restarted or was stopped): whatever ran
   * is over. Returns the execution-interrupted events it records for them,
   * the ones a restarted sidecar writes into its journal, so progress and
   * the Studio end them the same way. */
  interruptRunning(reason: string, time = new Date()): MimirEvent[] {
    const last = this.events.length ? this.events[this.events.length - 1].seq : 0;
    const out = this.running().map((executionId, i) => ({
      seq: last + i + 1,
      executionId,
      event: 'execution-interrupted',
      time: time.toISOString(),
      data: { reason, message: interruptedMessage },
    }));
    for (const ev of out) this.push(ev);
    return out;
  }
}
