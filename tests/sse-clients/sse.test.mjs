// Real SSE clients against the sidecar's mirror: curl -N, the WHATWG
// eventsource package (with its automatic reconnect after the connection
// is cut, and after the server itself drops the subscriber), and
// EventSource in a page in headless Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import { chromium } from 'playwright-core';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = resolve(here, '../..');
const bin = process.env.MIMIR_SIDECAR_BIN ?? join(repo, '.build/mimir-sidecar');

const slowWorkflow = `name: paced
tasks:
  - {id: one, worker: {command: "sleep 0.4; echo 1 > one.txt"}}
  - {id: two, dependsOn: [one], worker: {command: "sleep 0.4; echo 2 > two.txt"}}
  - {id: three, dependsOn: [two], worker: {command: "sleep 0.4; echo 3 > three.txt"}}
`;

// sidecar starts mimir-sidecar over stdio, as an editor would, and returns
// its SSE address from initialize.
async function sidecar(t, args = []) {
  const ws = mkdtempSync(join(tmpdir(), 'mimir-sse-'));
  cpSync(join(repo, 'examples'), join(ws, 'examples'), { recursive: true });
  writeFileSync(join(ws, 'paced.yaml'), slowWorkflow);
  const child = spawn(bin, args, { cwd: ws, stdio: ['pipe', 'pipe', 'inherit'] });
  const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  const events = [];
  conn.onNotification('mimir/event', (ev) => events.push(ev));
  conn.listen();
  t.after(() => {
    conn.dispose();
    child.kill('SIGKILL');
    rmSync(ws, { recursive: true, force: true });
  });
  const init = await conn.sendRequest('initialize', {
    processId: process.pid, rootUri: 'file://' + ws, capabilities: {}, initializationOptions: { toasts: 'none' },
  });
  assert.ok(init.mimir.sse, 'initialize did not advertise the SSE mirror');
  return { ws, conn, events, sse: init.mimir.sse };
}

function until(pred, ms = 20000) {
  return new Promise((res, rej) => {
    const deadline = Date.now() + ms;
    const tick = () => (pred() ? res() : Date.now() > deadline ? rej(new Error('timed out')) : setTimeout(tick, 10));
    tick();
  });
}

// parse reads SSE text into events.
function parse(text) {
  const out = [];
  for (const block of text.split('\n\n')) {
    const ev = {};
    for (const line of block.split('\n')) {
      if (line.startsWith('id: ')) ev.id = Number(line.slice(4));
      if (line.startsWith('event: ')) ev.event = line.slice(7);
      if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
    }
    if (ev.data) out.push(ev);
  }
  return out;
}

function assertInOrder(seqs) {
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `seq ${seqs[i]} after ${seqs[i - 1]}`);
  assert.equal(new Set(seqs).size, seqs.length, 'duplicate events');
}

test('curl -N follows an execution', async (t) => {
  const { conn, events, sse } = await sidecar(t);
  const { executionId } = await conn.sendRequest('mimir/execute', { workflow: 'examples/translate-docs/workflow.yaml' });
  const curl = spawn('curl', ['-N', '-s', '--max-time', '30', '-H', `Authorization: Bearer ${sse.token}`,
    `${sse.url}/executions/${executionId}/events?lastEventId=0`]);
  let text = '';
  curl.stdout.on('data', (d) => { text += d; });
  t.after(() => curl.kill());
  await until(() => text.includes('event: execution-complete'));
  const got = parse(text);
  assert.ok(text.startsWith('retry: '), 'no retry: on connect');
  assertInOrder(got.map((e) => e.id));
  const want = events.filter((e) => e.executionId === executionId && e.seq <= got.at(-1).id).map((e) => e.seq);
  assert.deepEqual(got.map((e) => e.id), want, 'curl saw other events than the editor');
  assert.ok(got.some((e) => e.event === 'qc-complete' && e.data.data.passed === false && e.data.data.gap));
});

// A proxy between the client and the mirror, so the test can cut the
// connection the way a network or a restarting server would. It rewrites
// the Host header to the mirror's own, as the mirror accepts no other.
function cuttingProxy(target) {
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), '127.0.0.1');
    sockets.add(client); sockets.add(upstream);
    let first = true;
    client.on('data', (chunk) => {
      if (first) {
        chunk = Buffer.from(chunk.toString('latin1').replace(/^Host: .*$/mi, `Host: 127.0.0.1:${target.port}`), 'latin1');
        first = false;
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
    const close = () => { client.destroy(); upstream.destroy(); };
    client.on('error', close); upstream.on('error', close); client.on('close', close); upstream.on('close', close);
  });
  return {
    server,
    cut: () => { for (const s of sockets) s.destroy(); sockets.clear(); },
    listen: () => new Promise((res) => server.listen(0, '127.0.0.1', () => res(server.address().port))),
  };
}

