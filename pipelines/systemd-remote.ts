// Build on the host from its git checkout.
import { definePipeline } from '../src/pipeline.ts';
import { gitPull, healthCheck, remoteBuild, restartService, sshCheck } from '../src/steps/index.ts';

export default definePipeline({
  sshCheck: { run: sshCheck },
  gitPull: { run: gitPull, needs: ['sshCheck'] },
  build: { run: remoteBuild, needs: ['gitPull'] },
  restart: { run: restartService, needs: ['build'] },
  healthCheck: { run: healthCheck, needs: ['restart'] },
});
