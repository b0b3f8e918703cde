// Drives the built sidecar the way VS Code does: vscode-jsonrpc over the
// child's stdio, LSP framing, server-to-client requests answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = resolve(here, '../..');
const bin = process.env.MIMIR_SIDECAR_BIN ?? join(repo, '.build/mimir-sidecar');

function start(t) {
  const ws = mkdtempSync(join(tmpdir(), 'mimir-lsp-'));
  cpSync(join(repo, 'examples'), join(ws, 'examples'), { recursive: true });
  const child = spawn(bin, [], { cwd: ws, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((res) => child.on('exit', (code) => res(code)));
  const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  const log = [];
  conn.onRequest('window/workDoneProgress/create', (p) => { log.push({ kind: 'create', token: p.token }); return null; });
  conn.onNotification('mimir/event', (ev) => log.push({ kind: 'event', ev }));
  conn.onNotification('$/progress', (p) => log.push({ kind: 'progress', p }));
  conn.onNotification('window/showMessage', (p) => log.push({ kind: 'toast', p }));
  conn.listen();
  t.after(() => {
    conn.dispose();
    child.kill('SIGKILL');
    rmSync(ws, { recursive: true, force: true });
  });
  return { ws, child, conn, log, exited, stderr: () => stderr };
}

function waitFor(log, pred, ms = 20000) {
  return new Promise((res, rej) => {
    const deadline = Date.now() + ms;
    const tick = () => {
      const hit = log.find(pred);
      if (hit) return res(hit);
      if (Date.now() > deadline) return rej(new Error('timed out waiting'));
      setTimeout(tick, 10);
    };
    tick();
  });
}

test('runs the example workflow and reports every phase', async (t) => {
  const { ws, conn, log, exited } = start(t);
  const init = await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: 'file://' + ws,
    capabilities: { window: { workDoneProgress: true } },
  });
  assert.equal(init.serverInfo.name, 'mimir-sidecar');
  assert.equal(init.mimir.protocolVersion, '1.0');
  assert.ok(init.capabilities.executeCommandProvider.commands.includes('mimir.execute'));
  conn.sendNotification('initialized', {});

  const res = await conn.sendRequest('mimir/execute', { workflow: 'examples/translate-docs/workflow.yaml' });
  const answeredAt = log.length;
  assert.match(res.executionId, /^ex_/);
  const done = await waitFor(log, (m) => m.kind === 'event' && m.ev.event === 'execution-complete');
  await waitFor(log, (m) => m.kind === 'progress' && m.p.value.kind === 'end');

  const events = log.filter((m) => m.kind === 'event').map((m) => m.ev);
  assert.ok(log.slice(0, answeredAt).every((m) => m.kind !== 'event'), 'an event arrived before the answer to execute');
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i].seq > events[i - 1].seq, `seq ${events[i].seq} after ${events[i - 1].seq}`);
  }
  assert.equal(events[0].event, 'execution-start');
  assert.equal(done.ev.data.status, 'completed');
  assert.equal(done.ev.data.deliverables.length, 6);

  const kinds = log.filter((m) => m.kind === 'progress').map((m) => m.p.value.kind);
  assert.equal(kinds[0], 'begin');
  assert.equal(kinds.at(-1), 'end');
  assert.ok(kinds.includes('report'));
  assert.ok(log.findIndex((m) => m.kind === 'create') < log.findIndex((m) => m.kind === 'progress'), 'progress before its token was created');

  const toasts = log.filter((m) => m.kind === 'toast').map((m) => m.p.message);
  for (const want of [
    '🤖 Worker executing: Translate README to French',
    '🔍 QC verifying: Translate README to French',
    '⚠️ QC failed (Score: 43/100) - Retrying (1/2)',
    '✅ QC passed (Score: 100/100)',
  ]) {
    assert.ok(toasts.some((s) => s.startsWith(want)), `no toast starting ${JSON.stringify(want)}`);
  }
  // A shell worker makes no tool calls, so its toast does not count them.
  assert.ok(toasts.some((s) => /^✅ Worker completed \(\d+\.\ds\)$/.test(s)));
  const qcFail = toasts.find((s) => s.startsWith('⚠️ QC failed'));
  assert.match(qcFail, /📋 Issues:\nSection 4\. Workers is not translated/);
  assert.match(qcFail, /🔧 Required fixes:\nFix 1: Translate the remaining sections \(4-7\)/);

  const saved = await conn.sendRequest('mimir/saveDeliverables', { executionId: res.executionId });
  assert.equal(saved.saved, 6);
  assert.equal(saved.message, `✅ Saved 6 deliverables to ${join(ws, 'deliverables')}`);
  assert.ok(existsSync(join(ws, 'deliverables/site/index.html')));
  assert.ok(existsSync(join(ws, 'deliverables/translate-de/docs/de/README.md')));

  await conn.sendRequest('shutdown');
  conn.sendNotification('exit');
  assert.equal(await exited, 0);
});

test('answers errors with stable codes and stays up', async (t) => {
  const { ws, conn } = start(t);
  await assert.rejects(conn.sendRequest('mimir/executions', {}), (e) => e.code === -32002);
  await conn.sendRequest('initialize', { processId: process.pid, rootUri: 'file://' + ws, capabilities: {} });
  await assert.rejects(conn.sendRequest('mimir/execution', { executionId: 'ex_nope' }), (e) => e.code === -31001 && /mimir\/executions/.test(e.message));
  await assert.rejects(conn.sendRequest('mimir/execute', { workflow: '../../etc/passwd' }), (e) => e.code === -31004);
  await assert.rejects(conn.sendRequest('mimir/nope', {}), (e) => e.code === -32601);
  const list = await conn.sendRequest('mimir/executions', {});
  assert.deepEqual(list.executions, []);
});
