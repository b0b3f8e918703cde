// The messages a download ends with, as the seed gives them.
import type { SaveResponse } from './protocol';

export interface Outcome {
  level: 'info' | 'warning' | 'error';
  text: string;
}

export const noDeliverables: Outcome = { level: 'warning', text: 'No deliverables to download' };

export function downloadFailed(message: string): Outcome {
  return { level: 'error', text: `❌ Download failed: ${message}` };
}

/** Turns the sidecar's save answer into the message the user sees. */
export function downloadOutcome(res: SaveResponse): Outcome {
  const total = res.saved + res.failed;
  if (res.failed === 0) {
    return { level: 'info', text: `✅ Downloaded ${res.saved} ${res.saved === 1 ? 'deliverable' : 'deliverables'} to ${res.target}` };
  }
  const failures = res.results
    .filter((r) => r.status === 'failed')
    .map((r) => `${r.path} (${r.error ?? 'unknown error'})`)
    .join(', ');
  if (res.saved === 0) {
    return { level: 'error', text: `❌ Download failed: none of ${total} deliverables could be saved: ${failures}` };
  }
  return { level: 'warning', text: `⚠️ Downloaded ${res.saved} of ${total} deliverables to ${res.target}; failed: ${failures}` };
}
