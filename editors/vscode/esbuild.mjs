// Bundles the extension (Node, vscode external) and the Studio page
// (browser), and copies the workflow schema the manifest registers.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';

mkdirSync('dist', { recursive: true });
await build({ entryPoints: ['src/extension.ts'], bundle: true, platform: 'node', format: 'cjs', target: 'node18', external: ['vscode'], outfile: 'dist/extension.js', sourcemap: false, logLevel: 'warning' });
await build({ entryPoints: ['webview/main.ts'], bundle: true, platform: 'browser', format: 'iife', target: 'es2020', outfile: 'dist/studio.js', logLevel: 'warning' });
copyFileSync('webview/studio.css', 'dist/studio.css');
const schema = '../../engine/workflow.schema.json';
if (!existsSync(schema)) throw new Error(`${schema} is missing: the extension registers the sidecar's workflow schema`);
copyFileSync(schema, 'dist/workflow.schema.json');
