// `npm run bench`: every benchmark, one after another, each printing its own baseline and ratios;
// with --write, the results go to BENCHMARKS.md with the machine, the date and the command.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';

const BENCHES: [string, string][] = [
  ['deploy-overhead.ts', 'One systemd-remote deploy against plain ssh'],
  ['wan-deploy.ts', 'One systemd-remote deploy against plain ssh over a link with latency'],
  ['fan-out.ts', 'Fan-out to 10, 50 and 100 hosts'],
  ['webhook-intake.ts', 'Webhook intake under load'],
  ['webhook-latency.ts', 'Webhook answer time while deploys run'],
  ['cli-and-memory.ts', 'CLI start-up and serve memory'],
  ['executor-overhead.ts', "The executor's cost per step"],
];

const sections: string[] = [];
for (const [file, title] of BENCHES) {
  console.log(`\n## ${title} (bench/${file})`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', `bench/${file}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(result.stdout);
  if (result.status !== 0) {
    console.error(`bench/${file} failed with exit code ${result.status}`);
    process.exitCode = 1;
  }
  sections.push(`## ${title}\n\n\`node --import tsx bench/${file}\`\n\n\`\`\`\n${result.stdout.trim()}\n\`\`\`\n`);
}

if (process.argv.includes('--write')) {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const header = [
    '# Benchmarks',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- --write\` on ${os.type()} ${os.release()}, ${os.cpus().length} × ${cpu},`,
    `${Math.round(os.totalmem() / 2 ** 30)} GiB, Node.js ${process.version}. Every "host" is an alias of one OpenSSH sshd on 127.0.0.1`,
    '(the test harness of test/helpers/sshd.ts, run as root), so the hosts share these cores with deploy_server itself.',
    'Each benchmark runs its baseline in the same invocation.',
    '',
  ].join('\n');
  writeFileSync('BENCHMARKS.md', `${header}\n${sections.join('\n')}`);
  console.log('\nwrote BENCHMARKS.md');
}
