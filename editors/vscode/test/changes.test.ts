// The changes of isolated tasks: the state the events make, the Studio's
// buttons for it, and the messages an apply ends with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { applyFailed, applyOutcome, branchNameProblem, nextChangesState, pendingChanges, readWhole, suggestedBranch } from '../src/changes';
import { eventLog } from '../src/eventlog';
import type { ApplyResponse, ChangesState, MimirEvent } from '../src/protocol';
import { changeButtons, changedPaths, initialState, reduce, setApplying } from '../webview/state';

// A real run of examples/fix-a-failing-test (`run --json`), then two
// changes-applied events as the sidecar reports an apply: first with a
// conflicting edit of the user's, then once it was resolved.
const events: MimirEvent[] = JSON.parse(readFileSync(new URL('./fixtures/changes-events.json', import.meta.url), 'utf8'));
const id = events[0].executionId;
const upTo = (name: string, nth = 0) => events.filter((e) => e.event === name)[nth].seq;
const until = (seq: number) => events.filter((e) => e.seq <= seq);

test('the changes state follows the sidecar: pending at the first isolated task, then the apply status, or discarded', () => {
  const states = events.reduce<ChangesState[]>((acc, ev) => [...acc, nextChangesState(acc.at(-1) ?? '', ev)], []);
  assert.equal(states[upTo('task-complete') - 2], '', 'before the task completed');
  assert.equal(states[upTo('task-complete') - 1], 'pending');
  assert.equal(states[upTo('changes-applied', 0) - 1], 'conflict');
  assert.equal(states[upTo('changes-applied', 1) - 1], 'applied');
  const discard: MimirEvent = { seq: 99, executionId: id, event: 'changes-discarded', time: '', data: { message: '🗑️ Discarded the worktrees of the changes' } };
  assert.equal(nextChangesState('pending', discard), 'discarded');
  // A task-complete without changes (not isolated) changes nothing.
  const plain: MimirEvent = { seq: 5, executionId: id, event: 'task-complete', time: '', data: { taskId: 'x', message: '' } };
  assert.equal(nextChangesState('', plain), '');
  assert.equal(nextChangesState('applied', { ...events[upTo('task-complete') - 1] }), 'applied', 'a second isolated task does not reopen applied changes');
});

test('the Apply Changes button: disabled when none, Apply Changes, Applying…, ⚠️ Conflicts, ✅ Applied', () => {
  const none = changeButtons(initialState);
  assert.equal(none.executionId, undefined);
  for (const b of [none.apply, none.branch, none.discard]) assert.equal(b.disabled, true);
  assert.equal(none.apply.label, '🔀 Apply Changes');

  const running = until(upTo('task-complete') - 1).reduce(reduce, initialState);
  assert.equal(changeButtons(running).apply.disabled, true, 'enabled before any isolated task completed');

  const pending = until(upTo('execution-complete')).reduce(reduce, initialState);
  const p = changeButtons(pending);
  assert.equal(p.executionId, id);
  assert.deepEqual(p.apply, { label: '🔀 Apply Changes', disabled: false, title: 'Apply the changes of fix-a-failing-test to 1 file to your working tree (a three-way merge: your own edits are kept)' });
  assert.equal(p.branch.disabled, false);
  assert.equal(p.discard.disabled, false);

  const applying = changeButtons(setApplying(pending, id));
  assert.equal(applying.apply.label, '⏳ Applying…');
  for (const b of [applying.apply, applying.branch, applying.discard]) assert.equal(b.disabled, true, 'a second click while it applies');

  // The event ends "applying" (the extension's applyEnded too, for errors).
  const conflict = reduce(setApplying(pending, id), events[upTo('changes-applied', 0) - 1]);
  assert.equal(conflict.applying, null);
  const c = changeButtons(conflict);
  assert.equal(c.apply.label, '⚠️ Conflicts');
  assert.equal(c.apply.disabled, false, 'applies again once the user resolved them');
  assert.match(c.apply.title, /1 file conflict with your edits/);
  assert.equal(c.branch.disabled, false);

  const applied = changeButtons(reduce(conflict, events[upTo('changes-applied', 1) - 1]));
  assert.deepEqual(applied.apply, { label: '✅ Applied', disabled: true, title: '✅ Applied the changes to 1 file' });
  assert.equal(applied.branch.disabled, true);
  assert.equal(applied.discard.disabled, true);
});

test('on a branch, and discarded', () => {
  const pending = until(upTo('execution-complete')).reduce(reduce, initialState);
  const branch = reduce(pending, { seq: 13, executionId: id, event: 'changes-applied', time: '', data: { status: 'branch', branch: 'mimir/fix', applied: 1, conflicts: 0, results: [{ path: 'slugify.sh', change: 'modified', outcome: 'committed' }], message: '✅ Committed the changes to 1 file on branch mimir/fix' } });
  assert.deepEqual(changeButtons(branch).apply, { label: '✅ On branch mimir/fix', disabled: true, title: '✅ Committed the changes to 1 file on branch mimir/fix' });
  const gone = reduce(pending, { seq: 13, executionId: id, event: 'changes-discarded', time: '', data: { message: '🗑️ Discarded the worktrees of the changes' } });
  assert.equal(changeButtons(gone).apply.label, '🗑️ Discarded');
  assert.equal(changeButtons(gone).apply.disabled, true);
});

