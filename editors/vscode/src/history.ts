// The events the extension has seen, kept so the Studio can replay them when
// it opens and commands know which executions still run. No VS Code API here.
import type { AnyEvent, LocalEvent, MimirEvent } from './protocol';

/** Events after which an execution runs no more. */
export const finalEvents = new Set(['execution-complete', 'execution-cancelled', 'execution-interrupted']);

export const interruptedMessage = '⚠️ Execution interrupted: the sidecar stopped while it ran';

export function isLocal(ev: AnyEvent): ev is LocalEvent {
  return 'local' in ev && ev.local === true;
}

export class History {
  readonly events: AnyEvent[] = [];
  constructor(private max = 5000) {}

  /** Keeps a sidecar event; false for the sidecar's execution-interrupted
   * of an execution the extension already recorded as interrupted (see
   * interruptRunning): that one takes the local event's place, so a replay
   * has it once and with the sidecar's seq, and it is not news. */
  push(ev: MimirEvent): boolean {
    if (ev.event === 'execution-interrupted') {
      const i = this.lastStartOrEnd(ev.executionId);
      const prev = i >= 0 ? this.events[i] : undefined;
      if (prev && isLocal(prev) && prev.event === 'execution-interrupted') {
        this.events[i] = ev;
        return false;
      }
    }
    this.add(ev);
    return true;
  }

  private add(ev: AnyEvent): void {
    this.events.push(ev);
    if (this.events.length > this.max) this.events.shift();
  }

  private lastStartOrEnd(executionId: string): number {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i];
      if (e.executionId === executionId && (finalEvents.has(e.event) || e.event === 'execution-start')) return i;
    }
    return -1;
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
   * so progress and the Studio end them at once, whether or not a sidecar
   * comes back to say so. They are local: no seq, since a restarted sidecar
   * with a journal records its own execution-interrupted, with its own seq,
   * which push() then takes in their place. */
  interruptRunning(reason: string, time = new Date()): LocalEvent[] {
    const out: LocalEvent[] = this.running().map((executionId) => ({
      local: true,
      executionId,
      event: 'execution-interrupted',
      time: time.toISOString(),
      data: { reason, message: interruptedMessage },
    }));
    for (const ev of out) this.add(ev);
    return out;
  }
}
