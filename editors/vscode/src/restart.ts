// When a crashed sidecar is restarted, and what the user is told. No VS Code
// API here (the language client's enums live in sidecar.ts).

export interface RestartDecision {
  restart: boolean;
  level: 'warning' | 'error';
  text: string;
}

export class RestartPolicy {
  private crashes: number[] = [];
  constructor(
    readonly max = 5,
    readonly windowMs = 3 * 60 * 1000,
    private now: () => number = Date.now,
  ) {}

  /** The sidecar's connection closed without the extension asking. */
  closed(): RestartDecision {
    const t = this.now();
    this.crashes = this.crashes.filter((c) => t - c < this.windowMs);
    this.crashes.push(t);
    const minutes = Math.round(this.windowMs / 60000);
    if (this.crashes.length > this.max) {
      return {
        restart: false,
        level: 'error',
        text: `The Mimir sidecar stopped ${this.crashes.length} times in ${minutes} minutes and will not be restarted. See the Mimir output for why, then run "Mimir: Restart Sidecar".`,
      };
    }
    return { restart: true, level: 'warning', text: `The Mimir sidecar stopped unexpectedly; restarting it (${this.crashes.length}/${this.max}).` };
  }

  /** A restart the user asked for starts with a clean slate. */
  reset(): void {
    this.crashes = [];
  }
}

/** What the language client's `closed` handler answers for a decision.
 * Always handled: the extension has told the user, and an unhandled answer
 * makes vscode-languageclient show a message of its own (at the restart
 * limit, a second error next to ours). */
export function closedResult<A>(d: RestartDecision, actions: { restart: A; doNotRestart: A }): { action: A; handled: true } {
  return { action: d.restart ? actions.restart : actions.doNotRestart, handled: true };
}