test("the Studio keeps each task's changed files and the last apply's outcome per file", () => {
  const s = events.reduce(reduce, initialState);
  const ex = s.executions[0];
  assert.deepEqual(ex.tasks[0].changes?.files, [{ path: 'slugify.sh', status: 'modified' }]);
  assert.equal(ex.tasks[0].changes?.patch, 'fix/fix.patch');
  assert.deepEqual(changedPaths(ex), ['slugify.sh']);
  assert.equal(ex.applyReport?.status, 'applied');
  const conflict = until(upTo('changes-applied', 0)).reduce(reduce, initialState).executions[0].applyReport!;
  assert.equal(conflict.files[0].outcome, 'conflict');
  assert.match(conflict.files[0].theirs!, /\/conflicts\/slugify\.sh$/);
  // An apply of an execution the Studio never saw run adds no phantom one.
  assert.equal(reduce(initialState, { ...events[upTo('changes-applied', 1) - 1], executionId: 'ex_old' }), initialState);
});

test('the command palette offers the executions with pending or conflicting changes, newest first', () => {
  assert.deepEqual(pendingChanges(until(upTo('execution-complete'))), [{ executionId: id, workflow: 'fix-a-failing-test', state: 'pending', files: ['slugify.sh'] }]);
  assert.equal(pendingChanges(until(upTo('changes-applied', 0)))[0].state, 'conflict');
  assert.deepEqual(pendingChanges(events), [], 'applied');
  const other = events.slice(0, upTo('execution-complete')).map((e) => ({ ...e, executionId: 'ex_newer', data: { ...e.data, workflow: e.data.workflow && 'newer' } }));
  assert.deepEqual(pendingChanges([...until(upTo('execution-complete')), ...other]).map((p) => p.executionId), ['ex_newer', id]);
});

test('the message an apply ends with names the conflicting files and why', () => {
  const res: ApplyResponse = {
    executionId: id,
    status: 'conflict',
    applied: 0,
    conflicts: 2,
    files: [
      { path: 'a.txt', change: 'modified', outcome: 'not-applied' },
      { path: 'slugify.sh', change: 'modified', outcome: 'conflict', error: "your changes since the execution started and the task's overlap", theirs: '/w/.mimir/x/conflicts/slugify.sh' },
      { path: 'link', change: 'added', outcome: 'refused', error: 'a symbolic link' },
    ],
    message: '⚠️ Nothing applied: 2 files conflict with your edits; resolve them, or apply on a branch',
  };
  assert.deepEqual(applyOutcome(res), {
    level: 'warning',
    text: "⚠️ Nothing applied: 2 files conflict with your edits; resolve them, or apply on a branch: slugify.sh (your changes since the execution started and the task's overlap), link (a symbolic link)",
  });
  assert.deepEqual(applyOutcome({ ...res, status: 'applied', conflicts: 0, applied: 1, files: [], message: '✅ Applied the changes to 1 file' }), { level: 'info', text: '✅ Applied the changes to 1 file' });
  assert.deepEqual(applyFailed('execution ex_1 has no changes to apply'), { level: 'error', text: '❌ Apply failed: execution ex_1 has no changes to apply' });
});

test('branch names: what git refuses is said at once', () => {
  for (const ok of ['mimir/fix', 'fix-1', 'feature/a.b']) assert.equal(branchNameProblem(ok), undefined, ok);
  for (const bad of ['', '  ', 'a b', '-x', 'a..b', 'a/', '/a', 'a//b', 'a.lock', 'x/.hidden', 'a~1', 'a^', 'a:b', 'a?', 'a*', 'a[', 'a\\b', '@', 'a@{1}', 'a.']) {
    assert.ok(branchNameProblem(bad), `${JSON.stringify(bad)} accepted`);
  }
  assert.equal(suggestedBranch('Fix a failing test!', 'ex_1'), 'mimir/fix-a-failing-test');
  assert.equal(suggestedBranch('', 'ex_01AB'), 'mimir/ex_01ab');
  assert.equal(branchNameProblem(suggestedBranch('', 'ex_01AB')), undefined);
});

test('a patch is read whole, in slices, up to a bound', async () => {
  const patch = 'diff --git a/é b/é\n'.repeat(10);
  const bytes = new TextEncoder().encode(patch);
  const slice = (limit: number) => async (offset: number) => {
    let end = Math.min(offset + limit, bytes.length);
    while (end < bytes.length && (bytes[end] & 0xc0) === 0x80) end--; // as the sidecar: no half character
    return { content: new TextDecoder().decode(bytes.slice(offset, end)), encoding: 'utf-8' as const, truncated: end < bytes.length };
  };
  assert.deepEqual(await readWhole(slice(7)), { text: patch, truncated: false });
  const cut = await readWhole(slice(7), 20);
  assert.equal(cut.truncated, true);
  assert.ok(patch.startsWith(cut.text) && cut.text.length < patch.length);
  await assert.rejects(readWhole(async () => ({ content: 'AAEC', encoding: 'base64', truncated: false })), /not UTF-8/);
});

test('the output channel lists a task’s changed files and an apply’s outcome per file', () => {
  const done = eventLog(events[upTo('task-complete') - 1]);
  assert.deepEqual(done.details, ['  modified: slugify.sh', '  patch: fix/fix.patch']);
  const conflict = eventLog(events[upTo('changes-applied', 0) - 1]);
  assert.equal(conflict.details.length, 1);
  assert.match(conflict.details[0], /^ {2}conflict: slugify\.sh \(modified\): your changes since the execution started and the task's overlap; the task's version: \/.*\/conflicts\/slugify\.sh$/);
});
