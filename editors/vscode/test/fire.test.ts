import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fire } from '../src/fire';

test('fire reports a throw or a rejection, and nothing when the action succeeds', async () => {
  const reports: string[] = [];
  const report = (m: string) => reports.push(m);
  let unhandled = 0;
  const onUnhandled = () => unhandled++;
  process.on('unhandledRejection', onUnhandled);
  try {
    fire(() => {
      throw new Error('sync');
    }, report);
    fire(() => Promise.reject(new Error('the sidecar is not running')), report);
    fire(async () => {
      await Promise.resolve();
      throw 'a string';
    }, report);
    fire(() => Promise.resolve(42), report);
    fire(() => undefined, report);
    await new Promise((r) => setTimeout(r, 10));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.deepEqual(reports, ['sync', 'the sidecar is not running', 'a string']);
  assert.equal(unhandled, 0);
});
