/**
 * Assembles and runs the pipeline of a config: the Kafka sink, one
 * {@linkcode Source} per configured source, the in-flight budget, metrics and
 * HTTP, and the shutdown sequence (DESIGN invariant 8).
 *
 * @module
 */
import type { Config, SourceConfig, TargetConfig } from "./config/mod.ts";
import { createKafka } from "./kafka/client.ts";
import { KafkaSink } from "./kafka/sink.ts";
import { logger } from "./ops/log.ts";
import { Metrics } from "./ops/metrics.ts";
import { InflightBudget } from "./pipeline/inflight.ts";
import { Source, type SourceSettings } from "./source/source.ts";

const log = logger("app");

/** A running pipeline. */
export class Pipeline {
  readonly metrics = new Metrics();
  readonly sink: KafkaSink;
  readonly sources: readonly Source[];
  readonly #config: Config;
  readonly #budget: InflightBudget;
  #runs: Promise<void>[] = [];
  #gauges: ReturnType<typeof setInterval> | undefined;

  /** Builds the pipeline of `config`; {@linkcode start} runs it. */
  constructor(config: Config) {
    this.#config = config;
    const { kafka, limits } = config;
    this.sink = new KafkaSink(createKafka(kafka), {
      lingerMs: kafka.lingerMs,
      batchMaxMessages: kafka.batchMaxMessages,
      batchMaxBytes: kafka.batchMaxBytes,
      maxMessageBytes: kafka.maxMessageBytes,
      deadLetterTopic: kafka.deadLetterTopic,
      compression: kafka.compression,
      retry: kafka.retry,
      circuitBreaker: kafka.circuitBreaker,
      createTopics: kafka.createTopics
        ? { partitions: kafka.topicPartitions, replicationFactor: kafka.topicReplicationFactor }
        : null,
    }, this.metrics);
    this.#budget = new InflightBudget({
      maxMessages: limits.maxInflightMessages,
      maxBytes: limits.maxInflightBytes,
    });
    this.sources = config.sources.map((source) =>
      new Source(sourceSettings(source), {
        sink: this.sink,
        account: this.#budget.account(source.name),
        metrics: this.metrics,
        targets: config.targets.filter((target) => targetReads(target, source.name)),
      })
    );
  }

  /** Connects to Kafka, then starts every source. */
  async start(): Promise<void> {
    await this.sink.start();
    this.#runs = this.sources.map((source) => source.run());
    this.#gauges = setInterval(() => this.#updateGauges(), GAUGE_INTERVAL_MS);
    log.info("Pipeline started with {sources} source(s) and {targets} target(s)", {
      sources: this.sources.length,
      targets: this.#config.targets.length,
    });
  }

  /**
   * Stops reading, drains in-flight messages for up to the grace period, sends
   * each slot its final flush LSN and closes every connection.
   */
  async stop(): Promise<void> {
    const graceMs = this.#config.shutdown.gracePeriodMs;
    await Promise.all(this.sources.map((source) => source.stop(graceMs)));
    await Promise.all(this.#runs);
    clearInterval(this.#gauges);
    await this.sink.stop();
  }

  #updateGauges(): void {
    this.metrics.inflightMessages.set(this.#budget.messages);
    this.metrics.inflightBytes.set(this.#budget.bytes);
  }
}

const GAUGE_INTERVAL_MS = 1000;

function targetReads(target: TargetConfig, source: string): boolean {
  return target.sources.length === 0 || target.sources.includes(source);
}

function sourceSettings(source: SourceConfig): SourceSettings {
  return {
    name: source.name,
    connection: {
      host: source.host,
      port: source.port,
      database: source.database,
      user: source.user,
      password: source.password ?? undefined,
      sslmode: source.sslMode,
      sslCaFile: source.sslCaFile ?? undefined,
      connectTimeoutMs: source.connectTimeoutMs,
    },
    setup: {
      slot: source.slot,
      createSlot: source.createSlot,
      publication: source.publication,
      createPublication: source.createPublication,
      alterPublication: source.alterPublication,
      tables: source.tables,
    },
    statusIntervalMs: source.statusIntervalMs,
    messages: source.messages,
    values: { bigNumbers: source.bigNumbers },
    reconnect: source.reconnect,
  };
}
