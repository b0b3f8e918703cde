import { test } from 'node:test';
import assert from 'node:assert/strict';
import { downloadFailed, downloadOutcome, noDeliverables } from '../src/downloads';

const base = { executionId: 'ex_1', target: '/workspace/deliverables', message: '' };

test('all saved', () => {
  const res = { ...base, saved: 3, failed: 0, results: [] };
  assert.deepEqual(downloadOutcome(res), { level: 'info', text: '✅ Downloaded 3 deliverables to /workspace/deliverables' });
  assert.equal(downloadOutcome({ ...res, saved: 1 }).text, '✅ Downloaded 1 deliverable to /workspace/deliverables');
});

test('some failed: a mixed message listing the failures', () => {
  const res = { ...base, saved: 2, failed: 1, results: [
    { path: 'a/x.md', status: 'saved' as const },
    { path: 'b/y.md', status: 'failed' as const, error: 'permission denied' },
    { path: 'c/z.md', status: 'renamed' as const },
  ] };
  assert.deepEqual(downloadOutcome(res), { level: 'warning', text: '⚠️ Downloaded 2 of 3 deliverables to /workspace/deliverables; failed: b/y.md (permission denied)' });
});

test('all failed, none available, sidecar error', () => {
  const res = { ...base, saved: 0, failed: 1, results: [{ path: 'a', status: 'failed' as const, error: 'disk full' }] };
  assert.equal(downloadOutcome(res).level, 'error');
  assert.match(downloadOutcome(res).text, /none of 1 deliverables could be saved: a \(disk full\)/);
  assert.deepEqual(noDeliverables, { level: 'warning', text: 'No deliverables to download' });
  assert.deepEqual(downloadFailed('no execution "x"'), { level: 'error', text: '❌ Download failed: no execution "x"' });
});
