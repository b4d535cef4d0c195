/**
 * Topic templates such as `pg2kafka.{schema}.{table}`: validation at load
 * and a precompiled renderer for the router.
 *
 * @module
 */
import type { ChangeOp } from "../model.ts";

/** The placeholders a topic template may use. */
export const TOPIC_PLACEHOLDERS = ["source", "schema", "table", "op"] as const;

/** One of {@linkcode TOPIC_PLACEHOLDERS}. */
export type TopicPlaceholder = typeof TOPIC_PLACEHOLDERS[number];

/** Renders a topic name for a change. */
export type TopicRenderer = (source: string, schema: string, table: string, op: ChangeOp) => string;

/** A character Kafka does not allow in a topic name. */
const INVALID_TOPIC_CHARACTER = /[^A-Za-z0-9._-]/;
/** Kafka's limit on topic name length. */
export const MAX_TOPIC_LENGTH = 249;
/** A `{placeholder}`, or a lone brace. */
const TEMPLATE_PIECE = /\{([^{}]*)\}|[{}]/g;

/** What the text of a dead-letter topic or a topic template must look like. */
export const TOPIC_RULE = "letters, digits, '.', '_' or '-', at most 249 characters";

/**
 * Checks a topic template; returns why it is invalid, or `undefined`.
 *
 * @example
 * ```ts
 * import { topicTemplateProblem } from "./topics.ts";
 *
 * topicTemplateProblem("cdc.{schema}.{table}"); // undefined
 * topicTemplateProblem("cdc.{tabel}"); // "unknown placeholder {tabel}"
 * ```
 */
export function topicTemplateProblem(template: string): string | undefined {
  if (template === "") return "the topic is empty";
  const literal = template.replace(TEMPLATE_PIECE, (piece, name: string | undefined) => {
    if (name === undefined) return piece;
    return (TOPIC_PLACEHOLDERS as readonly string[]).includes(name) ? "" : piece;
  });
  const unknown = literal.match(/\{[^{}]*\}/);
  if (unknown !== null) return `unknown placeholder ${unknown[0]}`;
  if (/[{}]/.test(literal)) return "unbalanced brace";
  const invalid = literal.match(INVALID_TOPIC_CHARACTER);
  if (invalid !== null) return `${JSON.stringify(invalid[0])} is not allowed in a topic name`;
  if (literal.length > MAX_TOPIC_LENGTH) return "the fixed part is too long";
  if (template === "." || template === "..") return "Kafka does not allow the names . and ..";
  return undefined;
}

/**
 * Checks a plain topic name (no placeholders); returns why it is invalid,
 * or `undefined`.
 */
export function topicNameProblem(name: string): string | undefined {
  if (name === "") return "the topic is empty";
  if (name === "." || name === "..") return "Kafka does not allow the names . and ..";
  const invalid = name.match(INVALID_TOPIC_CHARACTER);
  if (invalid !== null) return `${JSON.stringify(invalid[0])} is not allowed in a topic name`;
  if (name.length > MAX_TOPIC_LENGTH) return "too long";
  return undefined;
}

/**
 * Compiles a template that passed {@linkcode topicTemplateProblem} into a
 * renderer that only concatenates.
 *
 * @example
 * ```ts
 * import { compileTopicTemplate } from "./topics.ts";
 *
 * const topicFor = compileTopicTemplate("cdc.{source}.{schema}.{table}");
 * topicFor("main", "public", "orders", "insert"); // "cdc.main.public.orders"
 * ```
 */
export function compileTopicTemplate(template: string): TopicRenderer {
  // literals[i] precedes names[i]; the last literal follows the last placeholder.
  const literals: string[] = [];
  const names: TopicPlaceholder[] = [];
  let position = 0;
  for (const match of template.matchAll(TEMPLATE_PIECE)) {
    literals.push(template.slice(position, match.index));
    names.push(match[1] as TopicPlaceholder);
    position = match.index + match[0].length;
  }
  literals.push(template.slice(position));
  return (source, schema, table, op) => {
    let topic = literals[0];
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const value = name === "source"
        ? source
        : name === "schema"
        ? schema
        : name === "table"
        ? table
        : op;
      topic += value + literals[i + 1];
    }
    return topic;
  };
}
