import type { Strategy } from '../src/db/entities/DeployTarget.ts';
import type { Pipeline } from '../src/engine/pipeline.ts';
import systemd, { rollback as systemdRollback } from './systemd.ts';
import systemdRemote, { rollback as systemdRemoteRollback } from './systemd-remote.ts';
import dockerCompose, { rollback as dockerComposeRollback } from './docker-compose.ts';

/** Each strategy's deploy pipeline, and the pipeline of its rollback runs. */
export const pipelines: Record<Strategy, { deploy: Pipeline; rollback: Pipeline }> = {
  systemd: { deploy: systemd, rollback: systemdRollback },
  'systemd-remote': { deploy: systemdRemote, rollback: systemdRemoteRollback },
  'docker-compose': { deploy: dockerCompose, rollback: dockerComposeRollback },
};
