import assert from "node:assert/strict";
import { approximateBytes, messageSize } from "../../src/pipeline/message.ts";

const utf8Length = (text: string) => new TextEncoder().encode(text).length;

Deno.test("approximateBytes() counts the UTF-8 bytes of ASCII, accented, CJK and emoji text", () => {
  for (
    const text of [
      "",
      '{"id":1}',
      "x".repeat(1000),
      "café",
      "日本語のテキスト",
      "🎉 done",
      "a\u0080b\u07ff",
    ]
  ) {
    assert.equal(approximateBytes(text), utf8Length(text), JSON.stringify(text));
  }
  assert.equal(approximateBytes(null), 0);
});

Deno.test("messageSize() adds the key, the value and every header's name and value", () => {
  const headers = { "pg2kafka.op": "insert", "pg2kafka.table": "public.café" };
  assert.equal(
    messageSize('{"id":1}', "é", headers),
    8 + 2 + "pg2kafka.op".length + 6 + "pg2kafka.table".length + utf8Length("public.café"),
  );
  assert.equal(messageSize(null, null, {}), 0);
});
