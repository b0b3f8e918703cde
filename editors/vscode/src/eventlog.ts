// What the Mimir output channel says about an event: one line for every
// event, the gap and the deliverables in full, and the whole envelope as
// JSON at the debug level (set the channel's level to Debug to see it).
import { isLocal } from './history';
import type { AnyEvent, AppliedFile, SaveResult } from './protocol';

export interface EventLog {
  line: string;
  details: string[];
  json: string;
}

// An event the extension recorded itself is marked so, in place of the
// sidecar's seq: it is not one of the sidecar's (nor in its journal).
export function eventLog(ev: AnyEvent): EventLog {
  const d = ev.data;
  const line = [isLocal(ev) ? '[extension]' : ev.seq, ev.executionId, ev.event, d.taskId, d.message].filter((x) => x !== undefined && x !== '').join(' ');
  const details: string[] = [];
  if (d.gap && (ev.event === 'qc-complete' || ev.event === 'task-fail' || (ev.event === 'worker-start' && (d.attempt ?? 1) > 1))) {
    if (d.gap.feedback) details.push(`  feedback: ${d.gap.feedback}`);
    for (const i of d.gap.issues ?? []) details.push(`  issue: ${i}`);
    for (const f of d.gap.requiredFixes ?? []) details.push(`  fix: ${f}`);
  }
  if (d.error) details.push(`  error: ${d.error}`);
  if (isLocal(ev) && d.reason) details.push(`  reason: ${d.reason}`);
  if (ev.event === 'execution-complete' || ev.event === 'execution-cancelled') {
    for (const x of d.deliverables ?? []) details.push(`  deliverable: ${x.path} (${x.size} B, sha256 ${x.sha256})`);
  }
  if (ev.event === 'deliverables-saved') {
    for (const r of (d.results ?? []) as SaveResult[]) details.push(`  ${r.status}: ${r.path}${r.savedAs ? ` → ${r.savedAs}` : ''}${r.error ? ` (${r.error})` : ''}`);
  }
  if (ev.event === 'task-complete') {
    for (const f of d.changes?.files ?? []) details.push(`  ${f.status}: ${f.path}`);
    if (d.changes) details.push(`  patch: ${d.changes.patch}`);
  }
  if (ev.event === 'changes-applied') {
    for (const r of (d.results ?? []) as AppliedFile[]) details.push(`  ${r.outcome}: ${r.path} (${r.change})${r.error ? `: ${r.error}` : ''}${r.theirs ? `; the task's version: ${r.theirs}` : ''}`);
  }
  return { line, details, json: JSON.stringify(ev) };
}
