/**
 * The architecture of DESIGN.md as import rules (`npm run lint:deps`, run by .ci/run):
 * the core is the licensing logic and knows no door; the doors (HTTP, Discord, jobs, the slash
 * commands) reach the database's tables only through the core; the database layer and the
 * client SDK stand alone.
 */
const DOORS = '^(src/(http|discord|jobs)|commands)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-knows-no-door',
      comment: 'The core is called by the doors, never the other way round.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: `${DOORS}|^src/(start-keycord|main|runtime)\\.ts$` },
    },
    {
      name: 'db-below-core',
      comment: 'The database layer (client, schema, migrations runner) does not depend on the logic above it.',
      severity: 'error',
      from: { path: '^src/db/' },
      to: { path: '^src/(core|http|discord|jobs)/|^commands/' },
    },
    {
      name: 'client-sdk-stands-alone',
      comment: 'The client SDK ships to customer apps: zero dependencies, nothing of the server.',
      severity: 'error',
      from: { path: '^src/client/' },
      to: { pathNot: '^src/client/', dependencyTypesNot: ['core'] },
    },
    {
      name: 'doors-reach-tables-through-the-core',
      comment: 'HTTP routes, Discord handlers, commands and jobs call core use cases; only types of rows may be named.',
      severity: 'error',
      from: { path: DOORS },
      to: { path: '^src/db/schema\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-circular-core',
      comment: 'Cycles inside the core make use cases hard to read in isolation.',
      severity: 'warn',
      from: { path: '^src/core/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};
