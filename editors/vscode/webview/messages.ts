// Messages between the Studio page and the extension.
import type { AnyEvent, ReadResponse } from '../src/protocol';

export type ToStudio =
  | { type: 'event'; event: AnyEvent }
  | { type: 'preview'; executionId: string; preview: ReadResponse }
  | { type: 'previewError'; path: string; message: string }
  // The extension started (an id) or ended (null) applying or discarding
  // an execution's changes.
  | { type: 'applying'; executionId: string | null };

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
  | { type: 'compare'; path: string; theirs: string };
