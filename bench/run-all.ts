// `npm run bench`: every benchmark, one after another, each printing its figures beside its own baseline
// (measured in the same invocation); at the end it prints the whole of BENCHMARKS.md as it would be written:
// the machine, the date, and every section. With --write, that goes to BENCHMARKS.md too.
// `npm run bench` builds dist/ first: the CLI benchmarks run the built deploy_server, as users do.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';

const BENCHES: [string, string][] = [
  ['deploy-overhead.ts', 'One systemd-remote deploy against plain ssh'],
  ['wan-deploy.ts', 'One systemd-remote deploy against plain ssh over a link with latency'],
  ['fan-out.ts', 'Fan-out to 100 hosts at limit 16 and 200 at limit 64 over a 50 ms link'],
  ['webhook-intake.ts', 'Webhook intake under load'],
  ['webhook-latency.ts', 'Webhook answer time while deploys run'],
  ['history-reads.ts', "The runs' reads against the history's size"],
  ['cli-and-memory.ts', 'CLI start-up and serve memory'],
  ['executor-overhead.ts', "The executor's cost per step"],
  ['multi-server.ts', 'SQLite with one server against PostgreSQL with one and two'],
];

const loadBefore = os.loadavg()[0];
const sections: string[] = [];
for (const [file, title] of BENCHES) {
  console.error(`\n## ${title} (bench/${file})`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', `bench/${file}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stderr.write(result.stdout);
  if (result.status !== 0) {
    console.error(`bench/${file} failed with exit code ${result.status}`);
    process.exitCode = 1;
  }
  sections.push(`## ${title}\n\n\`node --import tsx bench/${file}\`\n\n\`\`\`\n${result.stdout.trim()}\n\`\`\`\n`);
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const header = [
  '# Benchmarks',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- --write\` on ${os.type()} ${os.release()}, ${os.cpus().length} × ${cpu},`,
  `${Math.round(os.totalmem() / 2 ** 30)} GiB, Node.js ${process.version}. Every "host" is an alias of one OpenSSH sshd on 127.0.0.1`,
  '(the test harness of test/helpers/sshd.ts, run as root), so the hosts share these cores with deploy_server itself.',
  `Load average (1 min) ${loadBefore.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end: absolute times scale with it, ratios much less.`,
  'Each figure is shown beside its baseline, measured in the same invocation (interleaved where it can be).',
  '',
].join('\n');
const document = `${header}\n${sections.join('\n')}`;
console.log(`\n${document}`);
if (process.argv.includes('--write')) {
  writeFileSync('BENCHMARKS.md', document);
  console.error('wrote BENCHMARKS.md');
}
