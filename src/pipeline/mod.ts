/**
 * The pipeline: routes each change to its targets, tracks which transactions
 * Kafka has settled (the checkpoint) and bounds what is in flight.
 *
 * @example
 * ```ts ignore
 * import { InflightBudget, Router } from "./pipeline/mod.ts";
 * ```
 *
 * @module
 */
export { Checkpoint } from "./checkpoint.ts";
export type { CheckpointOptions, TransactionHandle } from "./checkpoint.ts";
export { InflightAccount, InflightBudget } from "./inflight.ts";
export type { InflightLimits } from "./inflight.ts";
export { HEADER, messageSize } from "./message.ts";
export type { MessageOrigin, OutgoingMessage } from "./message.ts";
export type {
  DeliveryFailure,
  FilterInput,
  RouteContext,
  RouteFilter,
  RouteTarget,
} from "./route.ts";
export { Router } from "./router.ts";
export { TRANSACTION_HEADER } from "./transaction.ts";
export { removeLeftovers } from "./spill.ts";
export type { SpillSettings } from "./spill.ts";
export { FLUSH_COALESCE_MS, PipelineSession } from "./session.ts";
export type { PipelineContext, SessionHooks } from "./session.ts";
