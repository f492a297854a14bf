// The step bodies of the strategy pipelines in pipelines/.
export { sshCheck } from './ssh-check.ts';
export { localBuild, remoteBuild, type BuildArtifact } from './build.ts';
export { rsyncBinary, chmodBinary } from './rsync.ts';
export { restorePreviousRelease, restorePreviousCommit, switchToEarlierRelease, resetToEarlierCommit, autoRollbackEnabled } from './rollback.ts';
export { restartService, gitPull, composePull, composeUp } from './service.ts';
export { healthCheck } from './health-check.ts';
