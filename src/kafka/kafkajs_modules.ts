/**
 * Replaces what a kafkajs CommonJS module exports before kafkajs's produce
 * request loads it. kafkajs loads its produce request lazily, once a broker
 * answered, and the request loads the record batch modules with it; each
 * module keeps what it required. kafkajs is pinned in deno.lock, so the
 * module paths used here cannot move.
 *
 * @module
 */
import { createRequire } from "node:module";

/**
 * The modules that take the record batch modules when they load: the
 * versioned produce requests (`produce/index.js`, which kafkajs loads at once,
 * requires them only when a request is built). Deno's npm cache puts the
 * version between package and path (`…/kafkajs/2.2.4/src/protocol/…`),
 * node_modules does not; the guard matched neither before.
 */
const PRODUCE_REQUEST_MODULE =
  /kafkajs[/\\](?:[0-9][^/\\]*[/\\])?src[/\\]protocol[/\\]requests[/\\]produce[/\\]v[0-9]+[/\\]/;

/**
 * How often the replacements served kafkajs: the start-up proof encodes one
 * produce request through kafkajs's own modules and checks that these moved.
 */
export const PATCH_USE = { records: 0, checksums: 0 };

/**
 * Makes `specifier` (a kafkajs module, e.g.
 * `kafkajs/src/protocol/recordBatch/crc32C/index.js`) export `replacement`
 * to every module that requires it from now on; returns a function that
 * restores the original export for modules loaded after it.
 *
 * @throws {Error} when kafkajs already loaded a produce request, which keeps
 * what it loaded.
 */
export function replaceProduceModule(specifier: string, replacement: unknown): () => void {
  const require = createRequire(import.meta.url);
  const path = require.resolve(specifier);
  const loaded = Object.keys(require.cache).find((file) => PRODUCE_REQUEST_MODULE.test(file));
  if (loaded !== undefined) {
    throw new Error(`kafkajs loaded ${loaded} before ${specifier} could be replaced`);
  }
  require(path);
  const module = require.cache[path]!;
  const original = module.exports;
  module.exports = replacement;
  return () => {
    module.exports = original;
  };
}
