/**
 * The files in deploy/, checked as far as this machine can: systemd's own
 * verifier on the unit, the Dockerfile's build stage run without Docker
 * (scripts/dockerfile_steps.ts), and what the final image and the Kubernetes
 * example promise read from the files. Runs once, under the binary target:
 * both images and units run the single executable.
 */

import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { run } from "../helpers/run.ts";
import { TARGET } from "../helpers/pgtls.ts";
import { parse } from "yaml";
import { DEFAULTS } from "../../src/config/parse.ts";

const root = new URL("../../", import.meta.url).pathname;
const onBinary = TARGET === "binary";

async function hasCommand(name: string): Promise<boolean> {
  return (await run("sh", ["-c", `command -v ${name}`], { check: false })).code === 0;
}

/** `Key=value` lines of a unit file (the last one wins, as in systemd). */
function unitSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match) settings.set(match[1]!, match[2]!);
  }
  return settings;
}

Deno.test({
  name:
    "the systemd unit passes systemd-analyze verify and is hardened: non-root, reload by SIGHUP, a descriptor limit, a stop timeout above the drain",
  ignore: !onBinary,
  async fn() {
    const text = await Deno.readTextFile(`${root}deploy/pgtls@.service`);
    const unit = unitSettings(text);
    assertEquals(unit.get("User"), "pgtls");
    assertEquals(unit.get("ExecReload"), "/bin/kill -HUP $MAINPID");
    assertEquals(unit.get("NoNewPrivileges"), "yes");
    assertEquals(unit.get("ProtectSystem"), "strict");
    assert(Number(unit.get("LimitNOFILE")) >= 2 * DEFAULTS.maxConnections, "LimitNOFILE");
    assert(
      Number(unit.get("TimeoutStopSec")) * 1000 > DEFAULTS.shutdownTimeoutMs,
      "TimeoutStopSec above shutdown_timeout",
    );
    if (!(await hasCommand("systemd-analyze"))) return;
    // The instance of the template, running the executable this suite built.
    const dir = await Deno.makeTempDir({ prefix: "pgtls-unit-" });
    try {
      const unitFile = `${dir}/pgtls@blue.service`;
      await Deno.writeTextFile(
        unitFile,
        text.replaceAll("/usr/local/bin/pgtls", `${root}dist/pgtls`),
      );
      const verified = await run("systemd-analyze", ["verify", unitFile], { check: false });
      assertEquals(verified.code, 0, verified.stderr);
      assertEquals(verified.stderr.trim(), "", "systemd-analyze has no complaint");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "the Dockerfile's build stage makes a working executable, and the image runs it as non-root with a volume, ports and a health check",
  ignore: !onBinary,
  async fn() {
    const text = await Deno.readTextFile(`${root}deploy/Dockerfile`);
    const final = text.slice(text.lastIndexOf("\nFROM "));
    assertMatch(final, /^USER nonroot/m);
    assertMatch(final, /^VOLUME \["\/etc\/pgtls"\]/m);
    assertMatch(final, /^EXPOSE 6432 9187$/m);
    assertMatch(final, /HEALTHCHECK[^\n]*\\\n\s+CMD \["\/usr\/local\/bin\/pgtls", "health"/);
    assertMatch(final, /^COPY --from=build \/src\/dist\/pgtls \/usr\/local\/bin\/pgtls$/m);
    const steps = await run(`${root}node_modules/.bin/deno`, [
      "run",
      "--allow-all",
      `${root}scripts/dockerfile_steps.ts`,
    ], { cwd: root, env: { NO_COLOR: "1" } });
    const image = /dockerfile-steps: ok \((.+)\)/.exec(steps.stdout)?.[1];
    assert(image !== undefined, steps.stdout);
    try {
      const version = await run(`${image}/src/dist/pgtls`, ["--version"]);
      assertMatch(version.stdout, /^pgtls \S+ \(bun /);
    } finally {
      await Deno.remove(image, { recursive: true });
    }
  },
});

interface Container {
  name: string;
  args?: string[];
  readinessProbe?: { httpGet?: { path: string } };
  livenessProbe?: { tcpSocket?: unknown; httpGet?: unknown };
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  securityContext?: { allowPrivilegeEscalation?: boolean };
  volumeMounts?: { name: string; mountPath: string }[];
}

Deno.test({
  name:
    "the Kubernetes example drains pods within their grace period, probes /healthz for readiness, mounts the certificate Secret and reloads it on change",
  ignore: !onBinary,
  async fn() {
    const documents = (await Deno.readTextFile(`${root}deploy/kubernetes.yaml`)).split(/^---$/m)
      .map((doc) => parse(doc) as Record<string, unknown>);
    const deployment = documents.find((d) => d.kind === "Deployment") as {
      spec: {
        template: {
          spec: {
            terminationGracePeriodSeconds: number;
            shareProcessNamespace?: boolean;
            securityContext: { runAsNonRoot: boolean };
            containers: Container[];
            volumes: { name: string; secret?: { secretName: string } }[];
          };
        };
      };
    };
    const config = documents.find((d) => d.kind === "ConfigMap") as {
      data: Record<string, string>;
    };
    const pgtlsYaml = parse(config.data["pgtls.yaml"]!) as { shutdown_timeout: string };
    const shutdownSeconds = Number(/^(\d+)s$/.exec(pgtlsYaml.shutdown_timeout)![1]);
    const pod = deployment.spec.template.spec;
    const pgtls = pod.containers.find((c) => c.name === "pgtls")!;
    assertEquals(pod.securityContext.runAsNonRoot, true);
    assertEquals(pgtls.securityContext?.allowPrivilegeEscalation, false);
    assertEquals(pgtls.readinessProbe?.httpGet?.path, "/healthz");
    // A draining pgtls closes every port: a liveness probe would kill it mid-drain.
    assertEquals(pgtls.livenessProbe, undefined, "no liveness probe");
    const preStop = pgtls.lifecycle?.preStop?.sleep?.seconds ?? 0;
    assert(preStop > 0, "a preStop pause");
    assert(
      pod.terminationGracePeriodSeconds > preStop + shutdownSeconds,
      "the grace period covers the preStop pause and shutdown_timeout",
    );
    assert(pod.volumes.some((v) => v.secret?.secretName === "pgtls-tls"), "the Secret is mounted");
    const reloader = pod.containers.find((c) => c.name === "reload-on-change")!;
    assertEquals(pod.shareProcessNamespace, true);
    assertMatch(JSON.stringify(reloader), /pkill -HUP -x pgtls/);
    assertEquals(pgtls.args, ["serve", "--config", "/etc/pgtls/config/pgtls.yaml"]);
  },
});
