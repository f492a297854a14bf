// Builds dist/ from src/ with esbuild, so that no TypeScript is compiled when the CLI starts. Run by
// `npm ci`/`npm install` (the `prepare` script), by `npm test`, and by hand: `npm run build`.
//
// dist/deploy_server.js (the `bin`, and what `npm start` runs) is a few lines of CommonJS (dist/package.json
// says so) that load bundles through node:vm, with V8 code caches made here by a warm-up run:
// - dist/app.cjs: our code with clipanion, valibot and p-queue, one CommonJS file. A module reached only
//   through `await import(…)` (each command's domain code, the server, SSH) is bundled too but evaluated
//   only when that import runs, so `--help` evaluates no ORM, `target list` no SSH or HTTP server. The
//   other packages stay external and are `require`d from node_modules when first needed (native ones like
//   better-sqlite3 must; express, pino, ssh2 and the OpenTelemetry SDK only `serve` and deploys load).
// - dist/vendor/mikro-orm.cjs: MikroORM (@mikro-orm/* with knex, lodash and the rest: ~700 small CommonJS
//   files), loaded the first time our code touches the ORM; @mikro-orm/migrations is in
//   dist/vendor/mikro-orm-migrations.cjs, loaded (without a cache) only when a database has a migration to run,
//   and @mikro-orm/postgresql in dist/vendor/mikro-orm-postgresql.cjs, loaded only for a postgres:// DEPLOY_DB.
// One CommonJS file instead of ES modules: no ES module loader at start-up (resolving, linking and the
// CommonJS interop of each chunk and package), and a code cache: the functions the warm-up ran (`--help`,
// `target add`, `target list` against a temporary database) start compiled. A cache that does not fit the
// running Node.js (another version) is rejected by V8 and the file is compiled as usual: slower, same result.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire, isBuiltin } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
/**
 * The MikroORM packages our code imports, by the bundle (in dist/vendor/) whose exports have them as properties.
 * @mikro-orm/migrations (with umzug, and through it @rushstack, ajv, argparse…: a third of the code) has a
 * bundle of its own, loaded only when a migration is pending; its imports of core and knex are the
 * instances of the main bundle (one MikroORM in the process). @mikro-orm/postgresql the same way, loaded
 * only when DEPLOY_DB is a postgres:// URL.
 */
const VENDORED = {
  '@mikro-orm/core': 'mikro-orm.cjs',
  '@mikro-orm/knex': 'mikro-orm.cjs',
  '@mikro-orm/better-sqlite': 'mikro-orm.cjs',
  '@mikro-orm/postgresql': 'mikro-orm-postgresql.cjs',
  '@mikro-orm/migrations': 'mikro-orm-migrations.cjs',
};
/** The exports of a bundle: a getter per package, so that a package's modules run when it is first used. */
const vendorEntry = (bundle) => ({
  contents: Object.keys(VENDORED).filter((name) => VENDORED[name] === bundle)
    .map((name) => `Object.defineProperty(exports, ${JSON.stringify(name)}, { enumerable: true, get: () => require(${JSON.stringify(name)}) });`).join('\n'),
  resolveDir: root,
  loader: 'js',
});
/** A module standing for package `name` of `bundle` (a file in dist/vendor/), for code in `fromDir` (relative to dist/). */
const vendorModule = (name, fromDir) =>
  `module.exports = require('${fromDir}load.cjs').loadCached(require('node:path').join(__dirname, '${fromDir}vendor/${VENDORED[name]}'))[${JSON.stringify(name)}];`;
// Drivers knex and MikroORM name but this project never bundles: left as the run-time `require` they are
// (`pg` is the PostgreSQL driver, loaded from node_modules only when DEPLOY_DB is a postgres:// URL).
const UNUSED_DRIVERS = new Set(['sqlite3', 'libsql', 'mariadb', 'mariadb/callback', 'mysql', 'mysql2', 'oracledb', 'pg', 'pg-query-stream', 'tedious']);

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
      b.onResolve({ filter: /^[^./]/ }, ({ path }) => (path === 'better-sqlite3' || UNUSED_DRIVERS.has(path) ? { external: true } : undefined));
    },
  }],
};

