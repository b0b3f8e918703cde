// Which files are workflows, as the sidecar names them (docs/protocol.md,
// mimir/workflows): *.mimir.{yaml,yml,json}, workflow.{yaml,yml,json}, and
// YAML or JSON files in a workflows/ folder, except GitHub Actions' own
// .github/workflows/, which are not Mimir's.
export function isWorkflowFile(file: string): boolean {
  const p = file.replace(/\\/g, '/');
  if (/(^|\/)\.github\/workflows\//.test(p)) return false;
  return /(\.mimir\.(ya?ml|json)|(^|\/)workflow\.(ya?ml|json)|\/workflows\/[^/]+\.(ya?ml|json))$/.test(p);
}
