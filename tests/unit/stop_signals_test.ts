import { assertEquals } from "../helpers/assert.ts";
import { SIGNAL_ECHO_MS, StopSignals } from "../../src/cli/stop_signals.ts";

Deno.test("a stop signal repeated within the echo window is the same interrupt; a later one is not", () => {
  let now = 1_000;
  const signals = new StopSignals(() => now);
  assertEquals(signals.isEcho(), false, "the first signal");
  now += 2;
  assertEquals(signals.isEcho(), true, "relayed by npm 2 ms later");
  now += SIGNAL_ECHO_MS - 10;
  assertEquals(signals.isEcho(), true, "still within the window of the first");
  now += 20;
  assertEquals(signals.isEcho(), false, "past the window: the operator's second signal");
});
