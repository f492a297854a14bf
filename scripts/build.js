// Builds dist/deploy_server.js from src/ with esbuild, so that no TypeScript is compiled when the CLI
// starts. Run by `npm ci`/`npm install` (the `prepare` script), by `npm test`, and by hand: `npm run build`.
//
// Our code is bundled with code splitting: each command's `await import(…)` becomes a chunk loaded only
// by the command that needs it (`--help` loads no ORM, `target list` no SSH or HTTP server).
// MikroORM, knex and their dependencies are bundled too: ~700 small CommonJS files, whose resolution and
// loading were most of `target list`'s start-up; one file each is much cheaper. Every other package
// stays external and is loaded from node_modules as Node loads it (native modules like sqlite3 must;
// for the others it keeps Node's own CommonJS interop, e.g. named exports of `await import('pino')`).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const BUNDLED = /^@mikro-orm\//;
// Drivers knex and MikroORM name but this project never uses: left as the run-time `require` they are.
const UNUSED_DRIVERS = new Set(['better-sqlite3', 'libsql', 'mariadb', 'mariadb/callback', 'mysql', 'mysql2', 'oracledb', 'pg', 'pg-query-stream', 'tedious']);

const externals = {
  name: 'externals',
  setup(b) {
    // MikroORM's Utils.getORMVersion() tries require('../../package.json') (its layout in development)
    // before '../package.json'; bundled, the first would find this project's package.json relative to
    // dist/chunks/ and MikroORM would refuse to start ("Bad @mikro-orm/knex version"). Point it at
    // @mikro-orm/core's own package.json.
    b.onResolve({ filter: /^\.\.\/\.\.\/package\.json$/ }, ({ importer }) =>
      importer.endsWith('/@mikro-orm/core/utils/Utils.js') ? { path: createRequire(importer).resolve('../package.json') } : undefined);
    b.onResolve({ filter: /^[^./]/ }, ({ path, importer }) => {
      if (path.startsWith('node:') || path === 'sqlite3' || UNUSED_DRIVERS.has(path)) return { external: true };
      const fromPackage = importer.includes('/node_modules/');
      if (!fromPackage && !BUNDLED.test(path)) return { external: true };
      return undefined; // bundled: @mikro-orm/* and whatever they import
    });
  },
};

export async function buildCli(outdir = `${root}dist`) {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: { deploy_server: 'src/cli/entry.ts' },
    outdir,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    plugins: [externals],
    // MikroORM reads constructor names (entity and exception classes): keep them.
    keepNames: true,
    sourcemap: 'linked',
    logLevel: 'warning',
    // The bundled CommonJS code calls `require` for Node's built-ins and sqlite3.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildCli(process.argv[2]);
