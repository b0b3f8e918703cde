// The manifest: what starts the extension, what it contributes, how it is
// packaged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

test('activates on workflow files only: opening any JSON or YAML must not start the sidecar (it writes .mimir/)', () => {
  for (const e of pkg.activationEvents as string[]) {
    assert.match(e, /^workspaceContains:\*\*\/(\*\.mimir|workflow)\./, e);
  }
  // Commands (and the Studio, opened by one) activate it implicitly (VS Code >= 1.74).
  assert.ok(Number(/\^1\.(\d+)/.exec(pkg.engines.vscode)![1]) >= 74);
});

/** A stand-in for the vscode module: any member is a function and a class
 * that returns more of the same, except those the test watches. */
function anything(name: string, cache = new Map<string, unknown>()): unknown {
  const hit = cache.get(name);
  if (hit) return hit;
  const target = function () {} as unknown as object;
  const p: unknown = new Proxy(target, {
    get: (t, key) => {
      if (key === 'then') return undefined; // not a promise
      if (key === 'prototype') return Reflect.get(t, key);
      if (key === Symbol.toPrimitive) return () => name;
      if (typeof key === 'symbol') return undefined;
      return anything(`${name}.${key}`, cache);
    },
    apply: () => anything(`${name}()`, cache),
    construct: () => anything(`new ${name}`, cache) as object,
  });
  cache.set(name, p);
  return p;
}

/** Builds src/extension.ts as the package does and activates it against a
 * stand-in vscode module, with a sidecarPath that does not exist (so no
 * process starts); returns what it did, in order. */
async function activateForTest(): Promise<{ calls: string[]; deactivated: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'mimir-manifest-'));
  const outfile = join(dir, 'extension.js');
  await build({ entryPoints: [fileURLToPath(new URL('../src/extension.ts', import.meta.url))], bundle: true, platform: 'node', format: 'cjs', target: 'node18', external: ['vscode'], outfile, logLevel: 'warning' });
  const calls: string[] = [];
  const disposable = { dispose: () => undefined };
  const watched = (name: string, members: Record<string, unknown>) =>
    new Proxy(anything(name) as object, { get: (t, k) => (typeof k === 'string' && k in members ? members[k] : Reflect.get(t, k)) });
  // Own keys for what the extension uses (esbuild copies a module's own
  // keys into its namespace); the language client gets anything it asks for.
  const members: Record<string, unknown> = {
    commands: watched('vscode.commands', {
      registerCommand: (id: string) => (calls.push(`register ${id}`), disposable),
      executeCommand: () => Promise.resolve(),
    }),
    workspace: watched('vscode.workspace', {
      workspaceFolders: undefined,
      onDidChangeConfiguration: () => disposable,
      getConfiguration: () => ({
        get: <T>(setting: string, dflt: T) => {
          // Read when the sidecar is looked for: it starts here.
          if (setting === 'sidecarPath') {
            calls.push('start the sidecar');
            return '/nonexistent/mimir-sidecar';
          }
          return dflt;
        },
      }),
    }),
    window: watched('vscode.window', {
      createOutputChannel: () => new Proxy({}, { get: () => () => undefined }),
      showErrorMessage: (text: string) => (calls.push(`showErrorMessage: ${text}`), Promise.resolve(undefined)),
      showWarningMessage: (text: string) => (calls.push(`showWarningMessage: ${text}`), Promise.resolve(undefined)),
      showInformationMessage: (text: string) => (calls.push(`showInformationMessage: ${text}`), Promise.resolve(undefined)),
    }),
    languages: watched('vscode.languages', { registerCodeLensProvider: () => disposable }),
  };
  for (const k of ['CodeLens', 'ProgressLocation', 'Range', 'Uri', 'ViewColumn']) members[k] = anything(`vscode.${k}`);
  const vscode = new Proxy(members, {
    get: (t, k) => (typeof k !== 'string' || k in t ? Reflect.get(t, k) : k === '__esModule' || k === 'then' ? undefined : anything(`vscode.${k}`)),
  });
  const mod = Module as unknown as { _load: (request: string, parent: unknown, isMain: boolean) => unknown };
  const load = mod._load;
  mod._load = (request, parent, isMain) => (request === 'vscode' ? vscode : load(request, parent, isMain));
  try {
    const ext = createRequire(outfile)(outfile) as { activate: (ctx: unknown) => Promise<void>; deactivate: () => Promise<void> };
    const ctx = { subscriptions: [] as unknown[], extensionPath: dir, extensionUri: anything('extensionUri') };
    await ext.activate(ctx);
    let deactivated = false;
    await ext.deactivate().then(() => (deactivated = true));
    return { calls, deactivated };
  } finally {
    mod._load = load;
    rmSync(dir, { recursive: true, force: true });
  }
}

test('every contributed command is registered once, before the sidecar starts, and no other', async () => {
  const { calls, deactivated } = await activateForTest();
  const start = calls.indexOf('start the sidecar');
  assert.ok(start > 0, calls.join('\n'));
  const registered = calls.filter((c) => c.startsWith('register ')).map((c) => c.slice('register '.length));
  const contributed = (pkg.contributes.commands as { command: string }[]).map((c) => c.command);
  assert.deepEqual([...registered].sort(), [...contributed].sort());
  for (const c of contributed) assert.ok(calls.indexOf(`register ${c}`) < start, `${c} is registered after the sidecar starts`);
  // It says why the sidecar cannot start, and deactivating resolves all the same.
  assert.ok(calls.some((c) => c.startsWith('showErrorMessage: The mimir.sidecarPath setting points at /nonexistent/mimir-sidecar')), calls.join('\n'));
  assert.equal(deactivated, true);
});

test("no contributed command is one of the sidecar's executeCommand commands, which the language client registers itself", () => {
  // rpc/server.go's method table: a method with command: true is the
  // command mimir.<name>. Registering one twice fails the client's start.
  const table = readFileSync(new URL('../../../rpc/server.go', import.meta.url), 'utf8');
  const sidecar = [...table.matchAll(/\{name: "mimir\/(\w+)"[^\n]*command: true/g)].map((m) => `mimir.${m[1]}`);
  assert.ok(sidecar.includes('mimir.applyChanges') && sidecar.includes('mimir.cancel'), sidecar.join(', '));
  const contributed = (pkg.contributes.commands as { command: string }[]).map((c) => c.command);
  assert.deepEqual(contributed.filter((c) => sidecar.includes(c)), []);
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
