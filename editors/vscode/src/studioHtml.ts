// The Studio page's HTML, with a strict Content-Security-Policy: only this
// extension's script (by nonce) and style run in it.
export interface StudioAssets {
  scriptUri: string;
  styleUri: string;
  cspSource: string;
  nonce: string;
}

export function studioHtml(a: StudioAssets): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${a.cspSource}; script-src 'nonce-${a.nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${a.styleUri}">
<title>Mimir Studio</title>
</head>
<body>
<header>
  <h1>Mimir Studio</h1>
  <nav id="actions">
    <button id="run" class="secondary" title="Run a workflow of this workspace">▶ Run Workflow</button>
    <button id="cancel" class="secondary" disabled title="No execution is running">⏹ Cancel</button>
    <button id="show-executions" class="secondary" title="Past and running executions">Executions</button>
    <button id="open-folder" class="secondary" title="Reveal the deliverables folder">📂 Open Deliverables Folder</button>
    <button id="download" disabled title="No deliverables available">📥 Download Deliverables (0)</button>
    <button id="apply" disabled title="No changes to apply">🔀 Apply Changes</button>
    <button id="apply-branch" class="secondary" disabled title="No changes to apply">🌿 Apply on Branch…</button>
    <button id="discard" class="secondary" disabled title="No changes to discard">🗑️ Discard</button>
  </nav>
</header>
<ul id="deliverables"></ul>
<h3 id="preview-title"></h3>
<pre id="preview"></pre>
<div id="executions"></div>
<details id="downloads">
  <summary title="Past saves of deliverables into the workspace (mimir/downloads)">📜 Download history</summary>
  <ul id="download-list"></ul>
</details>
<script nonce="${a.nonce}" src="${a.scriptUri}"></script>
</body>
</html>`;
}

export function nonce(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < 32; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}
