/**
 * Kafka's rule for topic names, which only the Kafka sink and `check` apply.
 *
 * @module
 */

/** Legal characters and length of a topic name. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/**
 * Whether Kafka accepts `topic` as a topic name.
 *
 * @example
 * ```ts
 * isValidTopic("pg2kafka.public.orders"); // true
 * isValidTopic("pg2kafka.public.Order Lines"); // false
 * ```
 */
export function isValidTopic(topic: string): boolean {
  return TOPIC_NAME.test(topic) && topic !== "." && topic !== "..";
}
