// Docker Compose v2 on the host: pull the images of the checked-out compose files, then `up -d`.
import { definePipeline } from '../src/pipeline.ts';
import { composePull, composeUp, gitPull, healthCheck, sshCheck } from '../src/steps/index.ts';

export default definePipeline({
  sshCheck: { run: sshCheck },
  gitPull: { run: gitPull, needs: ['sshCheck'] },
  pull: { run: composePull, needs: ['gitPull'] },
  up: { run: composeUp, needs: ['pull'] },
  healthCheck: { run: healthCheck, needs: ['up'] },
});
