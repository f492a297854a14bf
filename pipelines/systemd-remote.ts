// Build on the host from its git checkout. When a step after the pull fails, the compensation path resets
// the checkout to the commit it came from, rebuilds and restarts.
import { definePipeline } from '../src/engine/pipeline.ts';
import {
  gitPull, healthCheck, remoteBuild, resetToEarlierCommit, restartService, restorePreviousCommit, sshCheck,
  autoRollbackEnabled,
} from '../src/steps/index.ts';

export default definePipeline({
  sshCheck: { run: sshCheck },
  gitPull: { run: gitPull, needs: ['sshCheck'] },
  build: { run: remoteBuild, needs: ['gitPull'] },
  restart: { run: restartService, needs: ['build'] },
  healthCheck: { run: healthCheck, needs: ['restart'] },
  // The checkout moved in gitPull: whatever fails after it puts the previous commit back.
  rollback: { run: restorePreviousCommit, needs: ['gitPull'], onFailureOf: ['build', 'restart', 'healthCheck'], when: autoRollbackEnabled },
  buildPrevious: { run: remoteBuild, needs: ['rollback'] },
  restartPrevious: { run: restartService, needs: ['buildPrevious'] },
  healthCheckPrevious: { run: healthCheck, needs: ['restartPrevious'] },
});

/** `deploy_server rollback`: back to an earlier good commit, rebuilt and restarted. */
export const rollback = definePipeline({
  sshCheck: { run: sshCheck },
  resetCheckout: { run: resetToEarlierCommit, needs: ['sshCheck'] },
  build: { run: remoteBuild, needs: ['resetCheckout'] },
  restart: { run: restartService, needs: ['build'] },
  healthCheck: { run: healthCheck, needs: ['restart'] },
});
