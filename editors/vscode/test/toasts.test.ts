import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { toast, wantedToast } from '../src/toasts';
import type { MimirEvent } from '../src/protocol';

// The same fixture the sidecar and the Neovim plugin are tested against.
const cases: { event: MimirEvent; toast: { level: string; text: string } | null }[] = JSON.parse(
  readFileSync(new URL('../../../testdata/toasts.json', import.meta.url), 'utf8'),
);

test('every event maps to the fixture toast', () => {
  assert.ok(cases.length > 10);
  for (const c of cases) {
    assert.deepEqual(toast(c.event) ?? null, c.toast, `${c.event.event} seq ${c.event.seq}`);
  }
});

test('the seed texts, icons included', () => {
  // toast()'s own output: the fixture could say anything.
  const texts = cases.map((c) => toast(c.event)?.text ?? '');
  for (const want of ['🤖 Worker executing: Translate README', '✅ Worker completed (15.0s, 3 tool calls)', '🔍 QC verifying: Translate README', '✅ QC passed (Score: 95/100)']) {
    assert.ok(texts.includes(want), want);
  }
  assert.ok(texts.some((t) => t.startsWith('⚠️ QC failed (Score: 35/100) - Retrying (1/2)\n\n📋 Issues:\n')));
});

test('the notifications setting filters', () => {
  const info = cases.find((c) => toast(c.event)?.level === 'info')!.event;
  const warn = cases.find((c) => toast(c.event)?.level === 'warning')!.event;
  assert.ok(wantedToast(info, 'all'));
  assert.equal(wantedToast(info, 'failures'), undefined);
  assert.ok(wantedToast(warn, 'failures'));
  assert.equal(wantedToast(warn, 'none'), undefined);
});

test("an apply's or a discard's event is toasted (when the extension did not ask for it: saves.ts)", () => {
  const ev = (event: string, data: MimirEvent['data']): MimirEvent => ({ seq: 1, executionId: 'ex_a', event, time: '', data });
  assert.deepEqual(wantedToast(ev('changes-applied', { status: 'conflict', message: '⚠️ Nothing applied: 1 file conflict with your edits; resolve them, or apply on a branch' }), 'failures'), {
    level: 'warning',
    text: '⚠️ Nothing applied: 1 file conflict with your edits; resolve them, or apply on a branch',
  });
  assert.deepEqual(wantedToast(ev('changes-applied', { status: 'applied', message: '✅ Applied the changes to 1 file' }), 'all'), { level: 'info', text: '✅ Applied the changes to 1 file' });
  assert.equal(wantedToast(ev('changes-applied', { status: 'branch', message: '✅ Committed the changes to 1 file on branch b' }), 'failures'), undefined);
  assert.deepEqual(wantedToast(ev('changes-discarded', { message: '🗑️ Discarded the worktrees of the changes' }), 'all'), { level: 'info', text: '🗑️ Discarded the worktrees of the changes' });
});
