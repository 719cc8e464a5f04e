#!/usr/bin/env node
// Compiles src/ to dist/ only when a source file (or the compiler settings) is newer than the last
// build, so `npm start` serves the current source without paying for tsc on every start. Runs after
// install (`prepare`) and before start; quiet when there is nothing to do.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const stamp = path.join(root, 'dist', '.build-stamp');
const src = path.join(root, 'src');

// A Docker build installs dependencies before it copies the source: nothing to build yet.
if (!existsSync(src)) process.exit(0);

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs);
  }
  return latest;
}

const sourcesChanged = Math.max(newest(src), statSync(path.join(root, 'tsconfig.json')).mtimeMs);
const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (built >= sourcesChanged) process.exit(0);

const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (!existsSync(tsc)) {
  console.error(existsSync(path.join(root, 'dist', 'server.js')) ? 'build-if-stale: no TypeScript here; serving the existing dist/' : 'build-if-stale: dist/ is missing and TypeScript is not installed (run npm install)');
  process.exit(existsSync(path.join(root, 'dist', 'server.js')) ? 0 : 1);
}
const started = Date.now();
const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
writeFileSync(stamp, new Date().toISOString() + '\n');
console.error(`build-if-stale: compiled src/ in ${((Date.now() - started) / 1000).toFixed(1)} s`);
