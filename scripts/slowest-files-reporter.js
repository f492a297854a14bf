// A test reporter, second to spec in `npm test`: at the end of the run, the number of test files and
// the ten slowest with their wall time (the runner reports each file as a test named by its path when
// the file's process ends). Plain JavaScript: node loads reporters before tsx is registered.
import path from 'node:path';

export default async function* slowestFiles(source) {
  const seconds = new Map();
  for await (const event of source) {
    const { name, file, nesting, details } = event.data ?? {};
    if (event.type === 'test:complete' && nesting === 0 && file !== undefined && name === file && details?.duration_ms !== undefined) {
      seconds.set(path.relative(process.cwd(), file), details.duration_ms / 1000);
    }
  }
  const slowest = [...seconds].sort((a, b) => b[1] - a[1]).slice(0, 10);
  yield `\nslowest of ${seconds.size} test files:\n${slowest.map(([file, s]) => `  ${s.toFixed(1).padStart(6)} s  ${file}`).join('\n')}\n`;
}
