// Build locally, ship the binary. sshCheck and build have no edge between them, so they overlap.
import { definePipeline } from '../src/pipeline.ts';
import { chmodBinary, healthCheck, localBuild, restartService, rsyncBinary, sshCheck } from '../src/steps/index.ts';

export default definePipeline({
  sshCheck: { run: sshCheck },
  build: { run: localBuild },
  rsync: { run: rsyncBinary, needs: ['sshCheck', 'build'] },
  chmod: { run: chmodBinary, needs: ['rsync'] },
  restart: { run: restartService, needs: ['chmod'] },
  healthCheck: { run: healthCheck, needs: ['restart'] },
});
