import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWorkflowFile } from '../src/workflowFiles';

test('workflow files, and GitHub Actions files are not', () => {
  for (const f of ['/w/a.mimir.yaml', '/w/x/b.mimir.json', '/w/workflow.yml', '/w/workflows/deploy.yaml', 'C:\\w\\workflows\\a.json']) assert.ok(isWorkflowFile(f), f);
  for (const f of ['/w/.github/workflows/ci.yml', '/w/my-workflow.yaml', '/w/workflows/notes.md', '/w/package.json']) assert.ok(!isWorkflowFile(f), f);
});
