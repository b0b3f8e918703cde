import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lifecycle, type ManagedClient, type Phase } from '../src/lifecycle';

function deferred() {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A client whose start the test finishes when it wants; like
 * vscode-languageclient, it cannot be stopped while it starts. */
class Fake implements ManagedClient {
  state: Phase = 'stopped';
  private started = deferred();
  private settledWaiters: (() => void)[] = [];
  constructor(
    readonly name: string,
    private world: World,
  ) {}
  phase() {
    return this.state;
  }
  settled() {
    return this.state === 'starting' ? new Promise<void>((r) => this.settledWaiters.push(r)) : Promise.resolve();
  }
  start() {
    this.state = 'starting';
    this.world.log.push(`start ${this.name}`);
    return this.started.promise;
  }
  /** The sidecar answers initialize (or dies trying). */
  finishStart(ok = true) {
    this.state = ok ? 'running' : 'stopped';
    if (ok) this.started.resolve();
    else this.started.reject(new Error('initialize failed'));
    for (const w of this.settledWaiters.splice(0)) w();
  }
  async stop() {
    if (this.state === 'starting') throw new Error("Client is not running and can't be stopped");
    this.world.log.push(`stop ${this.name}`);
    await Promise.resolve();
    this.state = 'stopped';
  }
}

class World {
  log: string[] = [];
  clients: Fake[] = [];
  stopped: string[] = [];
  warnings: string[] = [];
  resets = 0;
  autoStart = true;
  problem: string | undefined;
  life = new Lifecycle<Fake>(
    {
      create: () => {
        if (this.problem) return { problem: this.problem };
        const c = new Fake(`c${this.clients.length + 1}`, this);
        this.clients.push(c);
        // Like a real sidecar, it answers on a later turn.
        if (this.autoStart) setImmediate(() => c.finishStart());
        return c;
      },
      stopped: (r) => this.stopped.push(r),
      reset: () => this.resets++,
      warn: (m) => this.warnings.push(m),
    },
    200,
  );
  alive() {
    return this.clients.filter((c) => c.state !== 'stopped').map((c) => c.name);
  }
}

test('overlapping restarts run one after the other: one client at a time', async () => {
  const w = new World();
  await w.life.start();
  // The command, a 'Restart Sidecar' button and the sidecarPath prompt at once.
  const a = w.life.restart();
  const b = w.life.restart();
  assert.equal(a, b, 'a restart asked for while one is queued is that restart');
  await Promise.all([a, b]);
  const c = w.life.restart();
  await c;
  assert.deepEqual(w.log, ['start c1', 'stop c1', 'start c2', 'stop c2', 'start c3']);
  assert.deepEqual(w.alive(), ['c3']);
  assert.equal(w.life.client?.name, 'c3');
  assert.deepEqual(w.stopped, ['the sidecar was restarted', 'the sidecar was restarted']);
  assert.equal(w.resets, 2);
  assert.deepEqual(w.warnings, []);
});

test('a restart while the client is still starting waits for it, then stops it', async () => {
  const w = new World();
  w.autoStart = false;
  const first = w.life.start();
  await new Promise((r) => setImmediate(r));
  assert.equal(w.clients[0].state, 'starting');
  w.autoStart = true;
  const restarted = w.life.restart();
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(w.log, ['start c1'], 'nothing is stopped or started while c1 starts');
  w.clients[0].finishStart();
  await Promise.all([first, restarted]);
  assert.deepEqual(w.log, ['start c1', 'stop c1', 'start c2']);
  assert.deepEqual(w.alive(), ['c2']);
  assert.deepEqual(w.warnings, [], 'no "cannot be stopped while starting" error');
});

test('a client restarting after a crash (outside the queue) is let settle before it is stopped', async () => {
  const w = new World();
  await w.life.start();
  const c1 = w.clients[0];
  // vscode-languageclient restarts a crashed sidecar itself.
  c1.state = 'starting';
  const restarted = w.life.restart();
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(w.log, ['start c1']);
  c1.finishStart();
  await restarted;
  assert.deepEqual(w.log, ['start c1', 'stop c1', 'start c2']);
  assert.deepEqual(w.alive(), ['c2']);
});

test('ready() waits for a restart under way instead of saying the sidecar stopped', async () => {
  const w = new World();
  await w.life.start();
  w.autoStart = false;
  const restarted = w.life.restart();
  const asked = w.life.ready();
  await new Promise((r) => setTimeout(r, 10));
  assert.ok(w.life.busy);
  w.clients[1].finishStart();
  await restarted;
  assert.equal(await asked, w.clients[1]);
  assert.equal(w.life.busy, false);
});

test('ready() says why not: a restart that takes too long, a start that failed, a missing binary', async () => {
  const w = new World();
  w.autoStart = false;
  void w.life.start();
  assert.deepEqual(await w.life.ready(), { why: 'it is restarting; try again in a moment' });
  w.clients[0].finishStart(false);
  await w.life.ready();
  assert.deepEqual(await w.life.ready(), { why: 'c1 did not start (initialize failed); see the Mimir output' });
  w.problem = 'Cannot find mimir-sidecar.';
  await w.life.restart();
  assert.deepEqual(await w.life.ready(), { why: 'Cannot find mimir-sidecar.' });
});

test('stop: after a queued restart, never rejects, and nothing starts after it', async () => {
  const w = new World();
  w.autoStart = false;
  void w.life.start();
  const restarted = w.life.restart();
  const stopped = w.life.stop();
  const late = w.life.restart();
  await new Promise((r) => setTimeout(r, 10));
  w.clients[0].finishStart();
  await new Promise((r) => setTimeout(r, 10));
  w.clients[1].finishStart();
  await Promise.all([restarted, stopped, late]);
  assert.deepEqual(w.log, ['start c1', 'stop c1', 'start c2', 'stop c2']);
  assert.deepEqual(w.alive(), []);
  assert.deepEqual(await w.life.ready(), { why: 'it was stopped' });
  // A client that never started: stopping it does not throw.
  const v = new World();
  v.problem = 'Cannot find mimir-sidecar.';
  await v.life.start();
  await v.life.stop();
  await v.life.stop();
});
