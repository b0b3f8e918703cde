import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { eventLog } from '../src/eventlog';
import { History } from '../src/history';
import type { MimirEvent } from '../src/protocol';

const events: MimirEvent[] = JSON.parse(readFileSync(new URL('./fixtures/events.json', import.meta.url), 'utf8'));

test('one line per event, and the full envelope as JSON', () => {
  for (const ev of events) {
    const l = eventLog(ev);
    assert.ok(!l.line.includes('\n'), l.line);
    assert.ok(l.line.startsWith(`${ev.seq} ${ev.executionId} ${ev.event}`), l.line);
    assert.deepEqual(JSON.parse(l.json), ev);
  }
});

test('a failed QC logs its gap in full', () => {
  const ev = events.find((e) => e.event === 'qc-complete' && e.data.passed === false)!;
  const l = eventLog(ev);
  assert.match(l.line, /❌ QC failed \(Score: 43\/100\) - Retrying \(1\/2\)/);
  assert.ok(l.details.some((d) => d.startsWith('  feedback: ')));
  assert.equal(l.details.filter((d) => d.startsWith('  issue: ')).length, ev.data.gap!.issues.length);
  assert.ok(l.details.includes('  fix: Fix 1: Translate the remaining sections (4-7)'));
});

test('execution-complete logs every deliverable; a save logs every result', () => {
  const done = events.find((e) => e.event === 'execution-complete')!;
  assert.deepEqual(
    eventLog(done).details.map((d) => d.split(' ')[3]),
    done.data.deliverables!.map((d) => d.path),
  );
  const saved: MimirEvent = {
    seq: 40, executionId: 'ex_a', event: 'deliverables-saved', time: '',
    data: { message: '⚠️ Saved 1 of 2 deliverables to /w/d (1 failed)', saved: 1, failed: 1, results: [
      { path: 'a/x.md', savedAs: 'd/a/x (1).md', status: 'renamed' },
      { path: 'a/y.md', status: 'failed', error: 'disk full' },
    ] },
  };
  assert.deepEqual(eventLog(saved).details, ['  renamed: a/x.md → d/a/x (1).md', '  failed: a/y.md (disk full)']);
});

test('an interruption the extension recorded is marked as its own, with no seq', () => {
  const h = new History();
  h.push({ seq: 7, executionId: 'ex_a', event: 'execution-start', time: '', data: { workflow: 'w', message: '' } });
  const [local] = h.interruptRunning('the sidecar was restarted');
  const l = eventLog(local);
  assert.match(l.line, /^\[extension\] ex_a execution-interrupted ⚠️ Execution interrupted/);
  assert.deepEqual(l.details, ['  reason: the sidecar was restarted']);
  assert.equal(JSON.parse(l.json).local, true);
  assert.equal(JSON.parse(l.json).seq, undefined);
});
