import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { SIGNAL_ECHO_MS, signalEchoMs, StopSignals } from "../../src/serve/stop_signals.ts";
import { UsageError } from "../../src/config/usage_error.ts";

Deno.test("a stop signal repeated within the echo window is the same interrupt; a later one is not", () => {
  let now = 1_000;
  const signals = new StopSignals(SIGNAL_ECHO_MS, () => now);
  assertEquals(signals.isEcho(), false, "the first signal");
  now += 2;
  assertEquals(signals.isEcho(), true, "relayed by npm 2 ms later");
  now += SIGNAL_ECHO_MS - 10;
  assertEquals(signals.isEcho(), true, "still within the window of the first");
  now += 20;
  assertEquals(signals.isEcho(), false, "past the window: the operator's second signal");
});

Deno.test("the echo window given to StopSignals replaces the default", () => {
  let now = 1_000;
  const signals = new StopSignals(60_000, () => now);
  assertEquals(signals.isEcho(), false, "the first signal");
  now += 10 * SIGNAL_ECHO_MS;
  assertEquals(signals.isEcho(), true, "long past the default window, within the one given");
  now += 60_000;
  assertEquals(signals.isEcho(), false, "past the window given");
});

Deno.test("PGTLS_SIGNAL_ECHO_MS: unset keeps the default, a count sets the window, anything else is a usage error", () => {
  assertEquals(signalEchoMs(undefined), SIGNAL_ECHO_MS);
  assertEquals(signalEchoMs(""), SIGNAL_ECHO_MS);
  assertEquals(signalEchoMs("60000"), 60_000);
  for (const bad of ["-1", "1.5", "1s", " 300", "lots"]) {
    assertThrows(
      () => signalEchoMs(bad),
      UsageError,
      "PGTLS_SIGNAL_ECHO_MS must be a whole number",
    );
  }
});
