// The download history (mimir/downloads): every save of deliverables into
// the workspace, newest first, with what became of each file; a file of
// one opens from there. Kept free of the vscode module, so that it is
// tested as it is: the command wires it to quick picks, the Studio page
// renders it (webview/main.ts).

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

/** How many saves a page asks for. */
export const downloadsPageSize = 100;

/** The mimir/downloads params of the page after cursor (undefined: the newest). */
export function pageParams(cursor?: string): { cursor?: string; limit: number } {
  return cursor ? { cursor, limit: downloadsPageSize } : { limit: downloadsPageSize };
}

/** The saves shown so far and the cursor of the next (older) page. */
export interface HistoryView {
  downloads: Download[];
  nextCursor?: string;
}

/** The history with a page added: an older page (asked with a cursor)
 * goes after what is shown; the newest page replaces it, as it does when
 * the history is read again after a save. */
export function withPage(v: HistoryView, page: DownloadsPage, older: boolean): HistoryView {
  if (!older) return { downloads: page.downloads, nextCursor: page.nextCursor };
  const seen = new Set(v.downloads.map((d) => d.seq));
  return { downloads: [...v.downloads, ...page.downloads.filter((d) => !seen.has(d.seq))], nextCursor: page.nextCursor };
}

export const noDownloads = 'No downloads yet: download deliverables first (Mimir: Download Deliverables)';

/** What became of a file, beyond its status. */
export function fileDetail(f: SavedFile): string | undefined {
  if (f.status === 'failed') return f.error;
  if (f.status === 'renamed') return `saved as ${f.savedAs} (a different file has its name)`;
  if (f.status === 'unchanged') return `already there, the same, at ${f.savedAs}`;
  return undefined;
}

/** Why a file of a save cannot be opened; undefined when it can. */
export function notOpenable(f: SavedFile): string | undefined {
  if (f.status !== 'failed' && f.savedAs) return undefined;
  return `Not saved: ${f.path}${f.error ? `: ${f.error}` : ''}`;
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
  return { label: `${marks[f.status] ?? ''} ${f.path}`.trim(), description: f.status, detail: fileDetail(f), file: f };
}

/** Lets the user pick a save, older pages on request, then a file of it to open. */
export async function browseDownloads(ui: DownloadsUI): Promise<void> {
  let v: HistoryView = { downloads: [] };
  for (;;) {
    v = withPage(v, await ui.page(v.nextCursor), v.nextCursor !== undefined);
    if (v.downloads.length === 0) return ui.warn(noDownloads);
    const items: (Item & { download?: Download })[] = v.downloads.map(downloadItem);
    if (v.nextCursor) items.push({ label: '$(history) Older downloads…', description: '' });
    const pick = await ui.pick(items, 'Downloads, newest first');
    if (!pick) return;
    if (!pick.download) continue;
    const file = await ui.pick(pick.download.files.map(fileItem), pick.download.message);
    if (!file) return;
    const why = notOpenable(file.file);
    return why ? ui.warn(why) : ui.open(file.file.savedAs!);
  }
}
