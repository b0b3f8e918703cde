import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deliverablesDir, insideWorkspace, makeFolder, removeIfEmpty } from '../src/deliverablesFolder';

test('the setting must name a folder inside the workspace', () => {
  const root = '/w/repo';
  assert.deepEqual(deliverablesDir(root, 'deliverables'), { path: '/w/repo/deliverables' });
  assert.deepEqual(deliverablesDir(root, 'out/d'), { path: '/w/repo/out/d' });
  assert.deepEqual(deliverablesDir(root, ''), { path: '/w/repo/deliverables' });
  assert.deepEqual(deliverablesDir(root, '.'), { path: '/w/repo' });
  assert.deepEqual(deliverablesDir(root, '/w/repo/abs'), { path: '/w/repo/abs' }, 'absolute, inside');
  assert.deepEqual(deliverablesDir(root, 'a/../b'), { path: '/w/repo/b' });
  assert.deepEqual(deliverablesDir(root, '..foo'), { path: '/w/repo/..foo' }, 'a name that starts with two dots is inside');
  for (const bad of ['..', '../x', 'a/../../x', '/etc', '/w/repo-other', '/w/repo/../other']) {
    const r = deliverablesDir(root, bad);
    assert.ok('error' in r, bad);
    assert.equal(
      r.error,
      `The mimir.deliverablesFolder setting is ${JSON.stringify(bad)}, which is outside the workspace /w/repo. Deliverables are only saved inside the workspace: set it to a folder in it, such as "deliverables".`,
    );
  }
  assert.equal(insideWorkspace(root, '/w/repo'), true);
  assert.equal(insideWorkspace(root, '/w'), false);
});

test('the folder made for the dialog is removed again if nothing was saved in it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'deliverables-'));
  const dir = join(root, 'out', 'deliverables');
  const created = await makeFolder(dir);
  assert.deepEqual(created, [dir, join(root, 'out')]);
  assert.ok(existsSync(dir));
  await removeIfEmpty(created);
  assert.equal(existsSync(join(root, 'out')), false, 'both folders it made are gone');
  assert.ok(existsSync(root), 'and nothing above them');

  // A folder that existed is not the extension's to remove.
  assert.deepEqual(await makeFolder(root), []);

  // Something put in it since: it stays.
  const again = await makeFolder(dir);
  writeFileSync(join(dir, 'keep.md'), 'x');
  await removeIfEmpty(again);
  assert.ok(existsSync(join(dir, 'keep.md')));
  // A sibling in the parent: the child goes, the parent stays.
  const other = join(root, 'out', 'other');
  const made = await makeFolder(join(other, 'd'));
  assert.deepEqual(made, [join(other, 'd'), other]);
  await removeIfEmpty(made);
  assert.equal(existsSync(other), false);
  assert.ok(existsSync(dir));
});
