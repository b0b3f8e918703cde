// Messages between the Studio page and the extension.
import type { AnyEvent, ReadResponse } from '../src/protocol';

export type ToStudio =
  | { type: 'event'; event: AnyEvent }
  | { type: 'preview'; executionId: string; preview: ReadResponse }
  | { type: 'previewError'; path: string; message: string };

export type FromStudio =
  | { type: 'ready' }
  | { type: 'download'; executionId: string; paths: string[] }
  | { type: 'preview'; executionId: string; path: string }
  | { type: 'cancel'; executionId: string }
  | { type: 'run' }
  | { type: 'executions' }
  | { type: 'openFolder' };
