import { spawnSync } from 'node:child_process';
import { removeOutput, type Synthesized, synthesize } from './support/synth';
import { SKIP_BUNDLING, SUPPORTED_CONFIGURATIONS } from './support/configurations';

/**
 * `cdk synth` of every supported configuration, then cfn-lint (the version CI pins) on every template:
 * no error and no warning, except the rules below, each ignored for a written reason.
 */
export const CFN_LINT_VERSION = '1.51.0';

/** Rule id -> why its findings are accepted. */
export const IGNORED_RULES: Record<string, string> = {
  W3005:
    "Redundant DependsOn: aws-lambda's Function makes its CloudFormation resource depend on its role construct, so that the role's policy exists before the function can run; the part naming the role itself duplicates the Role GetAtt. It changes nothing in the deploy order and is CDK's output, not ours.",
};

interface Finding {
  Filename: string;
  Level: 'Error' | 'Warning' | 'Informational';
  Message: string;
  Rule: { Id: string };
  Location: { Path?: unknown[] };
}

function cfnLintVersion(): string | undefined {
  const result = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  return /(\d+\.\d+\.\d+)/.exec(result.stdout + result.stderr)?.[1];
}

const synthesized: Array<{ name: string; synthesized: Synthesized; file: string }> = [];

beforeAll(() => {
  for (const [name, context] of Object.entries(SUPPORTED_CONFIGURATIONS)) {
    const result = synthesize({ ...context, ...SKIP_BUNDLING });
    synthesized.push({ name, synthesized: result, file: result.assembly.getStackByName(result.stack.stackName).templateFullPath });
  }
}, 120_000);

afterAll(() => synthesized.forEach((s) => removeOutput(s.synthesized)));

test(`cfn-lint ${CFN_LINT_VERSION} is installed (pip install cfn-lint==${CFN_LINT_VERSION})`, () => {
  expect({ 'cfn-lint --version': cfnLintVersion() ?? 'cfn-lint not found on PATH' }).toEqual({ 'cfn-lint --version': CFN_LINT_VERSION });
});

test('every supported configuration synthesizes with no missing context', () => {
  expect(synthesized.map(({ name }) => name)).toEqual(Object.keys(SUPPORTED_CONFIGURATIONS));
  for (const { name, synthesized: s } of synthesized) {
    expect({ name, missing: s.assembly.manifest.missing ?? [] }).toEqual({ name, missing: [] });
  }
});

test('cfn-lint finds no error and no unexplained warning in any template', () => {
  if (!cfnLintVersion()) throw new Error(`cfn-lint is not installed: pip install cfn-lint==${CFN_LINT_VERSION}`);
  const ignored = Object.keys(IGNORED_RULES);
  const args = ['--format', 'json', ...(ignored.length > 0 ? ['--ignore-checks', ...ignored] : []), '--', ...synthesized.map(({ file }) => file)];
  const result = spawnSync('cfn-lint', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  // Exit code: 0 clean, bit 2 error, 4 warning, 8 informational; 1 means cfn-lint itself failed.
  if (result.status === 1 || result.stdout.trim() === '') {
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    return;
  }
  const findings = JSON.parse(result.stdout) as Finding[];
  const nameOf = (file: string) => synthesized.find((s) => s.file === file)?.name ?? file;
  const reported = findings
    .filter((f) => f.Level !== 'Informational')
    .map((f) => `${nameOf(f.Filename)}: ${f.Level} ${f.Rule.Id} ${f.Message} at ${JSON.stringify(f.Location.Path ?? [])}`);
  expect(reported).toEqual([]);
});
