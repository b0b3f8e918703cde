import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browseDownloads, pageParams, withPage, type Download, type DownloadsUI, type Item } from '../src/downloadHistory';

const save = (seq: number, files: Download['files']): Download => ({
  seq, executionId: `ex_${seq}`, time: '2026-12-03T14:00:00Z', target: '/ws/deliverables', saved: files.length, failed: 0,
  message: `✅ Saved ${files.length} deliverables to /ws/deliverables (save ${seq})`, files,
});

/** A UI that answers picks from a script of label prefixes, and records what it showed and did. */
function scripted(pages: Record<string, { downloads: Download[]; nextCursor?: string }>, picks: string[]) {
  const shown: string[][] = [];
  const did: string[] = [];
  const ui: DownloadsUI = {
    page: async (cursor) => pages[cursor ?? ''],
    pick: async <T extends Item>(items: T[]) => {
      shown.push(items.map((i) => i.label));
      const want = picks.shift();
      return items.find((i) => want !== undefined && i.label.startsWith(want));
    },
    open: async (p) => void did.push(`open ${p}`),
    warn: (m) => void did.push(`warn ${m}`),
  };
  return { ui, shown, did };
}

test('pages through the saves, then opens the file picked', async () => {
  const newest = save(9, [{ path: 'a/x.md', savedAs: 'deliverables/a/x.md', status: 'unchanged' }]);
  const older = save(3, [{ path: 'a/x.md', savedAs: 'deliverables/a/x (1).md', status: 'renamed' }, { path: 'b', status: 'failed', error: 'disk full' }]);
  const { ui, shown, did } = scripted({ '': { downloads: [newest], nextCursor: '9' }, '9': { downloads: [older] } }, ['$(history) Older', '✅ Saved 2', '$(check) a/x.md']);
  await browseDownloads(ui);
  assert.deepEqual(shown[0], [newest.message, '$(history) Older downloads…']);
  assert.deepEqual(shown[1], [newest.message, older.message]);
  assert.deepEqual(shown[2], ['$(check) a/x.md', '$(error) b']);
  assert.deepEqual(did, ['open deliverables/a/x (1).md']);
});

test('a failed file says why instead of opening; no history says so', async () => {
  const s = save(1, [{ path: 'b', status: 'failed', error: 'disk full' }]);
  let r = scripted({ '': { downloads: [s] } }, ['✅', '$(error) b']);
  await browseDownloads(r.ui);
  assert.deepEqual(r.did, ['warn Not saved: b: disk full']);
  r = scripted({ '': { downloads: [] } }, []);
  await browseDownloads(r.ui);
  assert.match(r.did[0], /^warn No downloads yet/);
});

test('the newest page replaces what is shown, an older one goes after it, never twice', () => {
  const [a, b, c] = [save(9, []), save(5, []), save(2, [])];
  let v = withPage({ downloads: [] }, { downloads: [a, b], nextCursor: '5' }, false);
  v = withPage(v, { downloads: [b, c] }, true);
  assert.deepEqual(v.downloads.map((d) => d.seq), [9, 5, 2]);
  assert.equal(v.nextCursor, undefined);
  // Read again after a save: the newest page, not the older ones kept.
  v = withPage(v, { downloads: [save(10, []), a], nextCursor: '9' }, false);
  assert.deepEqual(v.downloads.map((d) => d.seq), [10, 9]);
  assert.equal(v.nextCursor, '9');
  assert.deepEqual(pageParams(), { limit: 100 });
  assert.deepEqual(pageParams('9'), { cursor: '9', limit: 100 });
});
