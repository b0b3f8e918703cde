import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { downloadButton, downloadsError, downloadsPage, initialState, reduce, runningExecutions, savedFileView, staleDownloads, toggle } from '../webview/state';
import type { MimirEvent } from '../src/protocol';

// A real run of examples/translate-docs, recorded with `run --json`.
const events: MimirEvent[] = JSON.parse(readFileSync(new URL('./fixtures/events.json', import.meta.url), 'utf8'));

test('the button: disabled (0) before, enabled with the count after execution-complete', () => {
  assert.deepEqual(downloadButton(initialState), { label: '📥 Download Deliverables (0)', disabled: true, title: 'No deliverables available' });
  const done = events.findIndex((e) => e.event === 'execution-complete');
  const before = events.slice(0, done).reduce(reduce, initialState);
  assert.equal(downloadButton(before).disabled, true, 'enabled before execution-complete');
  const after = reduce(before, events[done]);
  assert.deepEqual(downloadButton(after), { label: '📥 Download Deliverables (6)', disabled: false, title: 'Download 6 deliverable(s)' });
});

test('selection changes the tooltip, not the count of available ones; none selected disables', () => {
  let s = events.reduce(reduce, initialState);
  const paths = s.deliverables.map((d) => d.path);
  s = toggle(s, paths[0]);
  // N stays the count available (the seed); the tooltip says what a click takes.
  assert.deepEqual(downloadButton(s), { label: '📥 Download Deliverables (6)', disabled: false, title: 'Download 5 of 6 deliverable(s)' });
  assert.ok(!s.selected.includes(paths[0]));
  for (const p of paths.slice(1)) s = toggle(s, p);
  assert.deepEqual(downloadButton(s), { label: '📥 Download Deliverables (6)', disabled: true, title: 'No deliverables selected' });
  s = toggle(s, paths[2]);
  assert.deepEqual(s.selected, [paths[2]]);
});

test('tasks: phase, attempt, QC score and the failed QC gap', () => {
  const qcFail = events.findIndex((e) => e.event === 'qc-complete' && e.data.passed === false);
  const mid = events.slice(0, qcFail + 1).reduce(reduce, initialState);
  const ex = mid.executions[0];
  const t = ex.tasks.find((x) => x.id === events[qcFail].data.taskId)!;
  assert.equal(t.score, 43);
  assert.equal(t.gap?.issues.length, 4);
  assert.equal(t.gap?.requiredFixes[0], 'Fix 1: Translate the remaining sections (4-7)');
  const end = events.reduce(reduce, initialState).executions[0];
  assert.equal(end.status, 'completed');
  assert.ok(end.tasks.every((x) => x.status === 'completed'));
  assert.deepEqual(end.tasks.find((x) => x.id === 'translate-fr')!.attempt, 2);
});

test('a cancelled execution cancels its running tasks', () => {
  const s = [
    { seq: 1, executionId: 'ex_c', event: 'execution-start', time: '', data: { workflow: 'w', message: '' } },
    { seq: 2, executionId: 'ex_c', event: 'worker-start', time: '', data: { taskId: 'a', phase: 'worker' as const, attempt: 1, maxAttempts: 3, message: '' } },
    { seq: 3, executionId: 'ex_c', event: 'execution-cancelled', time: '', data: { message: '⏹️ Execution cancelled: cancelled by the user' } },
  ].reduce(reduce, initialState);
  assert.equal(s.executions[0].status, 'cancelled');
  assert.equal(s.executions[0].tasks[0].status, 'cancelled');
  assert.equal(downloadButton(s).disabled, true);
});

test('a save of an execution the Studio never saw adds nothing', () => {
  const s = reduce(initialState, { seq: 9, executionId: 'ex_old', event: 'deliverables-saved', time: '', data: { message: '✅ Saved 2 deliverables to /w/deliverables', saved: 2, failed: 0 } });
  assert.equal(s, initialState);
});

test('a resumed execution runs again: status, Cancel, and the tasks that did not complete', () => {
  const ev = (seq: number, event: string, data: Partial<MimirEvent['data']> = {}): MimirEvent => ({ seq, executionId: 'ex_r', event, time: '', data: { message: '', ...data } });
  const run = [
    ev(1, 'execution-start', { workflow: 'w', tasks: 3 }),
    ev(2, 'task-complete', { taskId: 'a' }),
    ev(3, 'task-fail', { taskId: 'b' }),
    ev(4, 'worker-start', { taskId: 'c', phase: 'worker', attempt: 1, maxAttempts: 3 }),
  ];
  for (const end of [ev(5, 'execution-interrupted'), ev(5, 'execution-complete', { status: 'failed' }), ev(5, 'execution-cancelled')]) {
    let s = [...run, end].reduce(reduce, initialState);
    assert.notEqual(s.executions[0].status, 'running');
    assert.deepEqual(runningExecutions(s), [], 'Cancel is disabled');
    s = reduce(s, ev(6, 'execution-start', { workflow: 'w', tasks: 3, resumed: true, message: '▶️ Execution resumed' }));
    const ex = s.executions[0];
    assert.equal(s.executions.length, 1, `${end.event}: the same execution, not a new one`);
    assert.equal(ex.status, 'running', end.event);
    assert.deepEqual(runningExecutions(s), ['ex_r'], `${end.event}: Cancel is enabled`);
    assert.deepEqual(ex.tasks.map((t) => [t.id, t.status, t.phase]), [['a', 'completed', undefined], ['b', 'pending', undefined], ['c', 'pending', undefined]]);
    s = reduce(s, ev(7, 'worker-start', { taskId: 'b', phase: 'worker', attempt: 1, maxAttempts: 3 }));
    assert.equal(s.executions[0].tasks.find((t) => t.id === 'b')!.status, 'running');
  }
});

test('the download history: its files in the palette words, openable only when saved, read again after a save', () => {
  const d = {
    seq: 7, executionId: 'ex_7', time: '2026-12-03T14:00:00Z', target: 'deliverables', saved: 2, failed: 1, message: 'Saved 2 of 3',
    files: [
      { path: 'site/index.html', savedAs: 'deliverables/site/index (1).html', status: 'renamed' },
      { path: 'a.md', savedAs: 'deliverables/a.md', status: 'unchanged' },
      { path: 'b.md', status: 'failed', error: 'disk full' },
    ],
  };
  assert.deepEqual(d.files.map(savedFileView), [
    { text: '✅ site/index.html', status: 'renamed', detail: 'saved as deliverables/site/index (1).html (a different file has its name)', open: 'deliverables/site/index (1).html' },
    { text: '➖ a.md', status: 'unchanged', detail: 'already there, the same, at deliverables/a.md', open: 'deliverables/a.md' },
    { text: '❌ b.md', status: 'failed', detail: 'disk full', open: undefined },
  ]);
  const saved = { seq: 8, executionId: 'ex_7', event: 'deliverables-saved', time: d.time, data: { message: 'Saved' } } as unknown as MimirEvent;
  assert.equal(staleDownloads(initialState, saved), false, 'read before anyone asked for it');
  let s = downloadsPage(initialState, { downloads: [d], nextCursor: '7' });
  assert.equal(staleDownloads(s, saved), true);
  assert.equal(staleDownloads(s, events[0]), false);
  s = downloadsError(s, 'the sidecar is not running');
  assert.deepEqual([s.downloads?.downloads.length, s.downloads?.nextCursor, s.downloads?.error], [1, '7', 'the sidecar is not running']);
  s = downloadsPage(s, { downloads: [] }, '7');
  assert.equal(s.downloads?.error, undefined, 'an error outlives the page that answered');
});
