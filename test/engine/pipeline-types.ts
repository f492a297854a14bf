// Checked by `tsc --noEmit` (part of `npm test`): the @ts-expect-error lines must be errors.
import { definePipeline, type StepContext } from '../../src/engine/pipeline.ts';

const build = async (_: StepContext) => ({ artifactPath: '/tmp/app' });
const ship = async ({ results }: StepContext<{ build: { artifactPath: string } }>) => results.build.artifactPath.length;

definePipeline({
  build: { run: build },
  ship: { run: ship, needs: ['build'] },
});

definePipeline({
  build: { run: build },
  // @ts-expect-error -- 'bild' names no step of this pipeline
  ship: { run: ship, needs: ['bild'] },
});

definePipeline({
  build: { run: build },
  // @ts-expect-error -- ship reads results.build but does not need build
  ship: { run: ship },
});

definePipeline({
  build: { run: async () => ({ artifactPath: 42 }) },
  // @ts-expect-error -- build's result has the wrong type for ship
  ship: { run: ship, needs: ['build'] },
});

definePipeline({
  build: { run: build },
  // @ts-expect-error -- onFailureOf names no step of this pipeline either
  undo: { run: build, onFailureOf: ['biuld'] },
});
