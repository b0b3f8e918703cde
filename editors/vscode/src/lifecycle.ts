// Starting, restarting and stopping the sidecar's client, one step at a
// time. No VS Code API here (extension.ts adapts the language client), so
// the ordering is tested in Node with a fake client.
//
// Restarts come from several places at once (the command, every 'Restart
// Sidecar' button, the sidecarPath prompt) and may arrive while a client is
// still starting: were they to overlap, two clients, and two sidecars, would
// run, and every toast would show twice. So every start, restart and stop
// waits for the one before it, a client that is starting is let settle
// before it is stopped, and ready() waits for a restart under way.

import { errorText } from './fire';

export type Phase = 'starting' | 'running' | 'stopped';

export interface ManagedClient {
  /** What it runs (the binary's path), for messages. */
  readonly name: string;
  phase(): Phase;
  /** Resolves once phase() is no longer 'starting' (or after a bound). */
  settled(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface LifecycleHooks<C extends ManagedClient> {
  /** A new client, or why there is none (the user has been told). */
  create(): C | { problem: string };
  /** A client the extension stopped to restart it: whatever ran is over. */
  stopped(reason: string): void;
  /** A restart the user asked for starts over (forget earlier crashes). */
  reset(): void;
  warn(message: string): void;
}

export class Lifecycle<C extends ManagedClient> {
  private current: C | undefined;
  private problem: string | undefined;
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;
  private queuedRestart: Promise<void> | undefined;
  private ended = false;

  constructor(
    private hooks: LifecycleHooks<C>,
    /** How long ready() waits for a start or restart under way. */
    private readyWaitMs = 20_000,
  ) {}

  /** The current client, whatever its phase. */
  get client(): C | undefined {
    return this.current;
  }

  /** A start, restart or stop is queued or under way. */
  get busy(): boolean {
    return this.pending > 0;
  }

  start(): Promise<void> {
    return this.enqueue(() => this.open());
  }

  /** Stops the client (letting a starting one settle first) and starts a
   * new one. A restart asked for while another is still queued (not yet
   * begun) is that same restart: three clicks restart once. */
  restart(): Promise<void> {
    if (this.queuedRestart) return this.queuedRestart;
    const p = this.enqueue(async () => {
      this.queuedRestart = undefined;
      await this.close('the sidecar was restarted');
      this.hooks.reset();
      await this.open();
    });
    this.queuedRestart = p;
    return p;
  }

  /** Stops for good (deactivation): nothing starts after it. Never rejects. */
  stop(): Promise<void> {
    return this.enqueue(async () => {
      this.ended = true;
      await this.close();
    });
  }

  /** The client once it runs, waiting for a start or restart under way
   * (bounded); otherwise why not, in words for the user. */
  async ready(): Promise<C | { why: string }> {
    if (this.busy) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = await Promise.race([
        this.queue.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), this.readyWaitMs))),
      ]);
      clearTimeout(timer);
      if (!done) return { why: 'it is restarting; try again in a moment' };
    }
    const c = this.current;
    // Starting for the first time, or again after a crash.
    if (c?.phase() === 'starting') await c.settled();
    if (c?.phase() === 'running') return c;
    if (this.ended) return { why: 'it was stopped' };
    return { why: this.problem ?? (c?.phase() === 'starting' ? 'it is still starting; try again in a moment' : 'it stopped; see the Mimir output') };
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.pending++;
    const run = this.queue.then(step).catch((err) => {
      try {
        this.hooks.warn(`sidecar lifecycle: ${errorText(err)}`);
      } catch {
        // The queue goes on whatever happens.
      }
    });
    this.queue = run.finally(() => this.pending--);
    return this.queue;
  }

  private async open(): Promise<void> {
    if (this.ended) return;
    const made = this.hooks.create();
    if ('problem' in made) {
      this.problem = made.problem;
      return;
    }
    this.problem = undefined;
    this.current = made;
    try {
      await made.start();
    } catch (err) {
      // vscode-languageclient has already shown its own error.
      this.problem = `${made.name} did not start (${errorText(err)}); see the Mimir output`;
      this.hooks.warn(this.problem);
    }
  }

  private async close(reason?: string): Promise<void> {
    const c = this.current;
    this.current = undefined;
    if (!c) return;
    // A client cannot be stopped while it starts (vscode-languageclient
    // throws, and the sidecar it is starting lives on): let it settle.
    await c.settled();
    if (c.phase() !== 'stopped') {
      try {
        await c.stop();
      } catch (err) {
        this.hooks.warn(`stopping the sidecar: ${errorText(err)}`);
      }
    }
    if (reason) this.hooks.stopped(reason);
  }
}
