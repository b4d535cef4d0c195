/**
 * The operator's files in deploy/: the Prometheus alert rules (checked and
 * unit-tested with promtool, Debian package `prometheus`) and the systemd unit
 * (verified with systemd-analyze when it is there).
 */
import assert from "node:assert/strict";
import { Metrics } from "../../src/telemetry/metrics.ts";
import { needs, run, toolMissing } from "../fixtures/tools.ts";

const DEPLOY = new URL("../../deploy/", import.meta.url).pathname;
const RULES = `${DEPLOY}prometheus/pg2kafka_alerts.yml`;
const UNIT = `${DEPLOY}systemd/pg2kafka.service`;
const INSTALLED_BINARY = "/usr/local/bin/pg2kafka";

const promtool = toolMissing("promtool", ["--version"], "prometheus", {
  installedByTestScript: true,
});

Deno.test({
  ...needs(promtool, "promtool check rules accepts the alert rules"),
  fn: async () => {
    const result = await run("promtool", ["check", "rules", RULES]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /SUCCESS: 10 rules found/);
  },
});

Deno.test({
  ...needs(promtool, "promtool test rules: each alert fires past its threshold and not below"),
  fn: async () => {
    const result = await run(
      "promtool",
      ["test", "rules", "pg2kafka_alerts_test.yml"],
      `${DEPLOY}prometheus`,
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /SUCCESS/);
  },
});

Deno.test("the alert rules name only metrics pg2kafka exports", async () => {
  const rules = (await Deno.readTextFile(RULES)).split("\n")
    .filter((line) => !line.trimStart().startsWith("#")).join("\n");
  const used = new Set(rules.match(/\bpg2kafka_[a-z_]+\b/g));
  const exported = new Set(
    (await new Metrics().registry.getMetricsAsJSON()).map(({ name }) => name),
  );
  const unknown = [...used].filter((name) => !exported.has(name));
  assert.deepEqual(unknown, []);
  assert.deepEqual([...used].sort(), [
    "pg2kafka_changes_total",
    "pg2kafka_circuit_state",
    "pg2kafka_kafka_reachable",
    "pg2kafka_replication_lag_seconds",
    "pg2kafka_slot_retained_wal_bytes",
    "pg2kafka_source_failed",
    "pg2kafka_source_paused",
    "pg2kafka_source_standby",
    "pg2kafka_source_streaming",
  ]);
});

const systemdAnalyze = toolMissing("systemd-analyze", ["--version"], "systemd");

Deno.test({
  // systemd-analyze is checked when present, in CI too: the unit is plain text
  // that only systemd machines use.
  ...needs(systemdAnalyze, "systemd-analyze verify accepts the unit without a warning"),
  ignore: systemdAnalyze !== null,
  fn: async () => {
    // verify checks that ExecStart exists: point it at a stand-in while the
    // binary is not installed here.
    const dir = await Deno.makeTempDir({ prefix: "pg2kafka-unit-" });
    try {
      const standIn = `${dir}/pg2kafka`;
      await Deno.writeTextFile(standIn, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
      const unit = (await Deno.readTextFile(UNIT)).replaceAll(INSTALLED_BINARY, standIn);
      assert.ok(unit.includes(standIn), `the unit runs ${INSTALLED_BINARY}`);
      await Deno.writeTextFile(`${dir}/pg2kafka.service`, unit);
      const result = await run("systemd-analyze", ["verify", `${dir}/pg2kafka.service`]);
      assert.equal(result.code, 0, result.stderr);
      // Unknown or misspelt keys are only warnings: none are allowed.
      assert.equal(result.stderr.trim(), "");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the unit restarts on failure, hardens the service and takes secrets from a file", async () => {
  const unit = await Deno.readTextFile(UNIT);
  const settings = new Map(
    unit.split("\n").filter((line) => /^[A-Z]\w+=/.test(line)).map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1)] as const;
    }),
  );
  assert.equal(settings.get("Restart"), "on-failure");
  assert.equal(settings.get("RestartPreventExitStatus"), "2");
  assert.equal(settings.get("EnvironmentFile"), "/etc/pg2kafka/env");
  assert.equal(
    settings.get("ExecStart"),
    `${INSTALLED_BINARY} run --config /etc/pg2kafka/pg2kafka.toml`,
  );
  for (
    const [key, value] of [
      ["NoNewPrivileges", "yes"],
      ["ProtectSystem", "strict"],
      ["ProtectHome", "yes"],
      ["PrivateTmp", "yes"],
      ["CapabilityBoundingSet", ""],
    ]
  ) {
    assert.equal(settings.get(key), value, key);
  }
  assert.ok(!unit.includes("PASSWORD="), "no secret in the unit itself");
  // Longer than the default [shutdown] grace_period (30 s), so a drain is never cut short.
  assert.ok(Number(settings.get("TimeoutStopSec")) > 30);
});
