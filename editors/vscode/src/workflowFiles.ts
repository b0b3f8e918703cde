// Which files are workflows, as the sidecar names them (docs/protocol.md,
// mimir/workflows): *.mimir.{yaml,yml,json}, workflow.{yaml,yml,json}, and
// YAML or JSON files in a workflows/ folder, except GitHub Actions' own
// .github/workflows/, which are not Mimir's (a *.mimir.yaml in there is). The one definition the
// extension uses: the lens, the language client and Run Workflow. No VS
// Code API here.

/** The globs of workflow files, for document selectors. A glob cannot
 * leave out .github/workflows/, so whatever uses them also checks
 * isWorkflowFile. */
export const workflowPatterns = ['**/*.mimir.{yaml,yml,json}', '**/workflow.{yaml,yml,json}', '**/workflows/*.{yaml,yml,json}'] as const;

/** Files on disk that may be workflows (a vscode.DocumentSelector, and a
 * vscode-languageclient one). */
export const workflowSelector = workflowPatterns.map((pattern) => ({ scheme: 'file', pattern }));

/** The sidecar's rule (workspace.IsWorkflowFile): a GitHub Actions file is
 * not one, a file named as a Mimir workflow is, wherever it is. */
export function isWorkflowFile(file: string): boolean {
  const parts = file.replace(/\\/g, '/').split('/');
  const m = /^(.*)\.(yaml|yml|json)$/.exec(parts[parts.length - 1] ?? '');
  if (!m) return false;
  const stem = m[1];
  if (stem === 'workflow' || stem.endsWith('.mimir')) return true;
  return parts[parts.length - 2] === 'workflows' && parts[parts.length - 3] !== '.github';
}
