/**
 * `pg2kafka check --connect`, Kafka side: the brokers answer, the broker
 * accepts messages as large as the config allows, and every topic the
 * targets can write (and the dead-letter topic) exists or will be created,
 * by pg2kafka (`create_topics`, validated with a validate-only request) or
 * by the broker (`auto.create.topics.enable`). Nothing is created.
 *
 * @module
 */
import { type Admin, ConfigResourceTypes } from "kafkajs";
import type { Config } from "../config/mod.ts";
import { createKafka } from "../kafka/client.ts";
import { isValidTopic } from "../kafka/topics.ts";
import type { CheckLine } from "./check_line.ts";

/** The topics the config can write. */
export interface TopicPlan {
  /** Each topic with the targets that write it (`dead-letter topic` for that one). */
  readonly topics: ReadonlyMap<string, readonly string[]>;
  /** Rendered names Kafka would refuse: their changes would be dead-lettered. */
  readonly invalid: readonly { readonly target: string; readonly topic: string }[];
  /** Targets whose topics depend on tables the config does not list (`tables = ["*"]`). */
  readonly unlisted: readonly string[];
}

/** Everything the Kafka verdicts are based on, for a reachable cluster. */
export interface KafkaFacts {
  readonly brokers: number;
  readonly existing: ReadonlySet<string>;
  /** The broker's `auto.create.topics.enable`, or null when it could not be read. */
  readonly autoCreate: boolean | null;
  /** The broker's `message.max.bytes`, or null when it could not be read. */
  readonly messageMaxBytes: number | null;
  /** Missing topics with why a validate-only creation failed (null: it would succeed). */
  readonly creatable: ReadonlyMap<string, string | null>;
}

/** Why the cluster could not be used at all. */
export interface KafkaUnavailable {
  readonly status: "unreachable" | "fail";
  readonly error: string;
}

const DEAD_LETTER = "dead-letter topic";
/** Longest the check waits for one Kafka request: it should answer quickly or not at all. */
const CHECK_REQUEST_TIMEOUT_MS = 10_000;
/** One quick retry: enough for a broker that is starting, short for one that is down. */
const CHECK_RETRY = { retries: 1, initialRetryTime: 200, maxRetryTime: 1_000 };
const SUBJECT = "kafka";

/**
 * The topics `config`'s targets can write, rendered for each source and
 * each listed table and operation they match.
 */
export function planTopics(config: Config): TopicPlan {
  const topics = new Map<string, string[]>([[config.kafka.deadLetterTopic, [DEAD_LETTER]]]);
  const invalid: { target: string; topic: string }[] = [];
  const unlisted = new Set<string>();
  const add = (topic: string, target: string) => {
    if (!isValidTopic(topic)) {
      const seen = invalid.some((entry) => entry.target === target && entry.topic === topic);
      if (!seen) invalid.push({ target, topic });
      return;
    }
    const writers = topics.get(topic) ?? [];
    if (!writers.includes(target)) writers.push(target);
    topics.set(topic, writers);
  };
  for (const target of config.targets) {
    for (const source of config.sources) {
      if (target.sources.length > 0 && !target.sources.includes(source.name)) continue;
      if (target.mode === "transaction") {
        // The config allows only {source} in a transaction target's topic.
        add(target.topicFor(source.name, "", "", "insert"), target.name);
      } else if (source.tables === "all") {
        unlisted.add(target.name);
      } else {
        for (const { schema, table } of source.tables) {
          if (!target.matchesTable(schema, table)) continue;
          for (const op of target.ops) {
            add(target.topicFor(source.name, schema, table, op), target.name);
          }
        }
      }
    }
  }
  return { topics, invalid, unlisted: [...unlisted] };
}

