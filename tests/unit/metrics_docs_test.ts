import assert from "node:assert/strict";
import { Metrics } from "../../src/telemetry/metrics.ts";

const DOCUMENTS = ["README.md", "docs/operations.md"] as const;
/** A metric name in the first column of a Markdown table row. */
const TABLE_METRIC = /^\|[^|]*?`(pg2kafka_[a-z_]+)/;

/** The metric names the first column of `path`'s tables list. */
async function documentedMetrics(path: string): Promise<Set<string>> {
  const text = await Deno.readTextFile(new URL(`../../${path}`, import.meta.url));
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    // A row may list several metrics: `a`, `b`.
    if (!TABLE_METRIC.test(line)) continue;
    const firstColumn = line.split("|")[1];
    for (const [, name] of firstColumn.matchAll(/`(pg2kafka_[a-z_]+)/g)) names.add(name);
  }
  return names;
}

for (const path of DOCUMENTS) {
  Deno.test(`the metrics table of ${path} lists exactly the metrics /metrics exports`, async () => {
    const exported = new Metrics().registry.getMetricsAsArray().map((metric) => metric.name);
    const documented = await documentedMetrics(path);
    assert.deepEqual([...documented].sort(), [...exported].sort());
  });
}
