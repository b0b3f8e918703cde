// A listener written as a Mimir user writes one, against the sidecar: it
// finds the mirror in .mimir/sidecar.json, starts an execution with
// POST /api/execute-workflow (Mimir's task definitions), follows it with
// EventSource and with fetch on /api/execution-stream/:id under Mimir's
// event and field names, and downloads the deliverables. The agents are
// llm agents talking to a scripted model served here: no network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = resolve(here, '../..');
const bin = process.env.MIMIR_SIDECAR_BIN ?? join(repo, '.build/mimir-sidecar');

// scriptedModel is an OpenAI-compatible chat-completions endpoint: the
// worker writes report.md with its write_file tool, then says it is done;
// the QC (its system message is the task's qcRole) fails the first attempt
// and passes the second.
async function scriptedModel(t) {
  let qcCalls = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (!req.url.endsWith('/chat/completions')) {
        res.writeHead(404).end();
        return;
      }
      const chat = JSON.parse(body);
      const text = chat.messages.map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? ''))).join('\n');
      const message = { role: 'assistant', content: null };
      let finish = 'stop';
      if (text.includes('QC-ROLE')) {
        qcCalls++;
        message.content = JSON.stringify(qcCalls === 1
          ? { passed: false, score: 40, feedback: 'The report has no summary.', issues: ['no summary'], requiredFixes: ['add a summary'] }
          : { passed: true, score: 95, feedback: 'Good.', issues: [], requiredFixes: [] });
      } else if (chat.messages.at(-1).role === 'tool') {
        message.content = 'Done.';
      } else {
        finish = 'tool_calls';
        message.tool_calls = [{ id: `call_${Date.now()}`, type: 'function', function: { name: 'write_file', arguments: JSON.stringify({ path: 'report.md', content: '# Report\n' }) } }];
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({
        id: 'chatcmpl-1', object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: chat.model,
        choices: [{ index: 0, message, finish_reason: finish }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      }));
    });
  });
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  t.after(() => server.close());
  return `http://127.0.0.1:${server.address().port}/v1`;
}

// sidecar starts mimir-sidecar as an editor does, with the user's own
// configuration naming the scripted model and turning on httpExecute.
async function sidecar(t, modelURL) {
  const ws = mkdtempSync(join(tmpdir(), 'mimir-compat-'));
  const home = mkdtempSync(join(tmpdir(), 'mimir-config-'));
  mkdirSync(join(home, 'mimir'));
  writeFileSync(join(home, 'mimir', 'config.yaml'), `httpExecute: true
llm:
  default: scripted
  providers:
    scripted:
      baseURL: ${modelURL}
      model: scripted
      stream: false
`);
  const child = spawn(bin, [], { cwd: ws, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, XDG_CONFIG_HOME: home } });
  const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  const editorEvents = [];
  conn.onNotification('mimir/event', (ev) => editorEvents.push(ev));
  conn.listen();
  t.after(() => {
    conn.dispose();
    child.kill('SIGKILL');
    rmSync(ws, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });
  await conn.sendRequest('initialize', {
    processId: process.pid, rootUri: 'file://' + ws, capabilities: {}, initializationOptions: { toasts: 'none' },
  });
  return { ws, editorEvents };
}

function until(pred, ms = 20000) {
  return new Promise((res, rej) => {
    const deadline = Date.now() + ms;
    const tick = () => (pred() ? res() : Date.now() > deadline ? rej(new Error('timed out')) : setTimeout(tick, 10));
    tick();
  });
}

const mimirEvents = ['init', 'execution-start', 'task-start', 'worker-start', 'worker-complete', 'qc-start', 'qc-complete',
  'task-complete', 'task-fail', 'agent-chatter', 'execution-complete', 'execution-cancelled'];

// A Mimir Studio workflow: one task, Mimir's maxRetries of 2 attempts.
const tasks = [{
  id: 'task-1',
  title: 'Write the report',
  agentRoleDescription: 'WORKER-ROLE: a technical writer',
  recommendedModel: 'gpt-4.1',
  prompt: 'Write report.md with a title and a summary.',
  dependencies: [],
  estimatedDuration: '5 min',
  qcRole: 'QC-ROLE: a strict editor',
  verificationCriteria: '- has a title\n- has a summary',
  maxRetries: 2,
}];

