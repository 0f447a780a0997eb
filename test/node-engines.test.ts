import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// semver is what npm itself uses to decide EBADENGINE; it ships untyped, hence the narrow type.
const semver = createRequire(import.meta.url)('semver') as {
  subset(sub: string, sup: string): boolean;
  satisfies(version: string, range: string): boolean;
  intersects(a: string, b: string): boolean;
};

const readJson = async (file: string) => JSON.parse(await readFile(new URL(`../${file}`, import.meta.url), 'utf8'));

describe('the Node versions package.json promises', () => {
  it('are versions every locked dependency supports, so npm ci prints no EBADENGINE', async () => {
    const { engines } = await readJson('package.json');
    const lock = (await readJson('package-lock.json')) as { packages: Record<string, { version?: string; engines?: { node?: string } }> };
    const refusing = Object.entries(lock.packages)
      .filter(([path, pkg]) => path !== '' && pkg.engines?.node && !semver.subset(engines.node, pkg.engines.node))
      .map(([path, pkg]) => `${path.replace(/^.*node_modules\//, '')}@${pkg.version} wants node ${pkg.engines!.node}`);
    expect(refusing).toEqual([]);
  });

  it('include Node 20 and the Node running this test', async () => {
    const { engines } = await readJson('package.json');
    expect(semver.intersects(engines.node, '20.x')).toBe(true);
    expect(semver.satisfies(process.versions.node, engines.node)).toBe(true);
  });
});
