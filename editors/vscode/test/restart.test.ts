import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closedResult, RestartPolicy } from '../src/restart';

test('restarts up to the limit within the window, then stops and says how to go on', () => {
  let now = 0;
  const p = new RestartPolicy(5, 180_000, () => now);
  for (let i = 1; i <= 5; i++) {
    now += 1000;
    assert.deepEqual(p.closed(), { restart: true, level: 'warning', text: `The Mimir sidecar stopped unexpectedly; restarting it (${i}/5).` });
  }
  now += 1000;
  const last = p.closed();
  assert.equal(last.restart, false);
  assert.equal(last.level, 'error');
  assert.match(last.text, /stopped 6 times in 3 minutes and will not be restarted/);
  assert.match(last.text, /Mimir: Restart Sidecar/);
});

test('crashes older than the window are forgotten', () => {
  let now = 0;
  const p = new RestartPolicy(2, 60_000, () => now);
  assert.equal(p.closed().restart, true);
  assert.equal(p.closed().restart, true);
  now += 61_000;
  assert.equal(p.closed().restart, true, 'the first two are out of the window');
  assert.match(p.closed().text, /\(2\/2\)/);
  assert.equal(p.closed().restart, false);
});

test('a restart the user asks for starts over', () => {
  const p = new RestartPolicy(1, 60_000, () => 0);
  p.closed();
  assert.equal(p.closed().restart, false);
  p.reset();
  assert.equal(p.closed().restart, true);
});

test('the language client is always told the close was handled, so it adds no message of its own', () => {
  const p = new RestartPolicy(1, 60_000, () => 0);
  const actions = { restart: 2, doNotRestart: 1 }; // vscode-languageclient's CloseAction values
  assert.deepEqual(closedResult(p.closed(), actions), { action: 2, handled: true });
  assert.deepEqual(closedResult(p.closed(), actions), { action: 1, handled: true });
});
