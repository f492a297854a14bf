// A strict reader of Prometheus' text exposition format (0.0.4), written from its rules and not from
// prom-client, so that the tests check what a Prometheus server would accept.
import assert from 'node:assert/strict';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help?: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

/**
 * A Go float: Prometheus reads values with strconv.ParseFloat, which takes NaN and Inf in any case
 * (prom-client writes an empty event-loop histogram's mean as `Nan`).
 */
function parseValue(raw: string, line: string): number {
  if (/^\+?inf(inity)?$/i.test(raw)) return Infinity;
  if (/^-inf(inity)?$/i.test(raw)) return -Infinity;
  if (/^nan$/i.test(raw)) return NaN;
  assert.match(raw, /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, `a float value: ${line}`);
  return Number(raw);
}

/** `{a="x",b="y\"z"}` from position 0 of `text`: the labels and where the block ends. */
function parseLabels(text: string, line: string): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = 1;
  while (text[i] !== '}') {
    const name = /^[^=]*/.exec(text.slice(i))![0];
    assert.match(name, LABEL_NAME, `label name "${name}": ${line}`);
    assert.ok(!name.startsWith('__'), `reserved label name: ${line}`);
    i += name.length;
    assert.equal(text.slice(i, i + 2), '="', `label ${name} needs ="…": ${line}`);
    i += 2;
    let value = '';
    for (;;) {
      assert.ok(i < text.length, `unterminated label value: ${line}`);
      const c = text[i];
      if (c === '"') break;
      if (c === '\\') {
        const next = text[i + 1];
        assert.ok(next === '\\' || next === '"' || next === 'n', `bad escape \\${next}: ${line}`);
        value += next === 'n' ? '\n' : next;
        i += 2;
      } else {
        assert.notEqual(c, '\n');
        value += c;
        i += 1;
      }
    }
    i += 1;
    assert.ok(!(name in labels), `label ${name} twice: ${line}`);
    labels[name] = value;
    if (text[i] === ',') i += 1;
    else assert.equal(text[i], '}', `"," or "}" after a label: ${line}`);
  }
  return { labels, end: i + 1 };
}

/** The families of a /metrics body; fails the test at the first line that breaks a rule. */
export function parsePrometheusText(body: string): Map<string, Family> {
  assert.ok(body.endsWith('\n'), 'the body ends with a newline');
  const families = new Map<string, Family>();
  const seenSamples = new Set<string>();
  const closed = new Set<string>();
  let current: Family | undefined;

  const familyOf = (sample: string): Family | undefined => {
    for (const suffix of ['', '_bucket', '_sum', '_count']) {
      if (!sample.endsWith(suffix)) continue;
      const family = families.get(sample.slice(0, sample.length - suffix.length));
      if (!family) continue;
      if (suffix === '' || family.type === 'histogram' || (family.type === 'summary' && suffix !== '_bucket')) return family;
    }
    return undefined;
  };

  for (const line of body.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      assert.match(name, METRIC_NAME, `metric name: ${line}`);
      let family = families.get(name);
      if (!family) {
        assert.ok(!closed.has(name), `${name} appears again after other metrics: ${line}`);
        if (current) closed.add(current.name);
        family = { name, type: 'untyped', samples: [] };
        families.set(name, family);
        current = family;
      }
      assert.equal(family, current, `HELP/TYPE of ${name} away from its family: ${line}`);
      if (kind === 'HELP') {
        assert.equal(family.help, undefined, `a second HELP for ${name}`);
        family.help = rest;
      } else {
        assert.ok(TYPES.includes(rest), `unknown type: ${line}`);
        assert.equal(family.samples.length, 0, `TYPE of ${name} after its samples`);
        family.type = rest as Family['type'];
      }
      continue;
    }
    if (line.startsWith('#')) continue; // a comment
    const name = /^[^{ ]*/.exec(line)![0];
    assert.match(name, METRIC_NAME, `sample name: ${line}`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      const parsed = parseLabels(rest, line);
      labels = parsed.labels;
      rest = rest.slice(parsed.end);
    }
    const fields = rest.trim().split(' ');
    assert.ok(rest.startsWith(' ') && fields.length >= 1 && fields.length <= 2, `value (and timestamp) after the name: ${line}`);
    if (fields[1] !== undefined) assert.match(fields[1], /^-?\d+$/, `timestamp: ${line}`);
    const family = familyOf(name);
    assert.ok(family, `${name} has no TYPE/HELP before it: ${line}`);
    assert.equal(family, current, `${name} is not with its family: ${line}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!seenSamples.has(key), `duplicate sample: ${line}`);
    seenSamples.add(key);
    if (name.endsWith('_bucket') && family.type === 'histogram') assert.ok('le' in labels, `a bucket without le: ${line}`);
    family.samples.push({ name, labels, value: parseValue(fields[0], line) });
  }
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** Buckets cumulative in ascending `le`, ending with +Inf equal to _count, per label set. */
function checkHistogram(family: Family): void {
  const series = new Map<string, Sample[]>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    series.set(key, [...(series.get(key) ?? []), sample]);
  }
  for (const samples of series.values()) {
    const buckets = samples.filter((s) => s.name === `${family.name}_bucket`);
    const count = samples.find((s) => s.name === `${family.name}_count`);
    assert.ok(count && samples.some((s) => s.name === `${family.name}_sum`), `${family.name}: _sum and _count`);
    const les = buckets.map((b) => parseValue(b.labels.le, b.labels.le));
    assert.deepEqual(les, [...les].sort((a, b) => a - b), `${family.name}: le ascending`);
    assert.equal(les.at(-1), Infinity, `${family.name}: a +Inf bucket`);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, `${family.name}: cumulative buckets`);
    assert.equal(buckets.at(-1)!.value, count.value, `${family.name}: +Inf bucket equals _count`);
  }
}

/**
 * The value of the sample `name` whose labels include `labels`: 0 when the metric is exposed but no
 * sample has those labels (a labelled counter not incremented yet). A name no family exposes throws,
 * so that an assertion of 0 cannot pass on a misspelt or removed metric.
 */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  let exposed = false;
  for (const family of families.values()) {
    if (name !== family.name && !name.startsWith(`${family.name}_`)) continue;
    exposed = true;
    for (const sample of family.samples) {
      if (sample.name === name && Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) return sample.value;
    }
  }
  if (!exposed) throw new Error(`no metric family exposes ${name}`);
  return 0;
}