// dist/load.cjs: loads a bundle as Node would load a CommonJS file, with its code cache when V8 takes it.
const LOADER = `'use strict';
const { readFileSync } = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

/** Called with (filename, script) for each bundle loaded: the build's warm-up keeps them to write their caches. */
exports.onLoad = undefined;

const loaded = new Map();

/** The exports of a CommonJS bundle (evaluated once per process), compiled from filename + '.cache' when V8 accepts that cache. */
exports.loadCached = function loadCached(filename) {
  if (loaded.has(filename)) return loaded.get(filename).exports;
  let cachedData;
  try {
    cachedData = readFileSync(filename + '.cache');
  } catch {}
  const script = new vm.Script(Module.wrap(readFileSync(filename, 'utf8')), {
    filename,
    cachedData,
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER, // Node.js ≥ 20.12
  });
  exports.onLoad?.(filename, script);
  const module = { exports: {} };
  loaded.set(filename, module);
  script.runInThisContext().call(module.exports, module.exports, Module.createRequire(filename), module, filename, path.dirname(filename));
  return module.exports;
};
`;

// dist/deploy_server.js, the executable. `deploy_server --help` (or -h) alone prints dist/help.txt, the
// text the CLI itself printed for it at the build's warm-up (no colours: the CLI never uses them), and
// loads nothing else; every other command line goes to the CLI.
const LAUNCHER = `#!/usr/bin/env node
// deploy_server, built by scripts/build.js from src/cli/entry.ts (see there).
'use strict';
const path = require('node:path');
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) {
  process.stdout.write(require('node:fs').readFileSync(path.join(__dirname, 'help.txt')));
} else {
  require('./load.cjs').loadCached(path.join(__dirname, 'app.cjs')).main();
}
`;

// Run by the build in a child process: the CLI as users run it (in this process, its output discarded),
// then what V8 compiled is kept as each bundle's code cache. `warm-up.cjs DIR setup` first creates the
// database in DIR in a process of its own, so that the migrator (which a start-up needs only once per
// database) is not in the caches, which every start reads whole.
const WARM_UP = `'use strict';
const path = require('node:path');
const { Writable } = require('node:stream');
const { writeFileSync } = require('node:fs');
const loader = require('./load.cjs');
const [dir, setup] = process.argv.slice(2);
const scripts = new Map();
loader.onLoad = (filename, script) => scripts.set(filename, script);
const app = loader.loadCached(path.join(__dirname, 'app.cjs'));
(async () => {
  const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
  const context = { stdin: process.stdin, stdout: discard, stderr: discard, env: { ...process.env, DEPLOY_DB: path.join(dir, 'operations.db') }, cwd: dir, colorDepth: 1 };
  const add = ['target', 'add', '--app', 'warm', '--host', 'warm'];
  for (const argv of setup ? [add] : [['--help'], add, ['target', 'list'], ['target', 'list', '--json']]) {
    // What --help prints is kept as help.txt, which the launcher prints for it.
    const help = [];
    const stdout = argv[0] === '--help' ? new Writable({ write: (chunk, _encoding, done) => { help.push(Buffer.from(chunk)); done(); } }) : discard;
    const code = await app.runCli(argv, { ...context, stdout });
    if (code !== 0) throw new Error('warm-up: deploy_server ' + argv.join(' ') + ' exited with ' + code);
    if (help.length) writeFileSync(path.join(__dirname, 'help.txt'), Buffer.concat(help));
  }
  if (!setup) for (const [filename, script] of scripts) writeFileSync(filename + '.cache', script.createCachedData());
})();
`;

/** Imports of @mikro-orm/* (ours, or the migrations bundle's) become properties of the vendor bundles' exports, loaded once per process. */
const vendorImports = (fromDir, own = []) => ({
  name: 'vendor-imports',
  setup(b) {
    b.onResolve({ filter: /^@mikro-orm\// }, ({ path, importer }) => {
      if (own.includes(path)) return undefined;
      if (importer.includes('/node_modules/') && !own.length) return undefined;
      if (!VENDORED[path]) throw new Error(`${path} is not in a MikroORM bundle: add it to VENDORED in scripts/build.js`);
      return { path, namespace: 'vendor' };
    });
    b.onLoad({ filter: /.*/, namespace: 'vendor' }, ({ path }) => ({ contents: vendorModule(path, fromDir), loader: 'js' }));
    b.onResolve({ filter: /load\.cjs$/ }, ({ path }) => ({ path, external: true }));
  },
});

