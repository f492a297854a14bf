// Build locally, ship the binary as a release. sshCheck and build have no edge between them, so they
// overlap. When a step after the switch fails, the compensation path puts the previous release back.
import { definePipeline } from '../src/engine/pipeline.ts';
import {
  chmodBinary, healthCheck, localBuild, restartService, restorePreviousRelease, rsyncBinary, sshCheck, switchToEarlierRelease,
  autoRollbackEnabled,
} from '../src/steps/index.ts';

export default definePipeline({
  sshCheck: { run: sshCheck },
  build: { run: localBuild },
  rsync: { run: rsyncBinary, needs: ['sshCheck', 'build'] },
  chmod: { run: chmodBinary, needs: ['rsync'] },
  restart: { run: restartService, needs: ['chmod'] },
  healthCheck: { run: healthCheck, needs: ['restart'] },
  // The link switched in rsync: whatever fails after it puts the previous release back.
  rollback: { run: restorePreviousRelease, needs: ['rsync'], onFailureOf: ['chmod', 'restart', 'healthCheck'], when: autoRollbackEnabled },
  restartPrevious: { run: restartService, needs: ['rollback'] },
  healthCheckPrevious: { run: healthCheck, needs: ['restartPrevious'] },
});

/** `deploy_server rollback`: back to an earlier release, through the same lock and history. */
export const rollback = definePipeline({
  sshCheck: { run: sshCheck },
  switchRelease: { run: switchToEarlierRelease, needs: ['sshCheck'] },
  restart: { run: restartService, needs: ['switchRelease'] },
  healthCheck: { run: healthCheck, needs: ['restart'] },
});
