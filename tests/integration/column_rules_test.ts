/**
 * Column rules end to end (project issue 17): a table with an email and a
 * card-number column streams through change-mode (json and Debezium),
 * transaction-mode and dead-lettering targets whose rules hash the email and
 * mask the card number; neither clear value may appear anywhere in Kafka:
 * keys, values and headers of every topic the connector wrote, the
 * dead-letter topic included.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  connectorConfig,
  ConnectorProcess,
  dropSlotAndPublication,
  type ReadMessage,
  readTopics,
  testSql,
  uniqueName,
} from "./harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };
const SECRET = "integration-test-secret-0123456789";

const EMAILS = ["ada@example.com", "grace@example.org", "ada.new@example.net"];
const CARDS = ["4111111111111111", "5500005555555559", "340000000000009"];

const RULES = `
[[targets.column_rules]]
columns = ["email"]
action = "hash"
secret = "\${PII_HASH_SECRET}"
[[targets.column_rules]]
columns = ["card_*"]
action = "mask"
with = "XXXX"`;

function hmacHex(text: string): string {
  return createHmac("sha256", SECRET).update(text).digest("hex");
}

/** Everything a consumer can read of a message. */
function everything(message: ReadMessage): string {
  return JSON.stringify([message.topic, message.key, message.value, message.headers]);
}

Deno.test(
  "Column rules keep clear emails and card numbers out of every topic, dead letters and headers included",
  integration,
  async () => {
    const sql = testSql();
    const table = uniqueName("pii");
    const slot = `${table}_slot`;
    const publication = `${table}_pub`;
    const deadLetterTopic = `${table}.dead_letter`;
    const topics = {
      json: `tests.${table}.json`,
      debezium: `tests.${table}.debezium`,
      transactions: `tests.${table}.transactions`,
    };
    await sql.unsafe(`CREATE TABLE ${table} (
      id int PRIMARY KEY, email text, card_number text, vip boolean NOT NULL DEFAULT false)`);
    await sql.unsafe(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
    // Read by the initial snapshot.
    await sql.unsafe(`INSERT INTO ${table} VALUES (1, '${EMAILS[0]}', '${CARDS[0]}')`);
    const connector = ConnectorProcess.start(
      connectorConfig({
        slot,
        publication,
        tables: [`public.${table}`],
        kafka: `dead_letter_topic = "${deadLetterTopic}"`,
        targets: `
[[targets]]
name = "json"
tables = ["public.${table}"]
topic = "${topics.json}"
${RULES}

[[targets]]
name = "debezium"
tables = ["public.${table}"]
topic = "${topics.debezium}"
format = "debezium"
${RULES}

[[targets]]
name = "transactions"
tables = ["public.${table}"]
topic = "${topics.transactions}"
mode = "transaction"
${RULES}

[[targets]]
name = "failing_filter"
tables = ["public.${table}"]
topic = "tests.${table}.never"
# Comparing a boolean with a number fails at run time: every change is dead-lettered.
where = "new.vip > 5 || old.vip > 5"
${RULES}
`,
      }),
      { PII_HASH_SECRET: SECRET },
    );
    try {
      await connector.waitForLine(/streaming slot/);
      await sql.unsafe(`INSERT INTO ${table} VALUES (2, '${EMAILS[1]}', '${CARDS[1]}')`);
      await sql.unsafe(
        `UPDATE ${table} SET email = '${EMAILS[2]}', card_number = '${CARDS[2]}' WHERE id = 1`,
      );
      await sql.unsafe(`UPDATE ${table} SET card_number = NULL WHERE id = 2`);
      await sql.unsafe(`DELETE FROM ${table} WHERE id = 2`);
      const changes = 5; // the snapshot row and four streamed changes
      const all = [topics.json, topics.debezium, topics.transactions, deadLetterTopic];
      const count = (messages: ReadMessage[], topic: string) =>
        messages.filter((m) => m.topic === topic).length;
      const messages = await readTopics(
        all,
        (m) =>
          count(m, topics.json) >= changes && count(m, topics.debezium) >= changes &&
          count(m, deadLetterTopic) >= changes &&
          m.some((x) => x.topic === topics.transactions && x.value?.includes('"op":"delete"')),
      );
      for (const message of messages) {
        for (const clear of [...EMAILS, ...CARDS]) {
          assert.ok(!everything(message).includes(clear), `${clear} in ${everything(message)}`);
        }
      }
      // Kafka keeps order per key (row), not across them.
      const json = (id: number) =>
        messages.filter((m) => m.topic === topics.json && m.key === `{"id":${id}}`)
          .map((m) => JSON.parse(m.value!));
      assert.deepEqual(json(1).map((value) => value.op), ["snapshot", "update"]);
      assert.deepEqual(json(2).map((value) => value.op), ["insert", "update", "delete"]);
      assert.deepEqual(json(1)[0].after, {
        id: 1,
        email: hmacHex(EMAILS[0]),
        card_number: "XXXX",
        vip: false,
      });
      assert.deepEqual(json(1)[1].before.email, hmacHex(EMAILS[0]), "the old row is hashed too");
      assert.equal(json(1)[1].after.email, hmacHex(EMAILS[2]));
      assert.equal(json(2)[1].after.card_number, null, "NULL stays NULL");
      const debezium = messages.find((m) => m.topic === topics.debezium && m.key === '{"id":2}');
      const inserted = JSON.parse(debezium!.value!);
      assert.equal(inserted.after.email, hmacHex(EMAILS[1]));
      assert.equal(inserted.after.card_number, "XXXX");
      const deadLetters = messages.filter((m) => m.topic === deadLetterTopic);
      assert.ok(deadLetters.every((m) => m.headers["pg2kafka.dlq.reason"] === "filter_failed"));
      const emails = deadLetters.map((m) => JSON.parse(m.value!).after?.email).filter(Boolean);
      assert.ok(emails.includes(hmacHex(EMAILS[1])), "the dead-letter copy is hashed too");
      assert.equal((await connector.stop("SIGTERM")).code, 0);
    } finally {
      await connector.stop("SIGKILL");
      await dropSlotAndPublication(sql, slot, publication);
      await sql.unsafe(`DROP TABLE IF EXISTS ${table}`);
      await sql.end();
    }
  },
);
