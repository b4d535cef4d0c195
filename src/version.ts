/**
 * The version of pg2kafka, reported by `--version`, the `pg2kafka_build_info`
 * metric and the Kafka client id.
 *
 * @module
 */

/** The released version (kept equal to `version` in deno.json by a test). */
export const VERSION = "0.1.0";
