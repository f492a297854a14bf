// Starts the test sshd (test/helpers/sshd.ts) and keeps it running until Ctrl-C, printing the env to
// use it from a shell: for trying deploy_server by hand against a real SSH host on loopback.
//   node --import tsx bench/start-sshd.ts
import { startSshdHarness } from '../test/helpers/sshd.ts';

const harness = await startSshdHarness({ aliases: ['vps1'] });
console.log(`sshd on 127.0.0.1:${harness.port}, alias vps1, user ${harness.user}`);
console.log(`export HOME=${harness.home} DEPLOY_UNIT_DIR=${harness.unitDir}`);
console.log(`work dir (owned by ${harness.user}): ${harness.workDir}`);
const stop = async () => {
  await harness.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
setInterval(() => undefined, 1 << 30);
