// The sidecar's wire types: docs/protocol.md in the repository.

export interface Gap {
  feedback: string;
  issues: string[];
  requiredFixes: string[];
}

export interface Deliverable {
  path: string;
  size: number;
  sha256: string;
}

export interface EventData {
  taskId?: string;
  taskTitle?: string;
  phase?: 'worker' | 'qc';
  attempt?: number;
  maxAttempts?: number;
  durationMs?: number;
  toolCalls?: number;
  ok?: boolean;
  passed?: boolean;
  score?: number;
  gap?: Gap;
  error?: string;
  workflow?: string;
  resumed?: boolean;
  status?: string;
  tasks?: number;
  completedTasks?: number;
  failedTasks?: number;
  skippedTasks?: number;
  deliverables?: Deliverable[];
  target?: string;
  saved?: number;
  failed?: number;
  /** deliverables-saved: SaveResult[]; changes-applied: AppliedFile[]. */
  results?: SaveResult[] | AppliedFile[];
  reason?: string;
  sandbox?: 'task-write' | 'read-only' | 'off' | 'unavailable';
  network?: 'allow' | 'deny' | 'endpoints';
  warning?: string;
  /** task-complete of an isolated task: its change. */
  changes?: Changes;
  /** changes-applied: counts, and the branch of status "branch". */
  applied?: number;
  conflicts?: number;
  branch?: string;
  message: string;
}

export interface MimirEvent {
  seq: number;
  executionId: string;
  event: string;
  time: string;
  data: EventData;
}

/** What an event says, whoever recorded it. */
export type EventBody = Omit<MimirEvent, 'seq'>;

/** An event the extension records itself, not the sidecar's: it has no
 * seq (the sidecar numbers its own) and is marked local. history.ts records
 * one when the sidecar stops while an execution runs. */
export interface LocalEvent extends EventBody {
  seq?: undefined;
  local: true;
}

/** What the history keeps and the Studio shows. */
export type AnyEvent = MimirEvent | LocalEvent;

export interface SaveResult {
  path: string;
  savedAs?: string;
  status: 'saved' | 'overwritten' | 'renamed' | 'unchanged' | 'skipped' | 'failed';
  error?: string;
}

export interface SaveResponse {
  executionId: string;
  target: string;
  saved: number;
  failed: number;
  results: SaveResult[];
  message: string;
}

export interface ReadResponse {
  path: string;
  size: number;
  offset: number;
  encoding: 'utf-8' | 'base64';
  content: string;
  truncated: boolean;
}

export interface ExecutionSummary {
  executionId: string;
  workflow: string;
  status: string;
  startedAt: string;
  tasks: number;
  completedTasks: number;
  failedTasks: number;
  deliverables: number;
}

export interface WorkflowInfo {
  path: string;
  name?: string;
  tasks: number;
  valid: boolean;
}

export type ChangeKind = 'added' | 'modified' | 'deleted';

export interface ChangedFile {
  path: string;
  status: ChangeKind;
}

/** An isolated task's change (task-complete, and the task in mimir/execution). */
export interface Changes {
  snapshot: string;
  commit: string;
  files: ChangedFile[];
  /** A deliverable: the task's change as a unified diff. */
  patch: string;
}

/** Where an execution's changes stand (mimir/execution's `changes`): ''
 * when it has no isolated task. */
export type ChangesState = '' | 'pending' | 'applied' | 'conflict' | 'branch' | 'discarded';

export interface AppliedFile {
  path: string;
  change: ChangeKind;
  outcome: 'applied' | 'merged' | 'unchanged' | 'conflict' | 'refused' | 'committed' | 'not-applied';
  error?: string;
  /** For a conflict: the absolute path of the task's version. */
  theirs?: string;
}

export interface ApplyResponse {
  executionId: string;
  status: 'applied' | 'conflict' | 'branch';
  branch?: string;
  commit?: string;
  applied: number;
  conflicts: number;
  files: AppliedFile[];
  message: string;
}
