// The Studio page as built, in headless Chromium: a recorded event stream
// is replayed into it and the button, selection and preview are checked by
// clicking, the way a user would. A screenshot is kept in test-artifacts/.
import { test } from 'node:test';
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

test('the Download Deliverables button, selection and preview', async (t) => {
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
  const button = page.locator('#download');

  await page.waitForFunction(() => (window as unknown as { posted: { type: string }[] }).posted.some((m) => m.type === 'ready'));
  assert.equal(await button.textContent(), '📥 Download Deliverables (0)');
  assert.equal(await button.isDisabled(), true);
  assert.equal(await button.getAttribute('title'), 'No deliverables available');

  const done = events.findIndex((e) => e.event === 'execution-complete');
  const posted = async () => page.evaluate(() => (window as unknown as { posted: { type: string; paths?: string[]; executionId?: string; path?: string }[] }).posted);
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

  await page.locator('button[data-preview="site/site/index.html"]').click();
  const asked = (await posted()).find((m) => m.type === 'preview');
  assert.equal(asked?.path, 'site/site/index.html');
  await page.evaluate(() => window.postMessage({ type: 'preview', executionId: 'x', preview: { path: 'site/site/index.html', size: 200, offset: 0, encoding: 'utf-8', content: '<!doctype html>\n<h1>Mimir documentation</h1>', truncated: false } }, '*'));
  await page.locator('#preview', { hasText: 'Mimir documentation' }).waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#preview-title').textContent(), 'site/site/index.html');

  mkdirSync(new URL('../../test-artifacts/', import.meta.url), { recursive: true });
  await page.screenshot({ path: new URL('../../test-artifacts/studio.png', import.meta.url).pathname, fullPage: true });
  assert.deepEqual(errors, [], 'the page logged errors (a CSP violation would show here)');
});
