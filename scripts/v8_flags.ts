/**
 * The V8 flags pg2kafka runs with, wherever it runs: the compiled binary
 * (scripts/compile.sh bakes them in), `deno task dev`, the demo, the bench
 * and the integration tests. V8 sizes the young generation for throughput
 * (up to 16 MiB per semi-space here); every message in flight outlives a
 * few scavenges and is promoted, so the old generation fills with dead
 * messages before a major collection. 8 MiB kept the connector's peak RSS
 * at about 195 MiB instead of 260 under a backlog, for no measurable cost in
 * CPU per change (docs/benchmarks.md, "Memory"). tests/unit/v8_flags_test.ts
 * checks that every launcher passes them.
 *
 * @module
 */

/** The `--v8-flags` argument of `deno run` and `deno compile`. */
export const V8_FLAGS_ARG = "--v8-flags=--max-semi-space-size=8";
