// Builds dist/deploy_server.js from src/ with esbuild, so that no TypeScript is compiled when the CLI
// starts. Run by `npm ci`/`npm install` (the `prepare` script), by `npm test`, and by hand: `npm run build`.
//
// Our code is bundled with code splitting: each command's `await import(…)` becomes a chunk loaded only
// by the command that needs it (`--help` loads no ORM, `target list` no SSH or HTTP server). Packages stay
// external and load from node_modules as Node loads them (native ones like sqlite3 must; for the others it
// keeps Node's own CommonJS interop, e.g. the named exports of `await import('pino')`) — except MikroORM.
//
// MikroORM (@mikro-orm/* with knex, lodash and the rest: ~700 small CommonJS files) was most of
// `target list`'s start-up: resolving and reading the files, then compiling them. It is bundled into one
// CommonJS file, dist/vendor/mikro-orm.cjs, loaded through node:vm with a V8 code cache
// (dist/vendor/mikro-orm.cjs.cache) made here by a warm-up run (open an in-memory database, query it):
// the functions that run compiled then need no compiling at each start. A cache that does not fit the
// running Node.js (another version) is rejected by V8 and the file is compiled as usual: slower, same result.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const requireHere = createRequire(`${root}package.json`);
/** The MikroORM packages our code imports, as properties of the vendor bundle's exports. */
const VENDORED = ['@mikro-orm/core', '@mikro-orm/knex', '@mikro-orm/sqlite', '@mikro-orm/postgresql', '@mikro-orm/migrations'];
// Drivers knex and MikroORM name but this project never bundles: left as the run-time `require` they are
// (`pg` is the PostgreSQL driver, loaded from node_modules only when DEPLOY_DB is a postgres:// URL).
const UNUSED_DRIVERS = new Set(['better-sqlite3', 'libsql', 'mariadb', 'mariadb/callback', 'mysql', 'mysql2', 'oracledb', 'pg', 'pg-query-stream', 'tedious']);

const vendorBuild = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // MikroORM reads constructor names (entity and exception classes): keep them. Whitespace and syntax
  // are minified (identifiers are not): half the source to read, compile and keep in memory.
  keepNames: true,
  minifyWhitespace: !process.env.NOMIN,
  minifySyntax: !process.env.NOMIN,
  logLevel: 'warning',
  // MikroORM checks at every init that the @mikro-orm/* packages listed in the package.json of the
  // *working directory* have its version (reading that package.json and resolving each package: ~40 ms
  // of `target list`). Bundled from one lockfile, they are one version by construction, and the user's
  // working directory is no business of ours (another project's package.json there could fail it).
  define: { 'process.env.MIKRO_ORM_ALLOW_VERSION_MISMATCH': '"bundled"' },
  plugins: [{
    name: 'vendor-externals',
    setup(b) {
      // Utils.getORMVersion() tries require('../../package.json') (its layout in development) before
      // '../package.json'; bundled, the first would find this project's package.json at run time and
      // MikroORM would refuse to start ("Bad @mikro-orm/knex version"). Point it at core's own.
      b.onResolve({ filter: /^\.\.\/\.\.\/package\.json$/ }, ({ importer }) =>
        importer.endsWith('/@mikro-orm/core/utils/Utils.js') ? { path: createRequire(importer).resolve('../package.json') } : undefined);
      b.onResolve({ filter: /^[^./]/ }, ({ path }) => (path === 'sqlite3' || UNUSED_DRIVERS.has(path) ? { external: true } : undefined));
    },
  }],
};

// Loads dist/vendor/mikro-orm.cjs as Node would load a CommonJS file, with the code cache when V8 takes it.
const LOADER = `'use strict';
const { readFileSync } = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

/** The MikroORM packages, from the bundle next to this file. */
exports.loadVendor = function loadVendor() {
  const filename = path.join(__dirname, 'mikro-orm.cjs');
  let cachedData;
  try {
    cachedData = readFileSync(filename + '.cache');
  } catch {}
  const script = new vm.Script(Module.wrap(readFileSync(filename, 'utf8')), {
    filename,
    cachedData,
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER, // Node.js ≥ 20.12
  });
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, Module.createRequire(filename), module, filename, __dirname);
  return { exports: module.exports, script };
};
`;

