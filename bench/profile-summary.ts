import { readFileSync } from 'node:fs';
import { formatTable } from './support/report';

/**
 * Summarizes a V8 `.cpuprofile` (from BENCH_CPU_PROFILE_DIR / LOAD_CPU_PROFILE_DIR): self time by package
 * or project folder, and the hottest functions. `npx tsx bench/profile-summary.ts <file> [top]`.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** `node_modules/@aws-sdk/foo/...` -> `@aws-sdk/foo`; project files -> their folder; Node internals -> `node:`. */
function owner(url: string): string {
  if (!url) return '(native/idle)';
  if (url.startsWith('node:')) return 'node: internals';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + 'node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const project = /\/(lambdas\/[^/]+|local|bench|media-node)\//.exec(url);
  return project ? project[1] : url;
}

export function summarize(path: string, top = 25): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfTime = new Map<number, number>();
  profile.samples.forEach((id, i) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...selfTime.values()].reduce((a, b) => a + b, 0);
  const byOwner = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, micros] of selfTime) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)' || functionName === '(garbage collector)') {
      byOwner.set(functionName, (byOwner.get(functionName) ?? 0) + micros);
      continue;
    }
    byOwner.set(owner(url), (byOwner.get(owner(url)) ?? 0) + micros);
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/work\/main\//, '')}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
  }
  const pct = (micros: number) => `${((100 * micros) / total).toFixed(1)}%`;
  const rows = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, micros]) => [name, (micros / 1000).toFixed(0), pct(micros)]);
  return [
    `profile ${path}: ${(total / 1e6).toFixed(1)} s sampled`,
    formatTable(['owner', 'self ms', 'share'], rows(byOwner)),
    '',
    formatTable(['function', 'self ms', 'share'], rows(byFunction)),
  ].join('\n');
}

if (require.main === module) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error('usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  console.log(summarize(file, Number(top ?? 25)));
}
