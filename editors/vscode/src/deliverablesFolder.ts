// Where deliverables go: the mimir.deliverablesFolder setting, which must
// stay inside the workspace (a repository's .vscode/settings.json can set
// it), and the folder the download dialog opens in, which the extension
// creates for it and removes again if the user saves nowhere. No VS Code
// API here.
import { mkdir, rmdir } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

/** Whether p is root or below it (by name; the sidecar checks again). */
export function insideWorkspace(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`));
}

/** The folder the setting names (relative to the workspace, or absolute
 * inside it), or why it cannot be used. */
export function deliverablesDir(root: string, setting: string): { path: string } | { error: string } {
  const path = resolve(root, setting || 'deliverables');
  if (insideWorkspace(root, path)) return { path };
  return {
    error: `The mimir.deliverablesFolder setting is ${JSON.stringify(setting)}, which is outside the workspace ${root}. Deliverables are only saved inside the workspace: set it to a folder in it, such as "deliverables".`,
  };
}

/** Creates dir and any missing parents; returns the folders it created,
 * deepest first (none if dir existed). */
export async function makeFolder(dir: string): Promise<string[]> {
  const first = await mkdir(dir, { recursive: true });
  if (!first) return [];
  const created: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    created.push(d);
    if (d === first || dirname(d) === d) break;
  }
  return created;
}

/** Removes the folders makeFolder created, deepest first, as long as they
 * are empty: anything put in them since stays, and so do they. */
export async function removeIfEmpty(created: string[]): Promise<void> {
  for (const d of created) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
  }
}
