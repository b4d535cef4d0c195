import assert from "node:assert/strict";
import { compileTopicTemplate, topicTemplateProblem } from "../../src/config/topics.ts";

Deno.test("topicTemplateProblem() accepts known placeholders and Kafka's topic characters", () => {
  for (const template of ["cdc.{source}.{schema}.{table}.{op}", "orders", "a_b-c.{table}"]) {
    assert.equal(topicTemplateProblem(template), undefined, template);
  }
});

Deno.test("topicTemplateProblem() names unknown placeholders, stray braces and bad characters", () => {
  const cases: [string, string][] = [
    ["cdc.{tabel}", "unknown placeholder {tabel}"],
    ["cdc.{}", "unknown placeholder {}"],
    ["cdc.{table", "unbalanced brace"],
    ["cdc.table}", "unbalanced brace"],
    ["cdc/{table}", '"/" is not allowed in a topic name'],
    ["", "the topic is empty"],
  ];
  for (const [template, problem] of cases) {
    assert.equal(topicTemplateProblem(template), problem, template);
  }
});

Deno.test("compileTopicTemplate() fills each placeholder, repeated ones too", () => {
  const topicFor = compileTopicTemplate("{op}.{schema}.{table}.{op}");
  assert.equal(topicFor("main", "public", "orders", "delete"), "delete.public.orders.delete");
  assert.equal(compileTopicTemplate("fixed")("main", "s", "t", "insert"), "fixed");
});
