import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SaveTracker } from '../src/saves';
import type { MimirEvent } from '../src/protocol';

const saved = (executionId: string): MimirEvent => ({ seq: 1, executionId, event: 'deliverables-saved', time: '', data: { message: '✅ Saved 6 deliverables to /w/deliverables', saved: 6, failed: 0 } });

test('a requested save is not toasted twice; an auto-save is', () => {
  const s = new SaveTracker();
  assert.equal(s.requested(saved('ex_a')), false, 'auto-save: nobody asked');
  s.begin('ex_a');
  assert.equal(s.requested(saved('ex_b')), false, 'another execution');
  assert.equal(s.requested(saved('ex_a')), true);
  assert.equal(s.requested(saved('ex_a')), false, 'the mark is used once');
});

test('two saves in flight, and a failed request', () => {
  const s = new SaveTracker();
  s.begin('ex_a');
  s.begin('ex_a');
  s.failed('ex_a');
  assert.equal(s.requested(saved('ex_a')), true);
  assert.equal(s.requested(saved('ex_a')), false);
});

test('only deliverables-saved events count', () => {
  const s = new SaveTracker();
  s.begin('ex_a');
  assert.equal(s.requested({ ...saved('ex_a'), event: 'execution-complete' }), false);
  assert.equal(s.requested(saved('ex_a')), true);
});

test('an apply or a discard the extension asked for is not toasted twice; one it did not ask for is', () => {
  const s = new SaveTracker();
  const applied = { ...saved('ex_a'), event: 'changes-applied', data: { status: 'applied', message: '✅ Applied the changes to 1 file' } };
  const discarded = { ...saved('ex_a'), event: 'changes-discarded', data: { message: '🗑️ Discarded the worktrees of the changes' } };
  assert.equal(s.requested(applied), false, 'applied by another client');
  s.begin('ex_a', 'changes-applied');
  assert.equal(s.requested(saved('ex_a')), false, 'a save is not the apply');
  assert.equal(s.requested(discarded), false, 'a discard is not the apply');
  assert.equal(s.requested(applied), true);
  s.begin('ex_a', 'changes-discarded');
  s.failed('ex_a', 'changes-discarded');
  assert.equal(s.requested(discarded), false, 'the failed discard');
});
