/**
 * The connector with the candidate kafkajs encoder patch installed, for
 * `deno task bench --entry scripts/bench/patched_main.ts` to compare with
 * main.ts on the same workload.
 *
 * @module
 */
import { installEncoderPatch } from "./kafkajs_encoder_patch.ts";
import { main } from "../../main.ts";

installEncoderPatch();
Deno.exit(await main(Deno.args));
