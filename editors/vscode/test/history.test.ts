import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { History, interruptedMessage } from '../src/history';
import { ExecutionProgressModel } from '../src/progressModel';
import { initialState, reduce } from '../webview/state';
import type { MimirEvent } from '../src/protocol';

const events: MimirEvent[] = JSON.parse(readFileSync(new URL('./fixtures/events.json', import.meta.url), 'utf8'));
const ev = (seq: number, executionId: string, event: string, data: Partial<MimirEvent['data']> = {}): MimirEvent => ({ seq, executionId, event, time: '', data: { message: '', ...data } });

test('running, last completed', () => {
  const h = new History();
  for (const e of events) h.push(e);
  assert.deepEqual(h.running(), []);
  assert.equal(h.lastCompleted(), events[0].executionId);
  h.push(ev(100, 'ex_b', 'execution-start', { workflow: 'w', tasks: 1 }));
  h.push(ev(101, 'ex_b', 'worker-start', { taskId: 'a' }));
  assert.deepEqual(h.running(), ['ex_b']);
  h.push(ev(102, 'ex_b', 'execution-cancelled'));
  assert.deepEqual(h.running(), []);
  // Saving an execution of an earlier session does not make it running.
  h.push(ev(103, 'ex_old', 'deliverables-saved', { saved: 1, failed: 0 }));
  assert.deepEqual(h.running(), []);
  h.push(ev(104, 'ex_old', 'execution-start', { workflow: 'w', tasks: 1, resumed: true }));
  assert.deepEqual(h.running(), ['ex_old'], 'resumed');
});

test('an interruption (execution-interrupted, or the sidecar stopping) ends what ran', () => {
  const h = new History();
  h.push(ev(1, 'ex_a', 'execution-start', { workflow: 'w', tasks: 2 }));
  h.push(ev(2, 'ex_a', 'worker-start', { taskId: 't', phase: 'worker', attempt: 1, maxAttempts: 3 }));
  h.push(ev(3, 'ex_b', 'execution-start', { workflow: 'w', tasks: 1 }));
  h.push(ev(4, 'ex_b', 'execution-interrupted', { reason: 'sidecar restarted', message: interruptedMessage }));
  assert.deepEqual(h.running(), ['ex_a']);
  const out = h.interruptRunning('the sidecar stopped');
  assert.deepEqual(out.map((e) => [e.executionId, e.event, e.data.message]), [['ex_a', 'execution-interrupted', interruptedMessage]]);
  assert.equal(out[0].local, true, 'recorded by the extension, not the sidecar');
  assert.equal('seq' in out[0], false, 'no seq: the sidecar numbers its own events');
  assert.deepEqual(h.running(), []);
  assert.deepEqual(h.interruptRunning('again'), [], 'nothing left to interrupt');

  // The Studio shows it interrupted, its running task too.
  const s = h.events.reduce(reduce, initialState);
  const a = s.executions.find((x) => x.id === 'ex_a')!;
  assert.equal(a.status, 'interrupted');
  assert.equal(a.tasks[0].status, 'interrupted');
  assert.equal(s.executions.find((x) => x.id === 'ex_b')!.status, 'interrupted');

  // And the progress notification ends.
  const p = new ExecutionProgressModel();
  const ends = h.events.map((e) => p.update(e)).filter((x) => x?.kind === 'end');
  assert.deepEqual(p.active(), []);
  assert.deepEqual(ends, [
    { kind: 'end', executionId: 'ex_b', message: interruptedMessage },
    { kind: 'end', executionId: 'ex_a', message: interruptedMessage },
  ]);
});

test('progress: begin, a report per phase and task, end on execution-complete', () => {
  const p = new ExecutionProgressModel();
  const steps = events.map((e) => p.update(e)).filter((x) => x !== undefined);
  assert.deepEqual(steps[0], { kind: 'begin', executionId: events[0].executionId, title: 'Mimir: translate-docs' });
  assert.equal(steps.filter((x) => x.kind === 'report' && x.increment === 25).length, 4);
  assert.deepEqual(steps[steps.length - 1], { kind: 'end', executionId: events[0].executionId, message: '✅ Execution completed: 4/4 tasks, 6 deliverables' });
  assert.deepEqual(p.active(), []);
});

test("the restarted sidecar's own execution-interrupted takes the local one's place, once", () => {
  const h = new History();
  h.push(ev(1, 'ex_a', 'execution-start', { workflow: 'w', tasks: 1 }));
  h.push(ev(2, 'ex_a', 'worker-start', { taskId: 't', phase: 'worker', attempt: 1, maxAttempts: 3 }));
  h.push(ev(3, 'ex_c', 'execution-start', { workflow: 'w', tasks: 1 }));
  h.push(ev(4, 'ex_c', 'execution-complete', { status: 'completed' }));
  assert.equal(h.interruptRunning('the sidecar stopped').length, 1);
  // The new sidecar finds ex_a running in its journal and says so, with its seq.
  const theirs = ev(5, 'ex_a', 'execution-interrupted', { reason: 'the sidecar stopped while it ran', message: interruptedMessage });
  assert.equal(h.push(theirs), false, 'not news: already shown');
  const interruptions = h.events.filter((e) => e.event === 'execution-interrupted');
  assert.deepEqual(interruptions, [theirs], 'once, with the seq of the sidecar');
  assert.deepEqual(h.events.map((e) => e.seq), [1, 2, 3, 4, 5], 'no colliding or invented seqs');
  // Replayed into the Studio: interrupted once.
  assert.equal(h.events.reduce(reduce, initialState).executions.find((x) => x.id === 'ex_a')!.status, 'interrupted');

  // An interruption the extension did not record is news; so is a second
  // one after the execution was resumed.
  assert.equal(h.push(ev(6, 'ex_b', 'execution-interrupted', { message: interruptedMessage })), true);
  h.push(ev(7, 'ex_a', 'execution-start', { workflow: 'w', tasks: 1, resumed: true }));
  assert.equal(h.push(ev(8, 'ex_a', 'execution-interrupted', { message: interruptedMessage })), true);
  assert.equal(h.push(ev(9, 'ex_a', 'execution-interrupted', { message: interruptedMessage })), true, 'only a local one is replaced');
});
