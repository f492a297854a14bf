// Docker Compose v2 on the host: pull the images of the checked-out compose files, then `up -d`. When
// a step after the pull fails, the compensation path resets the checkout and brings the old services up.
import { definePipeline } from '../src/engine/pipeline.ts';
import {
  composePull, composeUp, gitPull, healthCheck, resetToEarlierCommit, restorePreviousCommit, sshCheck,
  autoRollbackEnabled,
} from '../src/steps/index.ts';

export default definePipeline({
  sshCheck: { run: sshCheck },
  gitPull: { run: gitPull, needs: ['sshCheck'] },
  pull: { run: composePull, needs: ['gitPull'] },
  up: { run: composeUp, needs: ['pull'] },
  healthCheck: { run: healthCheck, needs: ['up'] },
  // The checkout moved in gitPull: whatever fails after it puts the previous commit back.
  rollback: { run: restorePreviousCommit, needs: ['gitPull'], onFailureOf: ['pull', 'up', 'healthCheck'], when: autoRollbackEnabled },
  upPrevious: { run: composeUp, needs: ['rollback'] },
  healthCheckPrevious: { run: healthCheck, needs: ['upPrevious'] },
});

/** `deploy_server rollback`: back to an earlier good commit's compose files. */
export const rollback = definePipeline({
  sshCheck: { run: sshCheck },
  resetCheckout: { run: resetToEarlierCommit, needs: ['sshCheck'] },
  up: { run: composeUp, needs: ['resetCheckout'] },
  healthCheck: { run: healthCheck, needs: ['up'] },
});
