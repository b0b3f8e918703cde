// The Studio page as built, in headless Chromium: a recorded event stream
// is replayed into it and the button, selection and preview are checked by
// clicking, the way a user would. A screenshot is kept in test-artifacts/.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Page } from 'playwright-core';
import { studioHtml } from '../../src/studioHtml';
import type { MimirEvent } from '../../src/protocol';

const dist = new URL('../../dist/', import.meta.url);
const events: MimirEvent[] = JSON.parse(readFileSync(new URL('../fixtures/events.json', import.meta.url), 'utf8'));
const nonce = 'testnonce0123456789';

async function serve() {
  const server = createServer((req, res) => {
    if (req.url === '/studio.js' || req.url === '/studio.css') {
      res.setHeader('content-type', req.url.endsWith('.js') ? 'text/javascript' : 'text/css');
      return res.end(readFileSync(new URL('.' + req.url, dist)));
    }
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Stands in for VS Code: records what the page posts.
    const shim = `<script nonce="${nonce}">window.posted = []; window.acquireVsCodeApi = () => ({ postMessage: (m) => window.posted.push(m) });</script>`;
    const html = studioHtml({ scriptUri: '/studio.js', styleUri: '/studio.css', cspSource: origin, nonce }).replace('<script nonce=', shim + '<script nonce=');
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

// Messages are delivered asynchronously: replay waits until the page has
// handled the last one (its message shows as the execution's status line).
async function replay(page: Page, evs: MimirEvent[]) {
  await page.evaluate((list) => list.forEach((event) => window.postMessage({ type: 'event', event }, '*')), evs);
  const last = evs[evs.length - 1].data.message;
  await page.waitForFunction((m) => [...document.querySelectorAll('.execution p')].some((p) => p.textContent === m), last);
}

type Posted = { type: string; paths?: string[]; executionId?: string; path?: string; onBranch?: boolean; theirs?: string; cursor?: string; savedAs?: string };

/** The Studio page in headless Chromium, closed when the test ends; errors
 * collects what the page logged as errors. */
async function openStudio(t: TestContext) {
  const { server, url } = await serve();
  t.after(() => server.close());
  // Chromium's own files (crash reports, …) go to a temporary home, not ~.
  const home = mkdtempSync(join(tmpdir(), 'mimir-studio-chromium-'));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_CACHE_HOME: join(home, '.cache') },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(async () => {
    await browser.close();
    rmSync(home, { recursive: true, force: true });
  });
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(url);
  await page.waitForFunction(() => (window as unknown as { posted: { type: string }[] }).posted.some((m) => m.type === 'ready'));
  const posted = async () => page.evaluate(() => (window as unknown as { posted: Posted[] }).posted);
  return { page, errors, posted };
}

test('the Download Deliverables button, selection and preview', async (t) => {
  const { page, errors, posted } = await openStudio(t);
  const button = page.locator('#download');

  assert.equal(await button.textContent(), '📥 Download Deliverables (0)');
  assert.equal(await button.isDisabled(), true);
  assert.equal(await button.getAttribute('title'), 'No deliverables available');

  const done = events.findIndex((e) => e.event === 'execution-complete');
  const cancel = page.locator('#cancel');
  assert.equal(await cancel.isDisabled(), true, 'Cancel enabled with nothing running');

  await replay(page, events.slice(0, done));
  assert.equal(await button.isDisabled(), true, 'enabled before execution-complete');
  // While it runs: Cancel in the toolbar and on the execution.
  assert.equal(await cancel.isDisabled(), false);
  await cancel.click();
  await page.locator(`button[data-cancel="${events[0].executionId}"]`).click();
  assert.deepEqual((await posted()).filter((m) => m.type === 'cancel'), [
    { type: 'cancel', executionId: events[0].executionId },
    { type: 'cancel', executionId: events[0].executionId },
  ]);
  await page.locator('details.gap').first().locator('summary').click();
  assert.match(await page.locator('details.gap').first().textContent() ?? '', /Section 4\. Workers is not translated/);

  await replay(page, events.slice(done));
  assert.equal(await button.textContent(), '📥 Download Deliverables (6)');
  assert.equal(await button.isDisabled(), false);
  assert.equal(await button.getAttribute('title'), 'Download 6 deliverable(s)');
  assert.equal(await cancel.isDisabled(), true, 'Cancel enabled after the execution ended');
  assert.equal(await page.locator('button[data-cancel]').count(), 0);

  // The toolbar: run, executions, the deliverables folder.
  await page.locator('#run').click();
  await page.locator('#show-executions').click();
  await page.locator('#open-folder').click();
  assert.deepEqual((await posted()).filter((m) => ['run', 'executions', 'openFolder'].includes(m.type)), [{ type: 'run' }, { type: 'executions' }, { type: 'openFolder' }]);

  // The count stays the count available (the seed); the tooltip says how
  // many a click takes.
  const skip = 'glossary/reports/glossary.csv';
  await page.locator(`input[data-path="${skip}"]`).uncheck();
  await page.waitForFunction(() => document.getElementById('download')?.title === 'Download 5 of 6 deliverable(s)');
  assert.equal(await button.textContent(), '📥 Download Deliverables (6)');
  await button.click();
  const dl = (await posted()).find((m) => m.type === 'download')!;
  assert.equal(dl.executionId, events[0].executionId);
  assert.equal(dl.paths!.length, 5);
  assert.ok(!dl.paths!.includes(skip));

  await page.locator('button[data-preview="site/index.html"]').click();
  const asked = (await posted()).find((m) => m.type === 'preview');
  assert.equal(asked?.path, 'site/index.html');
  await page.evaluate(() => window.postMessage({ type: 'preview', executionId: 'x', preview: { path: 'site/index.html', size: 200, offset: 0, encoding: 'utf-8', content: '<!doctype html>\n<h1>Mimir documentation</h1>', truncated: false } }, '*'));
  await page.locator('#preview', { hasText: 'Mimir documentation' }).waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#preview-title').textContent(), 'site/index.html');

  mkdirSync(new URL('../../test-artifacts/', import.meta.url), { recursive: true });
  await page.screenshot({ path: new URL('../../test-artifacts/studio.png', import.meta.url).pathname, fullPage: true });
  assert.deepEqual(errors, [], 'the page logged errors (a CSP violation would show here)');
});

// A real run of examples/fix-a-failing-test, then an apply that conflicts
// with the user's edit and one that applies.
const changes: MimirEvent[] = JSON.parse(readFileSync(new URL('../fixtures/changes-events.json', import.meta.url), 'utf8'));

test('Apply Changes, Apply on Branch…, Discard; the changed files, the patch and the conflicts', async (t) => {
  const { page, errors, posted } = await openStudio(t);
  const apply = page.locator('#apply');
  const branch = page.locator('#apply-branch');
  const discard = page.locator('#discard');
  const id = changes[0].executionId;
  const at = (name: string, nth = 0) => changes.findIndex((e) => e.event === name) + nth;
  const applied = changes.filter((e) => e.event === 'changes-applied');

  for (const b of [apply, branch, discard]) assert.equal(await b.isDisabled(), true, 'enabled with no changes');
  assert.equal(await apply.textContent(), '🔀 Apply Changes');

  await replay(page, changes.slice(0, at('execution-complete') + 1));
  assert.equal(await apply.isDisabled(), false);
  assert.match((await apply.getAttribute('title')) ?? '', /fix-a-failing-test to 1 file/);
  // The task's changed files, and its patch.
  await page.locator('details.changes summary').click();
  assert.match((await page.locator('details.changes').textContent()) ?? '', /1 changed file.*M slugify\.sh/s);
  await page.locator('button[data-patch="fix/fix.patch"]').click();

  await apply.click();
  await branch.click();
  await discard.click();
  assert.deepEqual(
    (await posted()).filter((m) => ['apply', 'discard', 'openPatch'].includes(m.type)),
    [
      { type: 'openPatch', executionId: id, path: 'fix/fix.patch' },
      { type: 'apply', executionId: id, onBranch: false },
      { type: 'apply', executionId: id, onBranch: true },
      { type: 'discard', executionId: id },
    ],
  );

  // While the extension applies: Applying…, nothing clickable.
  await page.evaluate((executionId) => window.postMessage({ type: 'applying', executionId }, '*'), id);
  await page.waitForFunction(() => document.getElementById('apply')?.textContent === '⏳ Applying…');
  for (const b of [apply, branch, discard]) assert.equal(await b.isDisabled(), true, 'clickable while applying');

  await replay(page, [applied[0]]);
  assert.equal(await apply.textContent(), '⚠️ Conflicts');
  assert.equal(await apply.isDisabled(), false, 'cannot apply again after resolving');
  assert.equal(await branch.isDisabled(), false);
  const report = page.locator('.apply-report');
  assert.match((await report.textContent()) ?? '', /slugify\.sh conflict: your changes since the execution started and the task's overlap/);
  await page.locator('button[data-compare="slugify.sh"]').click();
  const cmp = (await posted()).find((m) => m.type === 'compare');
  assert.deepEqual(cmp, { type: 'compare', path: 'slugify.sh', theirs: applied[0].data.results![0] && (applied[0].data.results![0] as { theirs: string }).theirs });
  mkdirSync(new URL('../../test-artifacts/', import.meta.url), { recursive: true });
  await page.screenshot({ path: new URL('../../test-artifacts/studio-conflict.png', import.meta.url).pathname, fullPage: true });

  await page.evaluate(() => window.postMessage({ type: 'applying', executionId: null }, '*'));
  await replay(page, [applied[1]]);
  assert.equal(await apply.textContent(), '✅ Applied');
  for (const b of [apply, branch, discard]) assert.equal(await b.isDisabled(), true, 'clickable once applied');
  assert.equal(await page.locator('button[data-compare]').count(), 0, 'a stale Compare after the apply');
  assert.deepEqual(errors, [], 'the page logged errors (a CSP violation would show here)');
});

test('the download history: read when opened, older pages, a file opened, read again after a save', async (t) => {
  const { page, errors, posted } = await openStudio(t);
  const asked = async () => (await posted()).filter((m) => m.type === 'downloads');
  const newest = {
    seq: 9, executionId: 'ex_9', time: '2026-12-03T14:00:00Z', target: 'deliverables', saved: 1, failed: 1, message: '⚠️ Saved 1 of 2 deliverables to deliverables',
    files: [
      { path: 'site/index.html', savedAs: 'deliverables/site/index (1).html', status: 'renamed' },
      { path: 'notes.md', status: 'failed', error: 'disk full' },
    ],
  };
  const older = { ...newest, seq: 3, executionId: 'ex_3', failed: 0, message: '✅ Saved 1 deliverable to deliverables', files: [{ path: 'site/index.html', savedAs: 'deliverables/site/index.html', status: 'saved' }] };
  const answer = (msg: object) => page.evaluate((m) => window.postMessage(m, '*'), msg);

  assert.deepEqual(await asked(), [], 'read before the section was opened');
  await page.locator('#downloads summary').click();
  await page.waitForFunction(() => (window as unknown as { posted: { type: string }[] }).posted.some((m) => m.type === 'downloads'));
  assert.deepEqual(await asked(), [{ type: 'downloads' }]);

  await answer({ type: 'downloads', page: { downloads: [newest], nextCursor: '9' } });
  await page.locator('#download-list', { hasText: 'Saved 1 of 2' }).waitFor({ timeout: 5000 });
  const list = page.locator('#download-list');
  assert.match((await list.textContent()) ?? '', /site\/index\.html renamed: saved as deliverables\/site\/index \(1\)\.html/);
  assert.match((await list.textContent()) ?? '', /notes\.md failed: disk full/);
  assert.equal(await page.locator('button[data-open]').count(), 1, 'a file that was not saved has an Open');
  await page.locator('button[data-open="deliverables/site/index (1).html"]').click();

  await page.locator('#older-downloads').click();
  await answer({ type: 'downloads', cursor: '9', page: { downloads: [older] } });
  await page.locator('#download-list', { hasText: 'Saved 1 deliverable' }).waitFor({ timeout: 5000 });
  assert.equal(await page.locator('li.download').count(), 2);
  assert.equal(await page.locator('#older-downloads').count(), 0, 'Older downloads… on the last page');

  // A save: the history is read again.
  const saved = { seq: 10, executionId: 'ex_9', event: 'deliverables-saved', time: newest.time, data: { message: '✅ Saved 1 deliverable to deliverables' } };
  await answer({ type: 'event', event: saved });
  await page.waitForFunction(() => (window as unknown as { posted: { type: string }[] }).posted.filter((m) => m.type === 'downloads').length === 3);
  assert.deepEqual(
    (await posted()).filter((m) => m.type === 'downloads' || m.type === 'openSaved'),
    [{ type: 'downloads' }, { type: 'openSaved', savedAs: 'deliverables/site/index (1).html' }, { type: 'downloads', cursor: '9' }, { type: 'downloads' }],
  );
  await answer({ type: 'downloadsError', message: 'the Mimir sidecar is not running' });
  await page.locator('#download-list', { hasText: 'Cannot read the download history: the Mimir sidecar is not running' }).waitFor({ timeout: 5000 });
  mkdirSync(new URL('../../test-artifacts/', import.meta.url), { recursive: true });
  await page.screenshot({ path: new URL('../../test-artifacts/studio-downloads.png', import.meta.url).pathname, fullPage: true });
  assert.deepEqual(errors, [], 'the page logged errors (a CSP violation would show here)');
});
