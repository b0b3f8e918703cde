// The Studio page: renders StudioState, posts the user's actions.
import { downloadButton, initialState, reduce, runningExecutions, toggle, type StudioState } from './state';
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

function renderButton() {
  const view = downloadButton(state);
  const b = document.getElementById('download') as HTMLButtonElement;
  b.textContent = view.label;
  b.disabled = view.disabled;
  b.title = view.title;
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
            if (!t.gap) return row;
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
            return el('tbody', {}, row, el('tr', {}, el('td', { colSpan: 4 }, gap)));
          }),
        ),
      ),
    ),
  );
}

function render() {
  renderButton();
  renderDeliverables();
  renderExecutions();
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

window.addEventListener('message', (e: MessageEvent<ToStudio>) => {
  const msg = e.data;
  switch (msg.type) {
    case 'event':
      state = reduce(state, msg.event);
      render();
      break;
    case 'preview': {
      const p = msg.preview;
      const text = p.encoding === 'utf-8' ? p.content : `(binary, ${p.size} bytes)`;
      document.getElementById('preview-title')!.textContent = p.path + (p.truncated ? ' (first part)' : '');
      document.getElementById('preview')!.textContent = text;
      break;
    }
    case 'previewError':
      document.getElementById('preview-title')!.textContent = msg.path;
      document.getElementById('preview')!.textContent = msg.message;
      break;
  }
});

render();
vscode.postMessage({ type: 'ready' });
