// The manifest: what starts the extension, what it contributes, how it is
// packaged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const source = readFileSync(new URL('../src/extension.ts', import.meta.url), 'utf8');

test('activates on workflow files only: opening any JSON or YAML must not start the sidecar (it writes .mimir/)', () => {
  for (const e of pkg.activationEvents as string[]) {
    assert.match(e, /^workspaceContains:\*\*\/(\*\.mimir|workflow)\./, e);
  }
  // Commands (and the Studio, opened by one) activate it implicitly (VS Code >= 1.74).
  assert.ok(Number(/\^1\.(\d+)/.exec(pkg.engines.vscode)![1]) >= 74);
});

test('every contributed command is registered, before the sidecar starts', () => {
  const start = source.indexOf('await sc.start()');
  assert.ok(start > 0);
  for (const c of pkg.contributes.commands as { command: string }[]) {
    const at = source.indexOf(`registerCommand('${c.command}'`);
    assert.ok(at > 0, `${c.command} is not registered`);
    assert.ok(at < start, `${c.command} is registered after the sidecar starts`);
  }
});

test("a workspace's settings cannot choose the binary run, and Restricted Mode disables the extension", () => {
  const props = pkg.contributes.configuration.properties;
  // .vscode/settings.json of a repository just cloned must not run a program of its choosing.
  assert.equal(props['mimir.sidecarPath'].scope, 'machine');
  // Per folder, and checked to stay inside the workspace (deliverablesFolder.ts).
  assert.equal(props['mimir.deliverablesFolder'].scope, 'resource');
  // No untrustedWorkspaces support: VS Code does not run the extension (nor
  // so the sidecar and the workflows' commands) in an untrusted workspace.
  const untrusted = pkg.capabilities?.untrustedWorkspaces;
  assert.ok(untrusted === undefined || untrusted.supported === false, JSON.stringify(untrusted));
});

test('vsce package builds first', () => {
  assert.equal(pkg.scripts['vscode:prepublish'], 'node esbuild.mjs');
});

test('code-server is not a dependency of the extension', () => {
  assert.equal(pkg.dependencies['code-server'], undefined);
  assert.equal(pkg.devDependencies['code-server'], undefined);
});