/** Packages bundled into dist/app.cjs (p-queue is an ES module only: a `require` of it fails on Node.js 20 before 20.19); the others load from node_modules. */
const BUNDLED = new Set(['clipanion', 'typanion', 'valibot', 'p-queue', 'eventemitter3', 'p-timeout']);
const externals = {
  name: 'externals',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, ({ path }) => {
      const name = path.startsWith('@') ? path.split('/').slice(0, 2).join('/') : path.split('/')[0];
      if (BUNDLED.has(name)) return undefined;
      if (requiresAnEsModule(path)) throw new Error(`${path} is an ES module only, which dist/app.cjs requires and Node.js 20 before 20.19 cannot: add ${name} to BUNDLED in scripts/build.js`);
      return { path, external: true };
    });
  },
};

const requireHere = createRequire(`${root}package.json`);
/** Whether `require(specifier)` from this package would load an ES module (as Node.js decides: .mjs, or .js under "type": "module"). */
function requiresAnEsModule(specifier) {
  if (isBuiltin(specifier)) return false;
  let file;
  try {
    file = requireHere.resolve(specifier);
  } catch {
    return true; // no CommonJS entry at all (an `exports` without a `require` condition)
  }
  if (file.endsWith('.mjs')) return true;
  if (!file.endsWith('.js')) return false;
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).type === 'module';
  }
  return false;
}

/**
 * `import.meta.url` in our sources means the source file's own URL (dashboard.ts finds web/ with it); a
 * CommonJS bundle has no import.meta. Each use becomes the source file's URL, computed from the bundle's
 * (__filename, in dist/, one level below the root), so a checkout moved elsewhere still works.
 */
const sourceUrls = {
  name: 'source-urls',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, ({ path: file }) => {
      if (file.includes('/node_modules/')) return undefined;
      const contents = readFileSync(file, 'utf8');
      if (!contents.includes('import.meta.url')) return undefined;
      const fromDist = JSON.stringify(`../${path.relative(root, file).split(path.sep).join('/')}`);
      return { contents: contents.replaceAll('import.meta.url', `new URL(${fromDist}, require('node:url').pathToFileURL(__filename)).href`), loader: 'ts' };
    });
  },
};

export async function buildCli(outdir = `${root}dist`) {
  rmSync(outdir, { recursive: true, force: true });

  await build({ ...vendorBuild, stdin: vendorEntry('mikro-orm.cjs'), outfile: `${outdir}/vendor/mikro-orm.cjs` });
  for (const [bundle, name] of [['mikro-orm-migrations.cjs', '@mikro-orm/migrations'], ['mikro-orm-postgresql.cjs', '@mikro-orm/postgresql']]) {
    await build({
      ...vendorBuild,
      stdin: vendorEntry(bundle),
      plugins: [...vendorBuild.plugins, vendorImports('../', [name])],
      outfile: `${outdir}/vendor/${bundle}`,
    });
  }
  await build({
    absWorkingDir: root,
    entryPoints: ['src/cli/entry.ts'],
    outfile: `${outdir}/app.cjs`,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // `await import('pino')` becomes a require: no ES module loader for the packages either.
    supported: { 'dynamic-import': false },
    plugins: [vendorImports('./'), externals, sourceUrls],
    keepNames: true,
    // As the vendor bundle (dist/app.cjs.map maps it back): less to read and keep, and no comment with a
    // character outside Latin-1 (p-queue's have emoji), which would make V8 keep the whole source as
    // two bytes per character.
    minifyWhitespace: !process.env.NOMIN,
    minifySyntax: !process.env.NOMIN,
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  writeFileSync(`${outdir}/package.json`, '{ "type": "commonjs" }\n');
  writeFileSync(`${outdir}/load.cjs`, LOADER);
  writeFileSync(`${outdir}/deploy_server.js`, LAUNCHER, { mode: 0o755 });
  writeFileSync(`${outdir}/warm-up.cjs`, WARM_UP);
  // `node` from PATH is not necessarily this one: the caches are for the Node.js that runs the build.
  const dir = mkdtempSync(path.join(tmpdir(), 'deploy-server-warm-up-'));
  try {
    execFileSync(process.execPath, [`${outdir}/warm-up.cjs`, dir, 'setup'], { stdio: 'inherit' });
    execFileSync(process.execPath, [`${outdir}/warm-up.cjs`, dir], { stdio: 'inherit' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildCli(process.argv[2]);
