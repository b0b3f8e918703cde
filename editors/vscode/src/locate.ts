// Where the sidecar binary is: no VS Code API here, so it is tested in Node.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export type Found = { path: string } | { error: string };

/**
 * The setting, then the extension's bundled binary, then PATH. A platform's
 * .vsix bundles its own sidecar as bin/mimir-sidecar, bin/mimir-sidecar.exe
 * on Windows (scripts/release).
 */
export function findSidecar(setting: string, extensionPath: string, path = process.env.PATH ?? '', platform: NodeJS.Platform = process.platform): Found {
  const exe = platform === 'win32' ? 'mimir-sidecar.exe' : 'mimir-sidecar';
  if (setting) {
    return executable(setting)
      ? { path: setting }
      : { error: `The mimir.sidecarPath setting points at ${setting}, which is not an executable file. Fix the setting, or clear it to use the bundled binary or the one on PATH.` };
  }
  const bundled = join(extensionPath, 'bin', exe);
  if (executable(bundled)) return { path: bundled };
  for (const dir of path.split(delimiter)) {
    if (dir && executable(join(dir, exe))) return { path: join(dir, exe) };
  }
  return {
    error: 'Cannot find mimir-sidecar. Install it (go install ./cmd/mimir-sidecar in its repository) so it is on PATH, or set mimir.sidecarPath to the binary.',
  };
}
