import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findSidecar } from '../src/locate';

function fakeBinary(dir: string, name = 'mimir-sidecar') {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, '#!/bin/sh\n');
  chmodSync(p, 0o755);
  return p;
}

test('setting, then bundled, then PATH, else a message saying what to do', () => {
  const root = mkdtempSync(join(tmpdir(), 'locate-'));
  const onPath = fakeBinary(join(root, 'path'));
  const ext = join(root, 'ext');
  assert.deepEqual(findSidecar('', ext, join(root, 'path')), { path: onPath });
  const bundled = fakeBinary(join(ext, 'bin'));
  assert.deepEqual(findSidecar('', ext, join(root, 'path')), { path: bundled });
  assert.deepEqual(findSidecar(onPath, ext, ''), { path: onPath });
  const wrong = findSidecar(join(root, 'nope'), ext, '');
  assert.ok('error' in wrong && /mimir\.sidecarPath setting points at/.test(wrong.error));
  const none = findSidecar('', join(root, 'empty'), join(root, 'empty'));
  assert.ok('error' in none && /go install \.\/cmd\/mimir-sidecar/.test(none.error));
});

test("Windows's bundled sidecar is bin/mimir-sidecar.exe, the one a win32 .vsix carries", () => {
  const root = mkdtempSync(join(tmpdir(), 'locate-'));
  const ext = join(root, 'ext');
  const unix = fakeBinary(join(ext, 'bin'));
  const win = fakeBinary(join(ext, 'bin'), 'mimir-sidecar.exe');
  assert.deepEqual(findSidecar('', ext, '', 'win32'), { path: win });
  assert.deepEqual(findSidecar('', ext, '', 'linux'), { path: unix });
  assert.deepEqual(findSidecar('', ext, '', 'darwin'), { path: unix });
});
