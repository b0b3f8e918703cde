// The download history (mimir/downloads): every save of deliverables into
// the workspace, newest first, with what became of each file; a file of
// one opens from there. Kept free of the vscode module, so that it is
// tested as it is: the command wires it to quick picks.

export interface SavedFile {
  path: string;
  savedAs?: string;
  status: 'saved' | 'unchanged' | 'renamed' | 'overwritten' | 'skipped' | 'failed' | string;
  error?: string;
}

export interface Download {
  seq: number;
  executionId: string;
  time: string;
  target: string;
  saved: number;
  failed: number;
  error?: string;
  message: string;
  files: SavedFile[];
}

export interface DownloadsPage {
  downloads: Download[];
  nextCursor?: string;
}

export interface Item {
  label: string;
  description: string;
  detail?: string;
}

/** What the browser needs from the editor. */
export interface DownloadsUI {
  /** The page of saves after cursor (undefined: the newest). */
  page(cursor?: string): Promise<DownloadsPage>;
  pick<T extends Item>(items: T[], placeHolder: string): Promise<T | undefined>;
  /** Opens a saved file, by its path relative to the workspace. */
  open(savedAs: string): Promise<void>;
  warn(message: string): void;
}

const marks: Record<string, string> = {
  saved: '$(check)',
  overwritten: '$(check)',
  renamed: '$(check)',
  unchanged: '$(circle-small)',
  skipped: '$(circle-slash)',
  failed: '$(error)',
};

export function downloadItem(d: Download): Item & { download: Download } {
  return { label: d.message, description: d.executionId, detail: new Date(d.time).toLocaleString(), download: d };
}

export function fileItem(f: SavedFile): Item & { file: SavedFile } {
  let detail: string | undefined;
  if (f.status === 'failed') detail = f.error;
  else if (f.status === 'renamed') detail = `saved as ${f.savedAs} (a different file has its name)`;
  else if (f.status === 'unchanged') detail = `already there, the same, at ${f.savedAs}`;
  return { label: `${marks[f.status] ?? ''} ${f.path}`.trim(), description: f.status, detail, file: f };
}

/** Lets the user pick a save, older pages on request, then a file of it to open. */
export async function browseDownloads(ui: DownloadsUI): Promise<void> {
  const all: Download[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await ui.page(cursor);
    all.push(...page.downloads);
    cursor = page.nextCursor;
    if (all.length === 0) return ui.warn('No downloads yet: download deliverables first (Mimir: Download Deliverables)');
    const items: (Item & { download?: Download })[] = all.map(downloadItem);
    if (cursor) items.push({ label: '$(history) Older downloads…', description: '' });
    const pick = await ui.pick(items, 'Downloads, newest first');
    if (!pick) return;
    if (!pick.download) continue;
    const file = await ui.pick(pick.download.files.map(fileItem), pick.download.message);
    if (!file) return;
    if (file.file.status === 'failed' || !file.file.savedAs) return ui.warn(`Not saved: ${file.file.path}${file.file.error ? `: ${file.file.error}` : ''}`);
    return ui.open(file.file.savedAs);
  }
}
