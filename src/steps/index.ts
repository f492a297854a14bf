// The step bodies of the strategy pipelines in pipelines/.
export { sshCheck } from './ssh-check.ts';
export { localBuild, remoteBuild, remoteBuildCommands, type BuildArtifact } from './build.ts';
export { rsyncBinary, chmodBinary, RSYNC_COMMANDS } from './rsync.ts';
export { restorePreviousRelease, restorePreviousCommit, switchToEarlierRelease, resetToEarlierCommit, autoRollbackEnabled, ROLLBACK_CHOICE_COMMANDS } from './rollback.ts';
export { restartService, gitPull, composePull, composeUp } from './service.ts';
export { healthCheck, healthCheckCommands } from './health-check.ts';
