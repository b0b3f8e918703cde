// The extension end to end in a real VS Code: code-server (VS Code 1.100 in
// the browser) runs on loopback with the packaged extension (sidecar bundled
// in bin/) installed, and headless Chromium drives it the way a user would:
// open examples/translate-docs' workflow, run it from the command palette,
// watch the phase toasts, open the Studio, press Download Deliverables,
// accept the folder dialog, and find the files on disk; then run a slow
// workflow from the Studio and kill the sidecar under it. A second test
// runs examples/fix-a-failing-test in a git repository and applies its
// change from the Studio: on a branch, then against a conflicting edit
// (compared side by side), then for good.
//
// Run by scripts/test.d/code-server.sh, which installs code-server (cached)
// and takes scripts/release's linux-x64 .vsix; it passes CODE_SERVER and
// VSIX. Every wait is
// bounded; any failed step fails the test, and a screenshot and the server's
// log are kept in test-artifacts/ either way.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type FrameLocator, type Page } from 'playwright-core';

const codeServer = process.env.CODE_SERVER ?? '';
const vsix = process.env.VSIX ?? '';
const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const artifacts = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const step = (s: string) => console.log(`# ${new Date().toISOString().slice(11, 19)} ${s}`);

// The deliverables examples/translate-docs produces (test/fixtures/events.json
// was recorded from it).
const expected = [
  'glossary/reports/glossary.csv',
  'translate-fr/docs/fr/README.md',
  'translate-de/docs/de/README.md',
  'site/de/README.md',
  'site/fr/README.md',
  'site/index.html',
].sort();

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** A sandbox: code-server, Chromium and the sidecar write only in here;
 * fill puts the workspace's files in. */
function sandbox(fill: (ws: string) => void = translateDocs) {
  const root = mkdtempSync(join(tmpdir(), 'mimir-code-server-'));
  const dirs = {
    root,
    userData: join(root, 'user-data'),
    extensions: join(root, 'extensions'),
    ws: join(root, 'workspace'),
    home: join(root, 'home'),
    tmp: join(root, 'tmp'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  for (const d of ['config', 'data', 'cache']) mkdirSync(join(root, 'xdg', d), { recursive: true });
  mkdirSync(join(dirs.userData, 'User'), { recursive: true });
  writeFileSync(
    join(dirs.userData, 'User', 'settings.json'),
    JSON.stringify({
      // Without this a modal "Do you trust the authors…" blocks everything.
      'security.workspace.trust.enabled': false,
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'chat.disableAIFeatures': true,
    }),
  );
  writeFileSync(join(root, 'config.yaml'), 'auth: none\ncert: false\n');
  fill(dirs.ws);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dirs.home,
    TMPDIR: dirs.tmp,
    XDG_CONFIG_HOME: join(root, 'xdg', 'config'),
    XDG_DATA_HOME: join(root, 'xdg', 'data'),
    XDG_CACHE_HOME: join(root, 'xdg', 'cache'),
  };
  delete env.MIMIR_LOG;
  const args = ['--config', join(root, 'config.yaml'), '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions];
  return { ...dirs, env, args };
}

/** examples/translate-docs, a GitHub Actions workflow, and a slow one. */
function translateDocs(ws: string) {
  cpSync(join(repo, 'examples', 'translate-docs'), ws, { recursive: true });
  // GitHub Actions' workflows are not Mimir's: no lens, no diagnostics.
  mkdirSync(join(ws, '.github', 'workflows'), { recursive: true });
  writeFileSync(join(ws, '.github', 'workflows', 'ci.yml'), 'on: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make test\n');
  // A workflow that runs until the test kills the sidecar under it (or
  // cancels it): long enough that it cannot end first on a loaded machine.
  // Its worker says it has started by writing its pid, which is its process
  // group's id, into its task's folder (whole, through a rename): the
  // sandbox lets it write nowhere else.
  writeFileSync(
    join(ws, 'slow.mimir.yaml'),
    [
      'name: slow',
      'tasks:',
      '  - id: wait',
      '    title: Wait for the sidecar to be killed',
      '    worker:',
      '      command: |',
      '        echo $$ > slow.pid.tmp && mv slow.pid.tmp slow.pid',
      '        exec sleep 300',
      '',
    ].join('\n'),
  );
}

/** examples/fix-a-failing-test in a git repository: its project at the
 * root, committed, and its workflow (and scripts) in fix/. */
function fixAFailingTest(ws: string) {
  const example = join(repo, 'examples', 'fix-a-failing-test');
  cpSync(join(example, 'project'), ws, { recursive: true });
  mkdirSync(join(ws, 'fix'));
  for (const f of ['workflow.yaml', 'fix.sh', 'check.sh']) cpSync(join(example, f), join(ws, 'fix', f));
  for (const args of [['init', '-q'], ['add', '.'], ['-c', 'user.name=test', '-c', 'user.email=test@localhost', 'commit', '-qm', 'slugify with a failing test']]) {
    const r = spawnSync('git', ['-C', ws, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, `git ${args.join(' ')}: ${r.stderr}`);
  }
}

type Sandbox = ReturnType<typeof sandbox>;

/** Starts code-server on a free loopback port; resolves with its URL. */
async function startServer(sb: Sandbox, log: string[]): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(
    codeServer,
    [...sb.args, '--auth', 'none', '--bind-addr', '127.0.0.1:0', '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--ignore-last-opened', sb.ws],
    { env: sb.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`code-server did not say where it listens within 30 s:\n${log.join('')}`)), 30_000);
    const read = (b: Buffer) => {
      log.push(b.toString());
      const m = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log.join(''));
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout!.on('data', read);
    proc.stderr!.on('data', read);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`code-server exited with ${code}:\n${log.join('')}`));
    });
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url}/healthz did not answer within 20 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { proc, url };
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Signals a process group; false if it is gone. */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Stops code-server and waits until its process group has exited, so
 * nothing writes into the logs or the sandbox while they are copied and
 * removed. The server, its file watcher and the extension host (and through
 * it the sidecar) share the process group started with detached: true. */
