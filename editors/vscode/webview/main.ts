// The Studio page: renders StudioState, posts the user's actions.
import { noDownloads } from '../src/downloadHistory';
import {
  changeButtons,
  downloadButton,
  downloadsError,
  downloadsPage,
  initialState,
  reduce,
  runningExecutions,
  savedFileView,
  setApplying,
  staleDownloads,
  toggle,
  type ButtonView,
  type ExecutionView,
  type StudioState,
  type TaskView,
} from './state';
import type { FromStudio, ToStudio } from './messages';

declare function acquireVsCodeApi(): { postMessage(msg: FromStudio): void };

const vscode = acquireVsCodeApi();
let state: StudioState = initialState;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, unknown> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  Object.assign(e, props);
  e.append(...children);
  return e;
}

function show(id: string, view: ButtonView) {
  const b = document.getElementById(id) as HTMLButtonElement;
  b.textContent = view.label;
  b.disabled = view.disabled;
  b.title = view.title;
}

function renderButton() {
  show('download', downloadButton(state));
  const changes = changeButtons(state);
  show('apply', changes.apply);
  show('apply-branch', changes.branch);
  show('discard', changes.discard);
  const running = runningExecutions(state);
  const c = document.getElementById('cancel') as HTMLButtonElement;
  c.disabled = running.length === 0;
  c.title = running.length === 0 ? 'No execution is running' : `Cancel ${state.executions.find((e) => e.id === running[0])?.workflow || running[0]}`;
}

function renderDeliverables() {
  const list = document.getElementById('deliverables')!;
  list.replaceChildren(
    ...state.deliverables.map((d) => {
      const box = el('input', { type: 'checkbox', checked: state.selected.includes(d.path) });
      box.dataset.path = d.path;
      box.addEventListener('change', () => {
        state = toggle(state, d.path);
        render();
      });
      const preview = el('button', { className: 'link', textContent: 'Preview', title: `Preview ${d.path}` });
      preview.dataset.preview = d.path;
      preview.addEventListener('click', () => vscode.postMessage({ type: 'preview', executionId: state.lastExecutionId!, path: d.path }));
      return el('li', {}, el('label', {}, box, ` ${d.path} `, el('span', { className: 'muted', textContent: `${d.size} B` })), ' ', preview);
    }),
  );
}

function cancelButton(executionId: string) {
  const b = el('button', { className: 'link', textContent: 'Cancel', title: `Cancel ${executionId}` });
  b.dataset.cancel = executionId;
  b.addEventListener('click', () => vscode.postMessage({ type: 'cancel', executionId }));
  return b;
}

const changeIcon = { added: 'A', modified: 'M', deleted: 'D' } as const;

/** An isolated task's changed files, and its patch to open. */
function taskChanges(ex: ExecutionView, t: TaskView) {
  const c = t.changes!;
  const patch = el('button', { className: 'link', textContent: 'Open patch', title: `Open ${c.patch}` });
  patch.dataset.patch = c.patch;
  patch.addEventListener('click', () => vscode.postMessage({ type: 'openPatch', executionId: ex.id, path: c.patch }));
  return el(
    'details',
    { className: 'changes' },
    el('summary', { textContent: `📝 ${c.files.length} changed ${c.files.length === 1 ? 'file' : 'files'}` }),
    ' ',
    patch,
    el('ul', {}, ...c.files.map((f) => el('li', { title: f.status }, el('code', { className: `change ${f.status}`, textContent: changeIcon[f.status] ?? '?' }), ` ${f.path}`))),
  );
}

const outcomeIcon: Record<string, string> = { applied: '✅', merged: '🔀', unchanged: '➖', conflict: '⚠️', refused: '⛔', committed: '🌿', 'not-applied': '⏸️' };

/** The last apply's outcome per file; a conflicting file can be compared
 * with the task's version. */
function applyReport(ex: ExecutionView) {
  const r = ex.applyReport!;
  return el(
    'div',
    { className: `apply-report ${r.status}` },
    el('p', { textContent: r.message }),
    el(
      'ul',
      {},
      ...r.files.map((f) => {
        const item = el('li', { className: f.outcome }, `${outcomeIcon[f.outcome] ?? ''} ${f.path} `, el('span', { className: 'muted', textContent: f.outcome + (f.error ? `: ${f.error}` : '') }));
        if (f.theirs) {
          const compare = el('button', { className: 'link', textContent: 'Compare', title: `Your ${f.path} beside the task's version` });
          compare.dataset.compare = f.path;
          compare.addEventListener('click', () => vscode.postMessage({ type: 'compare', path: f.path, theirs: f.theirs! }));
          item.append(' ', compare);
        }
        return item;
      }),
    ),
  );
}