/** Connects to the brokers and gathers the facts, read-only. */
export async function gatherKafkaFacts(
  config: Config,
  plan: TopicPlan,
): Promise<KafkaFacts | KafkaUnavailable> {
  const timeout = Math.min(config.kafka.requestTimeoutMs, CHECK_REQUEST_TIMEOUT_MS);
  const kafka = createKafka({ ...config.kafka, requestTimeoutMs: timeout }, CHECK_RETRY);
  const admin = kafka.admin({ retry: CHECK_RETRY });
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    const existing = new Set(await admin.listTopics());
    const broker = await brokerSettings(admin, cluster.brokers[0]?.nodeId);
    const missing = [...plan.topics.keys()].filter((topic) => !existing.has(topic));
    const creatable = config.kafka.createTopics
      ? await validateCreation(admin, config, missing)
      : new Map(missing.map((topic) => [topic, null]));
    return { brokers: cluster.brokers.length, existing, ...broker, creatable };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const refused = /SASL|authenticat|authoriz/i.test(`${(error as Error)?.name} ${message}`);
    return { status: refused ? "fail" : "unreachable", error: message };
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function brokerSettings(admin: Admin, nodeId: number | undefined) {
  if (nodeId === undefined) return { autoCreate: null, messageMaxBytes: null };
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{
        type: ConfigResourceTypes.BROKER,
        name: String(nodeId),
        configNames: ["auto.create.topics.enable", "message.max.bytes"],
      }],
    });
    const entries = new Map(
      resources[0].configEntries.map((entry) => [entry.configName, entry.configValue]),
    );
    const maxBytes = entries.get("message.max.bytes");
    const autoCreate = entries.get("auto.create.topics.enable");
    return {
      autoCreate: autoCreate === undefined ? null : autoCreate === "true",
      messageMaxBytes: maxBytes === undefined ? null : Number(maxBytes),
    };
  } catch {
    return { autoCreate: null, messageMaxBytes: null };
  }
}

/** Asks the controller whether each missing topic could be created, creating none. */
async function validateCreation(
  admin: Admin,
  config: Config,
  missing: readonly string[],
): Promise<Map<string, string | null>> {
  const verdicts = new Map<string, string | null>();
  for (const topic of missing) {
    try {
      await admin.createTopics({
        validateOnly: true,
        waitForLeaders: false,
        topics: [{
          topic,
          numPartitions: config.kafka.topicPartitions,
          replicationFactor: config.kafka.topicReplicationFactor,
        }],
      });
      verdicts.set(topic, null);
    } catch (error) {
      verdicts.set(topic, error instanceof Error ? error.message : String(error));
    }
  }
  return verdicts;
}

/** The verdicts on the cluster and the topics, one line each, from the facts. */
export function judgeKafka(config: Config, plan: TopicPlan, facts: KafkaFacts): CheckLine[] {
  const line = (status: CheckLine["status"], text: string): CheckLine => ({
    status,
    subject: SUBJECT,
    text,
  });
  const lines = [
    line("ok", `reachable at ${config.kafka.brokers.join(", ")} (${facts.brokers} broker(s))`),
    ...judgeMessageSize(config, facts, line),
  ];
  const present = [...plan.topics.keys()].filter((topic) => facts.existing.has(topic));
  if (present.length > 0) lines.push(line("ok", `topics exist: ${present.join(", ")}`));
  for (const [topic, error] of facts.creatable) {
    lines.push(judgeMissingTopic(config, facts, topic, error, plan.topics.get(topic) ?? [], line));
  }
  for (const { target, topic } of plan.invalid) {
    lines.push(line(
      "fail",
      `target ${target} renders the topic "${topic}", which Kafka refuses: its changes would ` +
        "go to the dead-letter topic",
    ));
  }
  for (const target of plan.unlisted) {
    lines.push(line(
      "skip",
      `topics of target ${target} depend on tables the config does not list (tables = ["*"])`,
    ));
  }
  return lines;
}

function judgeMessageSize(
  config: Config,
  facts: KafkaFacts,
  line: (status: CheckLine["status"], text: string) => CheckLine,
): CheckLine[] {
  if (facts.messageMaxBytes === null) return [];
  const largest = Math.max(
    config.kafka.maxMessageBytes,
    ...config.targets.map((target) => target.maxMessageBytes),
  );
  if (largest <= facts.messageMaxBytes) return [];
  return [line(
    "warn",
    `max_message_bytes allows ${largest} bytes, but the broker's message.max.bytes is ` +
      `${facts.messageMaxBytes}: larger messages will be refused and dead-lettered`,
  )];
}

function judgeMissingTopic(
  config: Config,
  facts: KafkaFacts,
  topic: string,
  error: string | null,
  writers: readonly string[],
  line: (status: CheckLine["status"], text: string) => CheckLine,
): CheckLine {
  const name = `topic ${topic} (${writers.join(", ")})`;
  if (config.kafka.createTopics) {
    if (error === null) return line("ok", `${name} does not exist yet; pg2kafka will create it`);
    return line("fail", `${name} does not exist and cannot be created: ${error}`);
  }
  if (facts.autoCreate === true) {
    return line("ok", `${name} does not exist yet; the broker creates it on first use`);
  }
  const why = facts.autoCreate === false
    ? "the broker's auto.create.topics.enable is false"
    : "the broker's auto.create.topics.enable could not be read";
  return line(
    "fail",
    `${name} does not exist, create_topics = false and ${why}: create it or set create_topics = true`,
  );
}