// Run by the build in a child process: exercise MikroORM as the CLI does, then keep what V8 compiled.
const WARM_UP = `'use strict';
const { writeFileSync } = require('node:fs');
const { exports: vendor, script } = require('./load.cjs').loadVendor();
(async () => {
  const { MikroORM, EntitySchema } = vendor['@mikro-orm/sqlite'];
  const Warm = new EntitySchema({ name: 'Warm', tableName: 'warm', properties: { id: { type: 'integer', primary: true }, name: { type: 'string' }, env: { type: 'json' } } });
  const orm = await MikroORM.init({ dbName: ':memory:', entities: [Warm], discovery: { warnWhenNoEntities: false }, debug: false });
  await orm.em.getConnection().execute('create table warm (id integer primary key, name text, env text)');
  const em = orm.em.fork();
  em.create(Warm, { id: 1, name: 'a', env: {} });
  await em.flush();
  await orm.em.fork().find(Warm, { name: 'a' }, { orderBy: { id: 'asc' } });
  await orm.close();
  writeFileSync(__dirname + '/mikro-orm.cjs.cache', script.createCachedData());
})();
`;

/** Our imports of @mikro-orm/* become imports of the vendor bundle (one copy of MikroORM for all of them). */
function vendorImports(names) {
  return {
    name: 'vendor-imports',
    setup(b) {
      b.onResolve({ filter: /^@mikro-orm\// }, ({ path, importer }) => {
        if (importer.includes('/node_modules/')) return undefined;
        if (!VENDORED.includes(path)) throw new Error(`${path} is not in the MikroORM bundle: add it to VENDORED in scripts/build.js`);
        return { path, namespace: 'vendor' };
      });
      b.onResolve({ filter: /^vendor-loader$/ }, () => ({ path: 'loader', namespace: 'vendor' }));
      b.onLoad({ filter: /.*/, namespace: 'vendor' }, ({ path }) => {
        if (path === 'loader') {
          // Evaluated once per process, like any module; the import.meta.url of whichever chunk holds
          // it is in dist/ (chunks are not put in a subfolder).
          return { contents: "import { createRequire } from 'node:module'; export default createRequire(import.meta.url)('./vendor/load.cjs').loadVendor().exports;", loader: 'js' };
        }
        const exported = names[path].map((name) => `export const ${name} = m.${name};`).join('\n');
        return { contents: `import vendor from 'vendor-loader';\nconst m = vendor[${JSON.stringify(path)}];\n${exported}\nexport default m;`, loader: 'js' };
      });
    },
  };
}

/**
 * `import.meta.url` in our sources means the source file's own URL (dashboard.ts finds web/ with it); in the
 * bundle it would be the chunk's, in dist/. Each use becomes the source file's URL, computed from the
 * chunk's (dist/ is one level below the root, flat), so a checkout moved elsewhere still works.
 */
const sourceUrls = {
  name: 'source-urls',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, ({ path: file }) => {
      if (file.includes('/node_modules/')) return undefined;
      const contents = readFileSync(file, 'utf8');
      if (!contents.includes('import.meta.url')) return undefined;
      const fromDist = JSON.stringify(`../${path.relative(root, file).split(path.sep).join('/')}`);
      return { contents: contents.replaceAll('import.meta.url', `new URL(${fromDist}, import.meta.url).href`), loader: 'ts' };
    });
  },
};

export async function buildCli(outdir = `${root}dist`) {
  rmSync(outdir, { recursive: true, force: true });

  await build({
    ...vendorBuild,
    stdin: {
      contents: VENDORED.map((name) => `Object.defineProperty(exports, ${JSON.stringify(name)}, { enumerable: true, get: () => require(${JSON.stringify(name)}) });`).join('\n'),
      resolveDir: root,
      loader: 'js',
    },
    outfile: `${outdir}/vendor/mikro-orm.cjs`,
  });
  writeFileSync(`${outdir}/vendor/load.cjs`, LOADER);
  writeFileSync(`${outdir}/vendor/warm-up.cjs`, WARM_UP);
  // `node` from PATH is not necessarily this one: the cache is for the Node.js that runs the build.
  execFileSync(process.execPath, [`${outdir}/vendor/warm-up.cjs`], { stdio: 'inherit' });

  // The names each package exports, for the ES module that stands for it.
  const names = Object.fromEntries(VENDORED.map((name) => [name, Object.keys(requireHere(name)).filter((key) => /^[A-Za-z_$][\w$]*$/.test(key) && key !== 'default')]));
  await build({
    absWorkingDir: root,
    entryPoints: { deploy_server: 'src/cli/entry.ts' },
    outdir,
    chunkNames: '[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    plugins: [vendorImports(names), sourceUrls],
    keepNames: true,
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildCli(process.argv[2]);