test('a Mimir listener follows an execution it started over HTTP', async (t) => {
  const { ws, editorEvents } = await sidecar(t, await scriptedModel(t));
  // A headless listener finds the mirror where Mimir users are told to.
  const { url, token } = JSON.parse(readFileSync(join(ws, '.mimir', 'sidecar.json'), 'utf8'));
  const auth = { Authorization: `Bearer ${token}` };

  const started = await fetch(`${url}/api/execute-workflow`, {
    method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ tasks }),
  }).then((r) => r.json());
  assert.equal(started.success, true, JSON.stringify(started));
  assert.equal(started.message, 'Workflow execution started with 1 tasks');
  const id = started.executionId;

  // EventSource cannot set headers: the token goes in the query.
  const received = [];
  const es = new EventSource(`${url}/api/execution-stream/${id}?token=${token}`);
  t.after(() => es.close());
  for (const name of mimirEvents) {
    es.addEventListener(name, (e) => {
      received.push({ name, id: e.lastEventId, data: JSON.parse(e.data) });
      if (name === 'execution-complete') es.close();
    });
  }
  es.onerror = () => {};

  // fetch, reading the stream to its end: the server closes it after the
  // last event.
  const resp = await fetch(`${url}/api/execution-stream/${id}`, { headers: auth });
  assert.equal(resp.headers.get('content-type'), 'text/event-stream');
  const text = await resp.text();
  const fetched = text.split('\n\n').filter((b) => b.includes('event: ')).map((b) => b.match(/^event: (.*)$/m)[1]);

  await until(() => received.some((e) => e.name === 'execution-complete'));
  const phases = received.map((e) => e.name + (e.data.attemptNumber ? `#${e.data.attemptNumber}` : ''));
  const want = ['init', 'execution-start', 'task-start',
    'worker-start#1', 'agent-chatter', 'worker-complete', 'qc-start#1', 'qc-complete#1',
    'worker-start#2', 'agent-chatter', 'worker-complete', 'qc-start#2', 'qc-complete#2',
    'task-complete', 'execution-complete'];
  for (const p of want) assert.ok(phases.includes(p), `no ${p} in ${phases}`);
  assert.deepEqual(fetched, received.map((e) => e.name), 'fetch and EventSource saw different streams');

  const byName = (n, i = 0) => received.filter((e) => e.name === n)[i].data;
  assert.equal(byName('execution-start').totalTasks, 1);
  assert.equal(byName('task-start').taskTitle, 'Write the report');
  assert.equal(byName('worker-start', 0).isRetry, false);
  assert.equal(byName('worker-start', 1).isRetry, true);
  assert.equal(typeof byName('worker-complete').duration, 'number');
  const failed = byName('qc-complete', 0);
  assert.equal(failed.passed, false);
  assert.equal(failed.score, 40);
  assert.deepEqual(failed.gap.requiredFixes, ['add a summary']);
  assert.equal(byName('qc-complete', 1).passed, true);
  assert.equal(byName('task-complete').status, 'success');
  const done = byName('execution-complete');
  assert.equal(done.status, 'completed');
  assert.equal(done.successful, 1);
  assert.deepEqual(done.deliverables, [{ filename: 'task-1/report.md', size: 9, mimeType: 'text/markdown' }]);
  assert.deepEqual(done.results.map((r) => [r.taskId, r.status]), [['task-1', 'success']]);
  const ids = received.filter((e) => e.name !== 'init').map((e) => Number(e.id));
  assert.ok(ids.every((v, i) => i === 0 || v > ids[i - 1]), `ids not increasing: ${ids}`);

  // The deliverables, as Mimir's dashboard fetches them.
  const list = await fetch(`${url}/api/execution-deliverables/${id}`, { headers: auth }).then((r) => r.json());
  assert.equal(list.status, 'completed');
  const file = await fetch(url + list.deliverables[0].downloadUrl, { headers: auth });
  assert.equal(await file.text(), '# Report\n');
  const zip = Buffer.from(await (await fetch(`${url}/api/deliverables/${id}/download?token=${token}`)).arrayBuffer());
  assert.equal(zip.subarray(0, 2).toString(), 'PK');
  assert.ok(zip.includes('task-1/report.md'));

  // Like any execution, the editor saw it.
  await until(() => editorEvents.some((e) => e.executionId === id && e.event === 'execution-complete'));
});
