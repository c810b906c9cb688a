import { Logger } from "../../src/observe/log.ts";
import { assertEquals } from "../helpers/assert.ts";

const AT = new Date("2026-11-26T12:00:00.000Z");
const FIELDS = { id: 7, sni: null, error: undefined, client: "10.0.0.1:5000", note: "two words" };

Deno.test("text log lines show a field without a value as -, and quote values with spaces", () => {
  const lines: string[] = [];
  new Logger({ level: "info", format: "text" }, (l) => lines.push(l), () => AT)
    .info("session closed", FIELDS);
  assertEquals(lines, [
    '2026-11-26T12:00:00.000Z INFO  session closed id=7 sni=- client=10.0.0.1:5000 note="two words"',
  ]);
});

Deno.test("JSON log lines keep a null field, so that every line of a kind has the same keys", () => {
  const lines: string[] = [];
  new Logger({ level: "info", format: "json" }, (l) => lines.push(l), () => AT)
    .info("session closed", FIELDS);
  assertEquals(JSON.parse(lines[0]!), {
    time: "2026-11-26T12:00:00.000Z",
    level: "info",
    msg: "session closed",
    id: 7,
    sni: null,
    client: "10.0.0.1:5000",
    note: "two words",
  });
});