function renderExecutions() {
  const root = document.getElementById('executions')!;
  root.replaceChildren(
    ...state.executions.map((ex) =>
      el(
        'section',
        { className: `execution ${ex.status}` },
        el(
          'h2',
          {},
          `${ex.workflow || ex.id} `,
          el('span', { className: 'status', textContent: ex.status }),
          ...(ex.status === 'running' ? [' ', cancelButton(ex.id)] : []),
        ),
        el('p', { className: 'muted', textContent: ex.message }),
        el(
          'table',
          {},
          ...ex.tasks.map((t) => {
            const row = el(
              'tr',
              { className: t.status },
              el('td', { textContent: t.title }),
              el('td', { textContent: t.status + (t.phase ? ` · ${t.phase}` : '') }),
              el('td', { textContent: t.attempt ? `attempt ${t.attempt}/${t.maxAttempts}` : '' }),
              el('td', { textContent: t.score !== undefined ? `QC ${t.score}/100` : '' }),
            );
            const extra: Node[] = [];
            if (t.changes) extra.push(taskChanges(ex, t));
            if (!t.gap) return extra.length ? el('tbody', {}, row, el('tr', {}, el('td', { colSpan: 4 }, ...extra))) : row;
            const gap = el(
              'details',
              { className: 'gap' },
              el('summary', { textContent: 'QC gap' }),
              el('p', { textContent: t.gap.feedback }),
              el('h4', { textContent: '📋 Issues' }),
              el('ul', {}, ...t.gap.issues.map((i) => el('li', { textContent: i }))),
              el('h4', { textContent: '🔧 Required fixes' }),
              el('ul', {}, ...t.gap.requiredFixes.map((f) => el('li', { textContent: f }))),
            );
            return el('tbody', {}, row, el('tr', {}, el('td', { colSpan: 4 }, gap, ...extra)));
          }),
        ),
        ...(ex.applyReport ? [applyReport(ex)] : []),
      ),
    ),
  );
}

/** The download history: every save, newest first, each file with what
 * became of it and, when it was saved, a link that opens it. */
function renderDownloads() {
  const root = document.getElementById('download-list')!;
  const h = state.downloads;
  if (!h) return root.replaceChildren();
  const items: Node[] = h.downloads.map((d) =>
    el(
      'li',
      { className: d.failed || d.error ? 'download failed' : 'download' },
      el('p', {}, d.message, ' ', el('span', { className: 'muted', textContent: `${new Date(d.time).toLocaleString()} · ${d.executionId} · into ${d.target}` })),
      el(
        'ul',
        {},
        ...d.files.map((f) => {
          const v = savedFileView(f);
          const item = el('li', { className: v.status }, `${v.text} `, el('span', { className: 'muted', textContent: v.status + (v.detail ? `: ${v.detail}` : '') }));
          if (v.open) {
            const open = el('button', { className: 'link', textContent: 'Open', title: `Open ${v.open}` });
            open.dataset.open = v.open;
            const savedAs = v.open;
            open.addEventListener('click', () => vscode.postMessage({ type: 'openSaved', savedAs }));
            item.append(' ', open);
          }
          return item;
        }),
      ),
    ),
  );
  if (h.downloads.length === 0 && !h.error) items.push(el('li', { className: 'muted', textContent: noDownloads }));
  if (h.error) items.push(el('li', { className: 'error', textContent: `Cannot read the download history: ${h.error}` }));
  if (h.nextCursor) {
    const more = el('button', { id: 'older-downloads', className: 'link', textContent: 'Older downloads…' });
    const cursor = h.nextCursor;
    more.addEventListener('click', () => vscode.postMessage({ type: 'downloads', cursor }));
    items.push(el('li', {}, more));
  }
  root.replaceChildren(...items);
}

function render() {
  renderButton();
  renderDeliverables();
  renderExecutions();
  renderDownloads();
}

document.getElementById('run')!.addEventListener('click', () => vscode.postMessage({ type: 'run' }));
document.getElementById('show-executions')!.addEventListener('click', () => vscode.postMessage({ type: 'executions' }));
document.getElementById('open-folder')!.addEventListener('click', () => vscode.postMessage({ type: 'openFolder' }));
document.getElementById('cancel')!.addEventListener('click', () => {
  const newest = runningExecutions(state)[0];
  if (newest) vscode.postMessage({ type: 'cancel', executionId: newest });
});
document.getElementById('download')!.addEventListener('click', () => {
  if (state.lastExecutionId) vscode.postMessage({ type: 'download', executionId: state.lastExecutionId, paths: state.selected });
});

// The history is read when its section is first opened, not before.
document.getElementById('downloads')!.addEventListener('toggle', (e) => {
  if ((e.target as HTMLDetailsElement).open && !state.downloads) vscode.postMessage({ type: 'downloads' });
});

document.getElementById('apply')!.addEventListener('click', () => {
  const id = changeButtons(state).executionId;
  if (id) vscode.postMessage({ type: 'apply', executionId: id, onBranch: false });
});
document.getElementById('apply-branch')!.addEventListener('click', () => {
  const id = changeButtons(state).executionId;
  if (id) vscode.postMessage({ type: 'apply', executionId: id, onBranch: true });
});
document.getElementById('discard')!.addEventListener('click', () => {
  const id = changeButtons(state).executionId;
  if (id) vscode.postMessage({ type: 'discard', executionId: id });
});

window.addEventListener('message', (e: MessageEvent<ToStudio>) => {
  const msg = e.data;
  switch (msg.type) {
    case 'event':
      if (staleDownloads(state, msg.event)) vscode.postMessage({ type: 'downloads' });
      state = reduce(state, msg.event);
      render();
      break;
    case 'downloads':
      state = downloadsPage(state, msg.page, msg.cursor);
      renderDownloads();
      break;
    case 'downloadsError':
      state = downloadsError(state, msg.message);
      renderDownloads();
      break;
    case 'preview': {
      const p = msg.preview;
      const text = p.encoding === 'utf-8' ? p.content : `(binary, ${p.size} bytes)`;
      document.getElementById('preview-title')!.textContent = p.path + (p.truncated ? ' (first part)' : '');
      document.getElementById('preview')!.textContent = text;
      break;
    }
    case 'applying':
      state = setApplying(state, msg.executionId);
      renderButton();
      break;
    case 'previewError':
      document.getElementById('preview-title')!.textContent = msg.path;
      document.getElementById('preview')!.textContent = msg.message;
      break;
  }
});

render();
vscode.postMessage({ type: 'ready' });
