/**
 * Which Kafka protocol versions pg2kafka speaks with a broker, checked once at
 * start-up. kafkajs picks, for each API, the highest version both sides know
 * (`min(its highest, the broker's highest)`) without looking at the broker's
 * lowest: a broker that dropped that version (Kafka 4.0 dropped many old ones)
 * would fail later with an obscure error. This module makes the same choice,
 * checks it against the broker's range and names what is missing.
 *
 * @example
 * ```ts
 * const broker = await readBrokerApiVersions(kafka);
 * const negotiated = negotiateApiVersions(broker, producerApis({ createTopics: false }));
 * if (negotiated.missing.length > 0) throw new UnsupportedBrokerError(negotiated.missing);
 * ```
 *
 * @module
 */
import { createRequire } from "node:module";
import type { Kafka } from "kafkajs";

/** The versions a broker accepts for one API (both ends included). */
export interface VersionRange {
  readonly minVersion: number;
  readonly maxVersion: number;
}

/** A broker's ApiVersions answer: API key → accepted range. */
export type BrokerApiVersions = Readonly<Record<number, VersionRange>>;

/** An API pg2kafka uses and the versions its client (kafkajs) implements. */
export interface ClientApi {
  readonly name: string;
  readonly key: number;
  readonly versions: readonly number[];
}

/** An API with the version chosen for it. */
export interface ApiInUse {
  readonly name: string;
  readonly version: number;
}

/** An API the broker does not offer in any version the client implements. */
export interface MissingApi {
  readonly name: string;
  readonly key: number;
  /** What the client implements. */
  readonly client: VersionRange;
  /** What the broker accepts, or null when it does not know the API at all. */
  readonly broker: VersionRange | null;
}

/** The outcome of {@linkcode negotiateApiVersions}. */
export interface NegotiatedVersions {
  readonly inUse: readonly ApiInUse[];
  readonly missing: readonly MissingApi[];
}

/**
 * Picks each API's version the way kafkajs does (the highest it implements,
 * capped at the broker's highest) and reports the APIs where that version is
 * below the broker's lowest or where the broker lacks the API.
 */
export function negotiateApiVersions(
  broker: BrokerApiVersions,
  apis: readonly ClientApi[],
): NegotiatedVersions {
  const inUse: ApiInUse[] = [];
  const missing: MissingApi[] = [];
  for (const api of apis) {
    const offered = broker[api.key] ?? null;
    const client = { minVersion: Math.min(...api.versions), maxVersion: Math.max(...api.versions) };
    const chosen = offered === null ? -1 : Math.min(client.maxVersion, offered.maxVersion);
    if (offered === null || chosen < offered.minVersion || !api.versions.includes(chosen)) {
      missing.push({ name: api.name, key: api.key, client, broker: offered });
    } else {
      inUse.push({ name: api.name, version: chosen });
    }
  }
  return { inUse, missing };
}

/**
 * Fetch's lowest version on Kafka 4.0 and later, which removed v0–v3 (KIP-896).
 * Produce is no marker: 4.x still advertises v0 for old clients' sake.
 */
const KAFKA_4_MIN_FETCH_VERSION = 4;
const FETCH_API_KEY = 1;

/**
 * The broker's release line as far as its API versions tell: the Kafka
 * protocol carries no release number, but 4.0 removed old versions of Fetch
 * and other APIs, which 3.x still accepts.
 */
export function brokerReleaseLine(broker: BrokerApiVersions): string {
  const fetch = broker[FETCH_API_KEY];
  if (fetch === undefined) return "unknown (no Fetch API)";
  return fetch.minVersion >= KAFKA_4_MIN_FETCH_VERSION
    ? "Kafka 4.0 or later"
    : "Kafka 3.x or earlier";
}

/** `Produce v7, Metadata v6, …` for a log line. */
export function formatApisInUse(apis: readonly ApiInUse[]): string {
  return apis.map(({ name, version }) => `${name} v${version}`).join(", ");
}

/** A broker lacks a protocol version pg2kafka needs: a configuration problem, not a transient one. */
export class UnsupportedBrokerError extends Error {
  /** The APIs the broker does not offer in a usable version. */
  readonly missing: readonly MissingApi[];

  /** Creates the error naming each missing API with both sides' ranges. */
  constructor(missing: readonly MissingApi[], broker = "the Kafka broker") {
    const range = ({ minVersion, maxVersion }: VersionRange) => `v${minVersion}–v${maxVersion}`;
    const details = missing.map(({ name, client, broker: offered }) =>
      offered === null
        ? `${name} (pg2kafka speaks ${range(client)}, the broker does not offer it)`
        : `${name} (pg2kafka speaks ${range(client)}, the broker accepts ${range(offered)})`
    );
    super(
      `${broker} does not accept a protocol version pg2kafka needs: ${details.join("; ")}. ` +
        "Use a broker from Kafka 3.x or 4.x (see docs/operations.md, supported versions)",
    );
    this.name = "UnsupportedBrokerError";
    this.missing = missing;
  }
}

/** The kafkajs modules that name its API keys and the versions it implements. */
const KAFKAJS_API_KEYS = "kafkajs/src/protocol/requests/apiKeys.js";
const KAFKAJS_REQUESTS = "kafkajs/src/protocol/requests/index.js";

/** The APIs on pg2kafka's producing path (the sink), with the versions kafkajs implements. */
export function producerApis(options: { createTopics: boolean }): ClientApi[] {
  const names = ["ApiVersions", "Metadata", "InitProducerId", "Produce"];
  if (options.createTopics) names.push("CreateTopics");
  const require = createRequire(import.meta.url);
  const keys: Record<string, number> = require(KAFKAJS_API_KEYS);
  const { requests } = require(KAFKAJS_REQUESTS) as {
    requests: Record<string, { versions: string[] }>;
  };
  return names.map((name) => ({
    name,
    key: keys[name],
    versions: requests[name].versions.map(Number),
  }));
}

/** kafkajs's cluster, as far as reading the seed broker's ApiVersions goes. */
interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  brokerPool: { versions: BrokerApiVersions | null; seedBroker: { nodeId?: number } };
}

/** kafkajs keeps the factory of its cluster (shared by producer and admin) under this symbol. */
const CREATE_CLUSTER_SYMBOL = "private:Kafka:createCluster";

/**
 * Connects to a seed broker with `kafka`'s own settings (TLS, SASL, timeouts)
 * and returns its ApiVersions answer.
 *
 * @throws {Error} when the broker is out of reach (retry) or kafkajs no longer
 * keeps its cluster factory where this looks (kafkajs is pinned in deno.lock).
 */
export async function readBrokerApiVersions(kafka: Kafka): Promise<BrokerApiVersions> {
  const symbol = Object.getOwnPropertySymbols(kafka)
    .find((candidate) => candidate.description === CREATE_CLUSTER_SYMBOL);
  const createCluster = symbol && (kafka as unknown as Record<symbol, unknown>)[symbol];
  if (typeof createCluster !== "function") {
    throw new Error(
      "This kafkajs build does not expose its cluster: cannot read the broker's API versions",
    );
  }
  const cluster: KafkajsCluster = createCluster({});
  try {
    await cluster.connect();
    const versions = cluster.brokerPool.versions;
    if (versions === null) throw new Error("The broker did not answer ApiVersions");
    return versions;
  } finally {
    await cluster.disconnect().catch(() => {});
  }
}