async function stopServer(proc: ChildProcess) {
  const pgid = proc.pid;
  if (!pgid || !signalGroup(pgid, 'SIGTERM')) return;
  for (const [signal, ms] of [['SIGKILL', 10_000], [undefined, 5_000]] as const) {
    const deadline = Date.now() + ms;
    while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (!groupAlive(pgid)) return;
    if (signal) signalGroup(pgid, signal);
  }
  console.log(`# code-server's process group ${pgid} is still there`);
}

/** Waits for the slow workflow's worker to write its pid (its process
 * group's id) in its task's folder, in one of the workspace's executions:
 * it has started. other is a pid already seen. */
async function waitForWorker(ws: string, other?: number): Promise<number> {
  const executions = join(ws, '.mimir', 'executions');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ids = existsSync(executions) ? readdirSync(executions) : [];
    for (const id of ids) {
      const file = join(executions, id, 'staging', 'wait', 'slow.pid');
      const m = existsSync(file) ? /^(\d+)\n$/.exec(readFileSync(file, 'utf8')) : null;
      const pid = m ? Number(m[1]) : undefined;
      if (pid && pid !== other) return pid;
    }
    if (Date.now() > deadline) throw new Error(`the slow workflow's worker did not write slow.pid in its task's folder under ${executions} within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

declare global {
  interface Window {
    mimirToasts: string[];
  }
}

/** Records every notification as it is shown, duplicates included (a
 * toast shown twice must fail the test). Not from the rendered toasts: they
 * come faster than they stay on screen, and VS Code replaces a notification
 * equal to one it shows, so a doubled toast is rendered once. But it
 * announces every notification it is given to screen readers, writing
 * "Info: <message>" (or Warning:, Error:) into one of its .monaco-alert
 * live regions: one mutation per announcement, even for the same text
 * twice. A string, not a function: tsx would wrap a function's inner
 * helpers in its own __name(). */
const recordToasts = `
  window.mimirToasts = [];
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type !== 'childList' || !(r.target instanceof Element) || !r.target.classList.contains('monaco-alert')) continue;
      for (const n of r.addedNodes) {
        const t = (n.textContent || '').replace(/^(Info|Warning|Error): /, '');
        if (t) window.mimirToasts.push(t);
      }
    }
  }).observe(document, { subtree: true, childList: true });
