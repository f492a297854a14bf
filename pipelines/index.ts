import type { Strategy } from '../src/entities/DeployTarget.ts';
import type { Pipeline } from '../src/pipeline.ts';
import systemd from './systemd.ts';
import systemdRemote from './systemd-remote.ts';
import dockerCompose from './docker-compose.ts';

/** The pipeline of each strategy. */
export const pipelines: Record<Strategy, Pipeline> = {
  systemd,
  'systemd-remote': systemdRemote,
  'docker-compose': dockerCompose,
};
