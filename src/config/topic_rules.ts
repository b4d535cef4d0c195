/**
 * Rules on the topics of a whole config, which no single key can check: a
 * target writing into the dead-letter or progress topic or into one of
 * Kafka's internal topics (`__…`) is refused, and so are two targets
 * certain to send the same changes to one topic (each would arrive twice).
 * Two targets sharing a topic can be legitimate (other tables, `where` or
 * `ops`), so that is a warning: {@linkcode topicWarnings}.
 *
 * Messages name paths, never topics: a topic may come from a secret variable.
 *
 * @module
 */
import type { z } from "zod";
import { refinementIssue } from "./leaves.ts";
import type { TableName } from "./tables.ts";
import type { Config } from "./types.ts";

/** Kafka's internal topics (`__consumer_offsets`, `__transaction_state`) start so. */
const INTERNAL_PREFIX = "__";
/** The ops every format's default takes (Debezium's leaves truncate out). */
const OPS_OF_EVERY_DEFAULT = ["insert", "update", "delete", "snapshot"];
/** A `{placeholder}` in a topic template. */
const PLACEHOLDER = /\{[a-z]+\}/;

/** The parts of a validated target the rules read. */
interface TopicTarget {
  sources: string[];
  tables: TableName[];
  /** Left out: the format's default (every op; Debezium's without truncate). */
  ops?: string[];
  /** The effective template (the mode's default when the config names none). */
  topic: string;
  where: string;
}

/** The parts of the validated config the rules read. */
export interface TopicRulesInput {
  kafka: { dead_letter_topic: string; progress_topic: string };
  targets: TopicTarget[];
}

/** Checks the topic rules, adding an issue per broken rule to `context`. */
export function checkTopicRules(config: TopicRulesInput, context: z.RefinementCtx): void {
  const { dead_letter_topic: deadLetter, progress_topic: progress } = config.kafka;
  const add = (path: (string | number)[], message: string) =>
    context.issues.push(refinementIssue(path, message));
  if (deadLetter.startsWith(INTERNAL_PREFIX)) {
    add(["kafka", "dead_letter_topic"], internalMessage());
  }
  if (progress.startsWith(INTERNAL_PREFIX)) add(["kafka", "progress_topic"], internalMessage());
  if (progress === deadLetter) {
    add(["kafka", "progress_topic"], "expected a topic other than kafka.dead_letter_topic");
  }
  for (const [index, target] of config.targets.entries()) {
    const path = ["targets", index, "topic"];
    if (target.topic.startsWith(INTERNAL_PREFIX)) add(path, internalMessage());
    const fixed = !PLACEHOLDER.test(target.topic);
    if (fixed && target.topic === deadLetter) {
      add(
        path,
        "expected a topic other than kafka.dead_letter_topic (dead letters would mix " +
          "with the data)",
      );
    }
    if (fixed && target.topic === progress) {
      add(path, "expected a topic other than kafka.progress_topic (pg2kafka's own records)");
    }
    const twin = config.targets.findIndex((other, before) =>
      before < index && other.topic === target.topic && certainlyDuplicates(other, target)
    );
    if (twin !== -1) {
      add(
        path,
        `expected a topic no other target sends the same changes to: targets[${twin}] ` +
          "sends every change of the same table to this topic too, so each would arrive twice " +
          "(give one a where, other ops or another topic)",
      );
    }
  }
}

function internalMessage(): string {
  return `expected a topic not starting with "${INTERNAL_PREFIX}", which Kafka reserves for ` +
    "its internal topics (__consumer_offsets, __transaction_state)";
}

/**
 * Whether two targets surely send some change twice: no `where` on either,
 * a source, an op and a table pattern in common.
 */
function certainlyDuplicates(a: TopicTarget, b: TopicTarget): boolean {
  if (a.where.trim() !== "" || b.where.trim() !== "") return false;
  const sources = a.sources.length === 0 || b.sources.length === 0 ||
    a.sources.some((source) => b.sources.includes(source));
  const opsOf = (target: TopicTarget) => target.ops ?? OPS_OF_EVERY_DEFAULT;
  const ops = opsOf(a).some((op) => opsOf(b).includes(op));
  const tables = a.tables.some((x) =>
    b.tables.some((y) => x.schema === y.schema && x.table === y.table)
  );
  return sources && ops && tables;
}

/**
 * Warnings about a config that loads but may not do what was meant: targets
 * sharing a topic (refused at load only when they surely duplicate).
 *
 * @example
 * ```ts
 * for (const warning of topicWarnings(config)) console.warn(warning);
 * ```
 */
export function topicWarnings(config: Config): string[] {
  const warnings: string[] = [];
  for (const [index, target] of config.targets.entries()) {
    const first = config.targets.findIndex((other) => other.topic === target.topic);
    if (first === index) continue;
    warnings.push(
      `targets[${index}].topic is the topic of targets[${first}] too: a change both take ` +
        "arrives twice, unless their tables, ops or where keep them apart",
    );
  }
  return warnings;
}