`;

async function toasts(page: Page): Promise<string[]> {
  return page.evaluate(() => window.mimirToasts);
}

async function waitForToast(page: Page, start: string, timeout = 30_000): Promise<string> {
  const handle = await page.waitForFunction((s) => window.mimirToasts.find((t) => t.startsWith(s)), start, { timeout }).catch(async () => {
    throw new Error(`no toast starting with ${JSON.stringify(start)} within ${timeout / 1000} s; seen:\n${(await toasts(page)).join('\n')}`);
  });
  return (await handle.jsonValue()) as string;
}

/** Waits until the Mimir output channel's log file (under code-server's
 * logs folder) has a line containing text. */
async function waitForLog(logs: string, text: string, timeout: number) {
  const deadline = Date.now() + timeout;
  const find = (dir: string): boolean =>
    existsSync(dir) &&
    readdirSync(dir, { withFileTypes: true }).some((e) =>
      e.isDirectory() ? find(join(dir, e.name)) : /Mimir\.log$/.test(e.name) && readFileSync(join(dir, e.name), 'utf8').includes(text),
    );
  while (!find(logs)) {
    if (Date.now() > deadline) throw new Error(`the Mimir output did not log ${JSON.stringify(text)} within ${timeout / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function runCommand(page: Page, title: string) {
  const input = page.locator('.quick-input-widget input');
  // The palette can close as soon as it opens when focus moves (an editor
  // tab closing, a notification): open it again rather than wait on it.
  for (let tries = 1; ; tries++) {
    await page.keyboard.press('F1');
    try {
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill(`>${title}`, { timeout: 5_000 });
      break;
    } catch (err) {
      if (tries === 3) throw err;
      await page.keyboard.press('Escape');
    }
  }
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: 10_000 });
  await page.keyboard.press('Enter');
}

function studio(page: Page): FrameLocator {
  return page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
}

/** Installs the extension into a fresh code-server on sb, starts it and
 * opens the workspace in headless Chromium; everything is stopped, and a
 * screenshot and the logs kept as test-artifacts/<name>*, when t ends. */