test('eventsource reconnects with Last-Event-ID and misses nothing', async (t) => {
  const { conn, sse } = await sidecar(t);
  const proxy = cuttingProxy(new URL(sse.url));
  const port = await proxy.listen();
  t.after(() => proxy.server.close());

  const received = [];
  let opens = 0;
  const es = new EventSource(`http://127.0.0.1:${port}/events?token=${sse.token}&lastEventId=0`);
  t.after(() => es.close());
  es.onopen = () => { opens++; };
  for (const name of ['execution-start', 'task-start', 'worker-start', 'worker-complete', 'task-complete', 'execution-complete']) {
    es.addEventListener(name, (e) => received.push({ id: Number(e.lastEventId), event: name, data: JSON.parse(e.data) }));
  }
  await until(() => opens === 1);
  const { executionId } = await conn.sendRequest('mimir/execute', { workflow: 'paced.yaml' });
  await until(() => received.some((e) => e.event === 'worker-start'));
  proxy.cut(); // the stream drops mid-execution
  await until(() => received.some((e) => e.event === 'execution-complete'));
  assert.ok(opens >= 2, 'eventsource did not reconnect');
  const seqs = received.map((e) => e.id);
  assertInOrder(seqs);
  const all = await conn.sendRequest('mimir/events', { since: 0, executionId });
  assert.deepEqual(seqs, all.events.map((e) => e.seq), 'a gap or a duplicate across the reconnect');
});

// dropServer builds and starts tests/sse-clients/dropserver: the mirror's
// own server (package notify) with a slow-reader cut-off tight enough that
// a burst of events makes it drop its subscribers.
async function dropServer(t) {
  const dir = mkdtempSync(join(tmpdir(), 'mimir-drop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const exe = join(dir, 'dropserver');
  execFileSync('go', ['build', '-o', exe, './tests/sse-clients/dropserver'], { cwd: repo, stdio: 'inherit' });
  const child = spawn(exe, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const drops = [];
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
    for (const line of err.split('\n').slice(0, -1)) if (line.startsWith('dropped: ')) drops.push(line.slice(9));
    err = err.slice(err.lastIndexOf('\n') + 1);
  });
  const addr = await new Promise((res, rej) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) res(JSON.parse(out.slice(0, out.indexOf('\n'))));
    });
    child.on('exit', (code) => rej(new Error(`dropserver exited ${code}`)));
  });
  return { ...addr, drops, send: (line) => child.stdin.write(line + '\n') };
}

test('eventsource reconnects after the server itself cuts it off', async (t) => {
  const srv = await dropServer(t);
  const received = [];
  let opens = 0;
  const es = new EventSource(`${srv.url}/events?token=${srv.token}&lastEventId=0`);
  t.after(() => es.close());
  es.onopen = () => { opens++; };
  for (const name of ['task-start', 'execution-complete']) {
    es.addEventListener(name, (e) => received.push({ id: Number(e.lastEventId), event: name }));
  }
  await until(() => opens === 1);
  // Bursts until the server has cut the stream off at least once: the cut
  // depends on where the subscriber's handler is when a burst lands, so
  // the test asks for it rather than assuming the first burst does it.
  let published = 0;
  while (srv.drops.length === 0) {
    assert.ok(published < 100000, 'the server never cut the subscriber off');
    srv.send('burst 200');
    published += 200;
    await until(() => srv.drops.length > 0 || received.length === published);
  }
  srv.send('end');
  await until(() => received.some((e) => e.event === 'execution-complete'));
  assert.ok(srv.drops.every((why) => why.startsWith('too far behind') || why.startsWith('lapped')), srv.drops.join('\n'));
  assert.ok(opens >= 2, 'eventsource did not reconnect');
  const seqs = received.map((e) => e.id);
  assert.deepEqual(seqs, Array.from({ length: published + 1 }, (_, i) => i + 1), 'a gap or a duplicate across the reconnect');
});

test('EventSource in headless Chromium receives an execution', async (t) => {
  const page = `<!doctype html><meta charset="utf-8"><title>mimir</title><ul id="log"></ul>
<script>
  const q = new URLSearchParams(location.search);
  window.events = [];
  const es = new EventSource(q.get('sse') + '/events?token=' + q.get('token'));
  es.onopen = () => { window.ready = true; };
  for (const name of ['execution-start', 'worker-start', 'qc-complete', 'task-complete', 'execution-complete']) {
    es.addEventListener(name, (e) => {
      const ev = JSON.parse(e.data);
      window.events.push(ev);
      const li = document.createElement('li');
      li.textContent = ev.data.message;
      document.getElementById('log').append(li);
    });
  }
</script>`;
  const http = createServer((_, res) => { res.setHeader('content-type', 'text/html'); res.end(page); });
  await new Promise((res) => http.listen(0, '127.0.0.1', res));
  t.after(() => http.close());
  const origin = `http://127.0.0.1:${http.address().port}`;
  const { conn, sse } = await sidecar(t, ['--sse-allow-origin', origin]);

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => browser.close());
  const tab = await browser.newPage();
  await tab.goto(`${origin}/?sse=${encodeURIComponent(sse.url)}&token=${sse.token}`);
  await tab.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
  const { executionId } = await conn.sendRequest('mimir/execute', { workflow: 'examples/translate-docs/workflow.yaml' });
  await tab.waitForFunction(() => window.events.some((e) => e.event === 'execution-complete'), null, { timeout: 20000 });
  const events = await tab.evaluate(() => window.events);
  assert.ok(events.every((e) => e.executionId === executionId));
  assertInOrder(events.map((e) => e.seq));
  const texts = await tab.locator('#log li').allTextContents();
  assert.ok(texts.includes('❌ QC failed (Score: 43/100) - Retrying (1/2)'), texts.join('\n'));
  assert.equal(texts.at(-1), '✅ Execution completed: 4/4 tasks, 6 deliverables');
});
