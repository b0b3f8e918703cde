// What an event shows as a notification: docs/protocol.md's Toasts table,
// tested against the repository's testdata/toasts.json like the sidecar's.
import { changesToast } from './changes';
import type { MimirEvent } from './protocol';

export type Level = 'info' | 'warning' | 'error';
export interface Toast {
  level: Level;
  text: string;
}
export type NotificationSetting = 'all' | 'failures' | 'none';

function qcFailed(ev: MimirEvent): string {
  const d = ev.data;
  let text = `⚠️ QC failed (Score: ${d.score ?? 0}/100)`;
  if ((d.attempt ?? 0) < (d.maxAttempts ?? 0)) {
    text += ` - Retrying (${d.attempt}/${(d.maxAttempts ?? 1) - 1})`;
  }
  if (d.gap?.issues?.length) text += `\n\n📋 Issues:\n${d.gap.issues.join('\n')}`;
  if (d.gap?.requiredFixes?.length) text += `\n\n🔧 Required fixes:\n${d.gap.requiredFixes.join('\n')}`;
  return text;
}

export function toast(ev: MimirEvent): Toast | undefined {
  const d = ev.data;
  switch (ev.event) {
    case 'worker-start':
    case 'qc-start':
      return { level: 'info', text: d.message };
    case 'worker-complete':
      return { level: d.ok === false ? 'warning' : 'info', text: d.message };
    case 'qc-complete':
      return d.passed ? { level: 'info', text: d.message } : { level: 'warning', text: qcFailed(ev) };
    case 'task-fail':
      return { level: 'error', text: d.error ? `${d.message}: ${d.error}` : d.message };
    case 'execution-complete':
      return { level: d.status === 'completed' ? 'info' : 'error', text: d.message };
    case 'execution-cancelled':
    case 'execution-warning':
    case 'task-waiting':
      return { level: 'warning', text: d.message };
    case 'deliverables-saved':
      return { level: d.error ? 'error' : (d.failed ?? 0) > 0 ? 'warning' : 'info', text: d.message };
  }
  return undefined;
}

/** The toast to show for an event under the user's setting, if any. */
export function wantedToast(ev: MimirEvent, setting: NotificationSetting): Toast | undefined {
  const t = toast(ev) ?? changesToast(ev);
  if (!t || setting === 'none' || (setting === 'failures' && t.level === 'info')) return undefined;
  return t;
}