async function launch(t: TestContext, sb: Sandbox, name: string) {
  assert.ok(codeServer && existsSync(codeServer), `CODE_SERVER must point at code-server's launcher (got ${JSON.stringify(codeServer)}); scripts/test.d/code-server.sh sets it`);
  assert.ok(vsix && existsSync(vsix), `VSIX must point at the packaged extension (got ${JSON.stringify(vsix)})`);
  mkdirSync(artifacts, { recursive: true });
  const started = Date.now();
  const log: string[] = [];
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  const shot = join(artifacts, `${name}.png`);
  // Process groups to kill at the end (the slow workflow's workers: the
  // sidecar killed under one leaves it running until a new sidecar stops
  // it; if the test fails before, it is stopped here).
  const workers: number[] = [];
  t.after(async () => {
    if (page) await page.screenshot({ path: shot }).catch(() => undefined);
    await browser?.close().catch(() => undefined);
    for (const pgid of workers) signalGroup(pgid, 'SIGKILL');
    if (server) await stopServer(server);
    writeFileSync(join(artifacts, `${name}.log`), log.join(''));
    const logs = join(sb.userData, 'logs');
    if (existsSync(logs)) cpSync(logs, join(artifacts, `${name}-logs`), { recursive: true });
    rmSync(sb.root, { recursive: true, force: true, maxRetries: 3 });
    step(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  step('install the extension');
  rmSync(join(artifacts, `${name}-logs`), { recursive: true, force: true });
  const install = spawnSync(codeServer, [...sb.args, '--install-extension', vsix], { env: sb.env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(install.status, 0, `--install-extension failed:\n${install.stdout}\n${install.stderr}`);
  const listed = spawnSync(codeServer, [...sb.args, '--list-extensions', '--show-versions'], { env: sb.env, encoding: 'utf8', timeout: 30_000 });
  assert.match(listed.stdout, /^mimir-sidecar\.mimir-sidecar@/m, `the extension is not listed:\n${listed.stdout}\n${listed.stderr}`);

  step('start code-server');
  const s = await startServer(sb, log);
  server = s.proc;

  step('open the workspace in Chromium');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    env: { ...sb.env },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30_000,
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(30_000);
  await page.addInitScript({ content: recordToasts });
  await page.goto(`${s.url}/?folder=${encodeURIComponent(sb.ws)}`, { waitUntil: 'domcontentloaded' });
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  return { page, workers };
}

test('the extension in code-server: run a workflow, see its toasts, download its deliverables', { timeout: 240_000 }, async (t) => {
  const sb = sandbox();
  const { page, workers } = await launch(t, sb, 'code-server');
  await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'workflow.yaml' }).click({ timeout: 60_000 });
  await page.locator('.editor-instance .view-lines').waitFor();

  step('the ▶ Run workflow lens shows on the workflow (the extension is active)');
  await page.locator('.codelens-decoration', { hasText: '▶ Run workflow' }).waitFor({ timeout: 60_000 });
  assert.equal(existsSync(join(sb.ws, 'deliverables')), false);

  // The example runs in about a second, and VS Code's spam protection shows
  // no more than 7 toasts in 0.8 s: the rest go straight to the
  // notification center. With the center open, every notification is
  // rendered there as it arrives, so none escapes the recorder.
  step('open the notification center');
  await runCommand(page, 'Notifications: Show Notifications');
  await page.locator('.notifications-center.visible').waitFor({ timeout: 10_000 });

  step('run it from the command palette');
  await runCommand(page, 'Mimir: Run Workflow');

  step('the phase toasts');
  await waitForToast(page, '🤖 Worker executing: Extract the glossary');
  await waitForToast(page, '✅ Worker completed (');
  await waitForToast(page, '🔍 QC verifying: Translate README to');
  const failed = await waitForToast(page, '⚠️ QC failed (Score: 43/100) - Retrying (1/2)');
  assert.match(failed, /📋 Issues:/);
  assert.match(failed, /🔧 Required fixes:/);
  await waitForToast(page, '✅ QC passed (Score: 100/100)');
  await waitForToast(page, '✅ Execution completed: 4/4 tasks, 6 deliverables');

  step('the Studio');
  await runCommand(page, 'Mimir: Open Studio');
  const button = studio(page).locator('#download');
  await studio(page).locator('#download', { hasText: '📥 Download Deliverables (6)' }).waitFor({ timeout: 30_000 });
  assert.equal(await button.isEnabled(), true);
  assert.equal(await button.getAttribute('title'), 'Download 6 deliverable(s)');
  const input = page.locator('.quick-input-widget input');
  const offersDeliverables = () => page!.waitForFunction(
    (want) => {
      const i = document.querySelector<HTMLInputElement>('.quick-input-widget input');
      return !!i && i.value.replace(/\/$/, '') === want;
    },
    join(sb.ws, 'deliverables'),
    { timeout: 10_000 },
  ).catch(async () => {
    throw new Error(`the folder dialog does not offer ${join(sb.ws, 'deliverables')}: it shows ${JSON.stringify(await input.inputValue())}`);
  });

  step('cancel the folder dialog: the deliverables/ made for it is removed again');
  await button.click();
  await input.waitFor({ state: 'visible', timeout: 20_000 });
  await offersDeliverables();
  assert.equal(existsSync(join(sb.ws, 'deliverables')), true, 'the dialog opens in deliverables/, made for it');
  await page.keyboard.press('Escape');
  await input.waitFor({ state: 'hidden', timeout: 10_000 });
  for (const deadline = Date.now() + 10_000; existsSync(join(sb.ws, 'deliverables')); ) {
    if (Date.now() > deadline) throw new Error('deliverables/ is still there after the dialog was cancelled');
    await new Promise((r) => setTimeout(r, 100));
  }

  step('accept the folder dialog, which offers the workspace\'s deliverables/');
  await button.click();
  await input.waitFor({ state: 'visible', timeout: 20_000 });
  await offersDeliverables();
  await page.locator('.quick-input-widget .monaco-button', { hasText: 'Save deliverables here' }).click({ timeout: 10_000 });

  step('the files on disk and the toast');
  const done = await waitForToast(page, '✅ Downloaded 6 deliverables to ');
  assert.equal(done, `✅ Downloaded 6 deliverables to ${join(sb.ws, 'deliverables')}`);
  assert.deepEqual(filesUnder(join(sb.ws, 'deliverables')), expected);
  for (const f of expected) assert.ok(statSync(join(sb.ws, 'deliverables', f)).size > 0, `${f} is empty`);
  assert.match(readFileSync(join(sb.ws, 'deliverables', 'site/index.html'), 'utf8'), /fr\/README\.md/);
  // The extension's own message is enough: the sidecar's deliverables-saved
  // toast is for saves nobody asked for (auto-save). Once the extension has
  // logged the event, it has decided about its toast; a toast asked for
  // after that comes after any it showed.
  await waitForLog(join(sb.userData, 'logs'), ' deliverables-saved ✅ Saved 6 deliverables', 15_000);
  await runCommand(page, 'Mimir: Cancel Execution');
  await waitForToast(page, 'No execution is running.');
  const shown = await toasts(page);
  assert.deepEqual(shown.filter((x) => x.startsWith('✅ Saved 6 deliverables')), [], 'a manual download showed the sidecar\'s deliverables-saved toast too');
  assert.equal(shown.filter((x) => x.startsWith('✅ Downloaded ')).length, 1, `the Downloaded toast is not shown exactly once:\n${shown.join('\n')}`);

  step('the Studio\'s Open Deliverables Folder reveals it in the Explorer');
  await studio(page).locator('#open-folder').click();
  await page.locator('.explorer-folders-view .monaco-list-row.selected', { hasText: 'deliverables' }).waitFor({ timeout: 10_000 });

  step('the Studio\'s download history lists the save, file by file; Open opens a saved file');
  // The notification center covers the Studio's lower part, where the
  // history is; it is shown again after, for the toasts to come.
  await runCommand(page, 'Notifications: Hide Notifications');
  await page.locator('.notifications-center.visible').waitFor({ state: 'detached', timeout: 10_000 });
  await studio(page).locator('#downloads summary').click();
  await studio(page).locator('li.download', { hasText: '✅ Saved 6 deliverables' }).waitFor({ timeout: 15_000 });
  await studio(page).locator('button[data-open="deliverables/site/index.html"]').click();
  await page.locator('.tab', { hasText: 'index.html' }).waitFor({ timeout: 15_000 });
  await runCommand(page, 'Notifications: Show Notifications');
  await page.locator('.notifications-center.visible').waitFor({ timeout: 10_000 });

  step('the Studio\'s Executions button lists the execution');
  await studio(page).locator('#show-executions').click();
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'translate-docs — completed' }).waitFor({ timeout: 15_000 });
  await page.keyboard.press('Escape');

  step('run another workflow from the Studio\'s Run button');
  await studio(page).locator('#run').click();
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'slow.mimir.yaml' }).click({ timeout: 15_000 });
  const slow = studio(page).locator('section.execution', { hasText: 'Wait for the sidecar to be killed' });
  await slow.locator('.status', { hasText: 'running' }).waitFor({ timeout: 15_000 });
  await waitForToast(page, 'Mimir: slow');
  assert.equal(await studio(page).locator('#cancel').isEnabled(), true);
  const first = await waitForWorker(sb.ws);
  workers.push(first);

  step('kill the sidecar while its worker runs: restarted, and the execution ends as interrupted');
  const { pid } = JSON.parse(readFileSync(join(sb.ws, '.mimir', 'sidecar.json'), 'utf8')) as { pid: number };
  process.kill(pid, 'SIGKILL');
  await waitForToast(page, 'The Mimir sidecar stopped unexpectedly; restarting it (1/5).');
  await slow.locator('.status', { hasText: 'interrupted' }).waitFor({ timeout: 10_000 });
  assert.equal(await slow.locator('button[data-cancel]').count(), 0);
  assert.equal(await studio(page).locator('#cancel').isDisabled(), true);
  // Its progress notification is gone.
  await page
    .waitForFunction(() => ![...document.querySelectorAll('.notification-list-item-message')].some((e) => (e.textContent ?? '').startsWith('Mimir: slow')), undefined, { timeout: 10_000 })
    .catch(() => {
      throw new Error('the progress notification of the interrupted execution is still showing');
    });
  // The restarted sidecar answers, and its journal agrees.
  await studio(page).locator('#show-executions').click();
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'slow — interrupted' }).waitFor({ timeout: 20_000 });
  await page.keyboard.press('Escape');

  step('run it again and cancel it from the Studio');
  await studio(page).locator('#run').click();
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'slow.mimir.yaml' }).click({ timeout: 15_000 });
  const again = studio(page).locator('section.execution').first();
  await again.locator('.status', { hasText: 'running' }).waitFor({ timeout: 15_000 });
  workers.push(await waitForWorker(sb.ws, first));
  await studio(page).locator('#cancel').click();
  await waitForToast(page, '⏹️ Execution cancelled');
  await again.locator('.status', { hasText: 'cancelled' }).waitFor({ timeout: 10_000 });

  step('no problems reported: workflow.yaml is valid and .github/workflows/ci.yml is not Mimir\'s');
  await page.keyboard.press('Control+P');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill('.github/workflows/ci.yml');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'ci.yml' }).first().waitFor({ timeout: 15_000 });
  await page.keyboard.press('Enter');
  await page.locator('.tab.active', { hasText: 'ci.yml' }).waitFor({ timeout: 10_000 });
  // Diagnostics come when the sidecar has read a file: wait until the
  // count has not changed for 3 s.
  const problems = page.locator('[id="status.problems"]');
  let label = '';
  for (let since = Date.now(), deadline = Date.now() + 30_000; Date.now() - since < 3000; ) {
    const now = (await problems.getAttribute('aria-label', { timeout: 10_000 })) ?? '';
    if (now !== label) [label, since] = [now, Date.now()];
    if (Date.now() > deadline) throw new Error(`the Problems count did not settle within 30 s (last: ${JSON.stringify(label)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(label, 'the Problems status has no label');
  const count = (what: string) => Number(new RegExp(`${what}: (\\d+)`).exec(label)?.[1] ?? 0);
  assert.deepEqual({ errors: count('Errors'), warnings: count('Warnings') }, { errors: 0, warnings: 0 }, `Problems: ${label}`);
  assert.equal(await page.locator('.editor-group-container.active .editor-instance .codelens-decoration', { hasText: '▶ Run workflow' }).count(), 0, 'ci.yml has the Run workflow lens');

  step('settings apply without a restart: auto-save into another folder');
  // Through the Settings editor, as a user would.
  await runCommand(page, 'Preferences: Open User Settings');
  await page.locator('.settings-editor').waitFor({ timeout: 15_000 });
  await page.keyboard.type('mimir');
  const folderSetting = page.locator('.settings-editor .setting-item-contents', { hasText: 'Deliverables Folder' });
  await folderSetting.locator('input').fill('auto', { timeout: 15_000 });
  await page.locator('.settings-editor .setting-item-contents', { hasText: 'Auto Save Deliverables' }).locator('.setting-value-checkbox').click();
  await waitForLog(join(sb.userData, 'logs'), '"autoSave":true,"deliverablesFolder":"auto"', 15_000);
  await runCommand(page, 'Mimir: Run Workflow');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'translate-docs' }).click({ timeout: 15_000 });
  // Nobody pressed Download: the sidecar's deliverables-saved toast reports it.
  const auto = await waitForToast(page, '✅ Saved 6 deliverables to ');
  assert.equal(auto, `✅ Saved 6 deliverables to ${join(sb.ws, 'auto')}`);
  assert.deepEqual(filesUnder(join(sb.ws, 'auto')), expected);

  step('a sidecarPath that is wrong: the restart offer, then commands that say why they cannot run');
  await runCommand(page, 'Preferences: Open User Settings');
  // A machine setting (a workspace cannot choose the program run): with
  // the extension host on code-server's side, it is on the Remote tab.
  await page.locator('.settings-editor .settings-tabs-widget .action-label', { hasText: 'Remote' }).click({ timeout: 15_000 });
  await page.locator('.settings-editor .setting-item-contents', { hasText: 'Sidecar Path' }).locator('input').fill('/nonexistent/mimir-sidecar', { timeout: 15_000 });
  await waitForToast(page, 'mimir.sidecarPath changed: restart the sidecar to use it?');
  await page.locator('.notification-list-item', { hasText: 'mimir.sidecarPath changed' }).locator('.monaco-button', { hasText: 'Restart Sidecar' }).click();
  await waitForToast(page, 'The mimir.sidecarPath setting points at /nonexistent/mimir-sidecar, which is not an executable file.');
  await runCommand(page, 'Mimir: Show Executions');
  await waitForToast(page, 'The Mimir sidecar is not running: The mimir.sidecarPath setting points at /nonexistent/mimir-sidecar');
});

test('Apply Changes in code-server: on a branch; then a conflict, compared side by side, resolved and applied', { timeout: 240_000 }, async (t) => {
  const sb = sandbox(fixAFailingTest);
  const { page } = await launch(t, sb, 'code-server-apply');
  const slugify = join(sb.ws, 'slugify.sh');
  const original = readFileSync(slugify, 'utf8');
  const git = (...args: string[]) => spawnSync('git', ['-C', sb.ws, ...args], { encoding: 'utf8' });
  const apply = studio(page).locator('#apply');
  await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'fix' }).first().click({ timeout: 60_000 });
  await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'workflow.yaml' }).click({ timeout: 15_000 });
  const lens = page.locator('.codelens-decoration a', { hasText: '▶ Run workflow' });
  await lens.waitFor({ timeout: 60_000 });
  await runCommand(page, 'Notifications: Show Notifications');
  await page.locator('.notifications-center.visible').waitFor({ timeout: 10_000 });

  const run = async (nth: number) => {
    await lens.click();
    await page.waitForFunction((n) => window.mimirToasts.filter((x) => x.startsWith('✅ Execution completed: 1/1 tasks')).length === n, nth, { timeout: 60_000 });
    await apply.and(studio(page).locator(':enabled')).waitFor({ timeout: 15_000 });
  };

  step('run examples/fix-a-failing-test: the Studio lists the changed file and offers Apply Changes');
  await run(1);
  assert.equal(await apply.textContent(), '🔀 Apply Changes');
  assert.match((await studio(page).locator('details.changes').first().textContent()) ?? '', /1 changed file.*M slugify\.sh/s);
  assert.equal(readFileSync(slugify, 'utf8'), original, 'your slugify.sh changed before any apply');

  step('Apply on Branch…: the name asked, committed there, the working tree left alone');
  await studio(page).locator('#apply-branch').click();
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await input.inputValue(), 'mimir/fix-a-failing-test');
  await page.keyboard.press('Enter');
  await waitForToast(page, '✅ Committed the changes to 1 file on branch mimir/fix-a-failing-test');
  await studio(page).locator('#apply', { hasText: '✅ On branch mimir/fix-a-failing-test' }).waitFor({ timeout: 10_000 });
  assert.match(git('show', 'mimir/fix-a-failing-test:slugify.sh').stdout, /tr -s/);
  assert.equal(readFileSync(slugify, 'utf8'), original);

  step('run it again, edit slugify.sh in a way that conflicts, Apply Changes: nothing written, ⚠️ Conflicts');
  await run(2);
  const yours = "#!/bin/sh\n# slugify TITLE: yours.\nprintf '%s\\n' \"$1\" | tr A-Z a-z | tr ' ' '-'\n";
  writeFileSync(slugify, yours);
  await apply.click();
  const conflict = await waitForToast(page, '⚠️ Nothing applied: 1 file conflict with your edits; resolve them, or apply on a branch: slugify.sh (');
  assert.match(conflict, /overlap/);
  await studio(page).locator('#apply', { hasText: '⚠️ Conflicts' }).waitFor({ timeout: 10_000 });
  assert.equal(readFileSync(slugify, 'utf8'), yours, 'your edit was overwritten');

  step("Compare, in the toast and in the Studio: your file beside the task's version");
  const diffTab = page.locator('.tab', { hasText: "slugify.sh: yours ↔ the task's version" });
  await page.locator('.notification-list-item', { hasText: '⚠️ Nothing applied' }).locator('.monaco-button', { hasText: 'Compare' }).click({ timeout: 10_000 });
  await diffTab.waitFor({ timeout: 15_000 });
  await page.locator('.monaco-diff-editor').first().waitFor({ timeout: 15_000 });
  await diffTab.locator('.codicon-close').click();
  await diffTab.waitFor({ state: 'detached', timeout: 10_000 });
  // The notification center covers the Studio's lower part.
  await runCommand(page, 'Notifications: Hide Notifications');
  await page.locator('.notifications-center.visible').waitFor({ state: 'detached', timeout: 10_000 });
  await studio(page).locator('button[data-compare="slugify.sh"]').click();
  await diffTab.waitFor({ timeout: 15_000 });

  step('resolve (take back your edit) and click again: ✅ Applied, and the tests pass');
  writeFileSync(slugify, original);
  await apply.click();
  await waitForToast(page, '✅ Applied the changes to 1 file');
  await studio(page).locator('#apply', { hasText: '✅ Applied' }).waitFor({ timeout: 10_000 });
  assert.equal(await apply.isDisabled(), true);
  assert.equal(spawnSync('sh', ['test.sh'], { cwd: sb.ws, encoding: 'utf8' }).status, 0, 'the tests fail after the apply');
  assert.deepEqual((await toasts(page)).filter((x) => x.startsWith('✅ Applied the changes')), ['✅ Applied the changes to 1 file'], 'the apply was reported more than once');
});
