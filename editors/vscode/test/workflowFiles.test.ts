import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isWorkflowFile, workflowPatterns, workflowSelector } from '../src/workflowFiles';

// The sidecar's own table (workspace/discover_test.go), so both agree.
const sidecarCases: Record<string, boolean> = {
  'translate.mimir.yaml': true,
  'docs/review.mimir.json': true,
  'examples/hello/workflow.yml': true,
  'workflows/nightly.yaml': true,
  'team/workflows/nightly.json': true,
  '.github/workflows/ci.yml': false, // GitHub Actions'
  'sub/.github/workflows/ci.yaml': false,
  '.github/workflows/x.mimir.yaml': true, // named as ours
  'workflows/readme.md': false,
  'config.yaml': false,
  'workflow.yaml.bak': false,
};

test('workflow files, as the sidecar names them; GitHub Actions files are not', () => {
  for (const [rel, want] of Object.entries(sidecarCases)) {
    assert.equal(isWorkflowFile(rel), want, rel);
    assert.equal(isWorkflowFile(`/home/u/ws/${rel}`), want, `/home/u/ws/${rel}`);
    assert.equal(isWorkflowFile(`C:\\ws\\${rel.replace(/\//g, '\\')}`), want, `C: ${rel}`);
  }
  for (const f of ['/w/my-workflow.yaml', '/w/workflows/sub/a.yaml', '/w/package.json']) assert.ok(!isWorkflowFile(f), f);
});

/** Enough of VS Code's glob syntax for the patterns here: **, * and {a,b}. */
function glob(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (pattern.startsWith('**/', i)) {
      re += '(?:.*/)?';
      i += 2;
    } else if (c === '*') re += '[^/]*';
    else if (c === '{') re += '(?:';
    else if (c === '}') re += ')';
    else if (c === ',') re += '|';
    else re += c.replace(/[.+?^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

test('one selector, and every workflow file matches it (the rest is left to isWorkflowFile)', () => {
  assert.deepEqual(
    workflowSelector.map((f) => f.pattern),
    [...workflowPatterns],
  );
  assert.ok(workflowSelector.every((f) => f.scheme === 'file'));
  for (const [rel, want] of Object.entries(sidecarCases)) {
    if (want) assert.ok(workflowPatterns.some((p) => glob(p).test(`/ws/${rel}`)), `${rel} is not selected`);
  }
  // The selector cannot leave out .github/workflows/: the lens and the
  // language client check isWorkflowFile (codelens.ts, sidecar.ts).
  assert.ok(workflowPatterns.some((p) => glob(p).test('/ws/.github/workflows/ci.yml')));
  for (const f of ['src/codelens.ts', 'src/sidecar.ts']) {
    const src = readFileSync(new URL(`../${f}`, import.meta.url), 'utf8');
    assert.match(src, /isWorkflowFile\(/, f);
    assert.doesNotMatch(src, /pattern: '\*\*\//, `${f} has a selector of its own`);
  }
});

test('the manifest: schemas for workflow files, not for GitHub Actions files; activation on workflow files', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const matches = (fileMatch: string[], file: string) => {
    // VS Code: a file matches if a pattern does and no '!' pattern does; a
    // pattern without a slash matches the file's name.
    const m = (p: string) => glob(p.includes('/') ? p : `**/${p}`).test(file);
    return fileMatch.some((p) => !p.startsWith('!') && m(p)) && !fileMatch.some((p) => p.startsWith('!') && m(p.slice(1)));
  };
  const json: string[] = pkg.contributes.jsonValidation[0].fileMatch;
  const yaml: string[] = pkg.contributes.yamlValidation[0].fileMatch;
  for (const [rel, want] of Object.entries(sidecarCases)) {
    const file = `/ws/${rel}`;
    const fileMatch = /\.json$/.test(rel) ? json : yaml;
    // A fileMatch cannot keep .github/workflows/x.mimir.yaml while it
    // leaves out the folder's other files: no schema there.
    const expect = want && !rel.startsWith('.github/');
    if (/\.(json|ya?ml)$/.test(rel)) assert.equal(matches(fileMatch, file), expect, rel);
  }
  for (const e of pkg.activationEvents as string[]) {
    const pattern = e.replace(/^workspaceContains:/, '');
    assert.ok(!glob(pattern).test('.github/workflows/ci.yml') && !glob(pattern).test('sub/.github/workflows/ci.yml'), e);
  }
});
