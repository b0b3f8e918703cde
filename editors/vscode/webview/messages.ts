// Messages between the Studio page and the extension.
import type { DownloadsPage } from '../src/downloadHistory';
import type { AnyEvent, ReadResponse } from '../src/protocol';

export type ToStudio =
  | { type: 'event'; event: AnyEvent }
  | { type: 'preview'; executionId: string; preview: ReadResponse }
  | { type: 'previewError'; path: string; message: string }
  // The extension started (an id) or ended (null) applying or discarding
  // an execution's changes.
  | { type: 'applying'; executionId: string | null }
  // A page of the download history, after cursor (none: the newest).
  | { type: 'downloads'; cursor?: string; page: DownloadsPage }
  | { type: 'downloadsError'; message: string };

export type FromStudio =
  | { type: 'ready' }
  | { type: 'download'; executionId: string; paths: string[] }
  | { type: 'preview'; executionId: string; path: string }
  | { type: 'cancel'; executionId: string }
  | { type: 'run' }
  | { type: 'executions' }
  | { type: 'openFolder' }
  | { type: 'apply'; executionId: string; onBranch: boolean }
  | { type: 'discard'; executionId: string }
  | { type: 'openPatch'; executionId: string; path: string }
  // A conflicting file: the user's (path, in the workspace) beside the
  // task's version (theirs, absolute).
  | { type: 'compare'; path: string; theirs: string }
  // The download history's page after cursor (none: the newest).
  | { type: 'downloads'; cursor?: string }
  // A saved file, by its path relative to the workspace.
  | { type: 'openSaved'; savedAs: string };
