/**
 * Runs the build stage of a Dockerfile without Docker (none runs on the
 * machines pgtls is developed on): a fresh directory stands in for the
 * image's filesystem, `COPY` copies from the build context (the repository,
 * minus .dockerignore), `RUN` runs with `sh -c` in the `WORKDIR`, `ENV` sets
 * variables. Then checks that every file the final stage copies `--from` the
 * build stage exists. Prints the directory the build stage worked in.
 *
 * Usage: deno task dockerfile-steps [DOCKERFILE]   (default deploy/Dockerfile)
 *
 * @module
 */

const root = new URL("../", import.meta.url).pathname;
const dockerfile = Deno.args[0] ?? `${root}deploy/Dockerfile`;

/** One instruction, continuation lines joined. */
interface Instruction {
  readonly keyword: string;
  readonly rest: string;
}

function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\r?\n/g, " ");
  return joined.split(/\r?\n/).map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const space = line.search(/\s/);
      return { keyword: line.slice(0, space).toUpperCase(), rest: line.slice(space + 1).trim() };
    });
}

/** The build context's files, as `docker build` would send them (git's view minus .dockerignore). */
async function contextFiles(): Promise<string[]> {
  const listed = await new Deno.Command("git", {
    args: ["ls-files", "--cached", "--others", "--exclude-standard"],
    cwd: root,
    stdout: "piped",
  }).output();
  const ignore = (await Deno.readTextFile(`${root}.dockerignore`).catch(() => ""))
    .split("\n").map((line) => line.trim()).filter((line) => line && !line.startsWith("#"));
  const ignored = (path: string) =>
    ignore.some((pattern) =>
      pattern.startsWith("*.")
        ? path.endsWith(pattern.slice(1))
        : path === pattern || path.startsWith(`${pattern}/`)
    );
  const files = new TextDecoder().decode(listed.stdout).split("\n").filter((p) => p !== "");
  const present: string[] = [];
  for (const file of files) {
    if (ignored(file)) continue;
    // Deleted in the working tree but still in git's index.
    if (await Deno.stat(`${root}${file}`).then(() => true, () => false)) present.push(file);
  }
  return present;
}

async function copy(sources: string[], destination: string, image: string, workdir: string) {
  const target = destination.startsWith("/")
    ? `${image}${destination}`
    : `${workdir}/${destination}`;
  const all = await contextFiles();
  for (const source of sources) {
    const prefix = source === "." ? "" : source.replace(/\/$/, "");
    const matched = prefix === ""
      ? all
      : all.filter((f) => f === prefix || f.startsWith(`${prefix}/`));
    if (matched.length === 0) throw new Error(`COPY ${source}: not in the build context`);
    for (const file of matched) {
      const relative = prefix === "" || file === prefix
        ? (prefix === "" ? file : file.slice(file.lastIndexOf("/") + 1))
        : file.slice(prefix.length + 1);
      const to = target.endsWith("/") || sources.length > 1 || prefix === ""
        ? `${target.replace(/\/$/, "")}/${relative}`
        : target;
      await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
      await Deno.copyFile(`${root}${file}`, to);
    }
  }
}

const stages = instructions(await Deno.readTextFile(dockerfile));
const image = await Deno.makeTempDir({ prefix: "pgtls-docker-build-" });
let workdir = image;
const env: Record<string, string> = {};
let stage = 0;
const copiedFromBuild: string[] = [];
for (const { keyword, rest } of stages) {
  if (keyword === "FROM") {
    stage++;
    continue;
  }
  if (stage === 1) {
    switch (keyword) {
      case "WORKDIR":
        workdir = `${image}${rest}`;
        await Deno.mkdir(workdir, { recursive: true });
        break;
      case "ENV": {
        const [name, ...value] = rest.split(/[= ]/);
        env[name!] = value.join(" ");
        break;
      }
      case "COPY": {
        const words = rest.split(/\s+/);
        await copy(words.slice(0, -1), words.at(-1)!, image, workdir);
        break;
      }
      case "RUN": {
        console.log(`dockerfile-steps: RUN ${rest}`);
        const { code } = await new Deno.Command("sh", {
          args: ["-c", rest],
          cwd: workdir,
          env,
          stdout: "inherit",
          stderr: "inherit",
        }).output();
        if (code !== 0) {
          console.error(`dockerfile-steps: RUN ${rest}: exit ${code} (in ${workdir})`);
          Deno.exit(1);
        }
        break;
      }
      default:
        console.error(`dockerfile-steps: the build stage uses ${keyword}, which this does not run`);
        Deno.exit(1);
    }
  } else if (keyword === "COPY" && rest.startsWith("--from=")) {
    copiedFromBuild.push(rest.split(/\s+/)[1]!);
  }
}
for (const path of copiedFromBuild) {
  if (!(await Deno.stat(`${image}${path}`).then((s) => s.isFile, () => false))) {
    console.error(`dockerfile-steps: the final stage copies ${path}, which the build did not make`);
    Deno.exit(1);
  }
  console.log(`dockerfile-steps: made ${image}${path}`);
}
console.log(`dockerfile-steps: ok (${image})`);
