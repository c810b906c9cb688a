/**
 * File paths in a configuration: relative ones resolve against the directory
 * of the file that names them, so that pgtls reads the same files whatever
 * directory it starts in (systemd's `WorkingDirectory=/`, a container's `/`).
 * Runtime-free: plain string work on POSIX and Windows forms.
 *
 * @module
 */

/**
 * Whether `path` names its file without a working directory: `/x`, or on
 * Windows `C:\x`, `C:/x`, `\\server\share` or `\x` (the current drive's root).
 */
export function isAbsolutePath(path: string): boolean {
  return path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path) || path.startsWith("\\");
}

/**
 * `path` as an absolute path: itself when absolute, else joined to `base`
 * (an absolute directory), with `.` and `..` segments folded away.
 */
export function resolvePath(base: string, path: string): string {
  if (isAbsolutePath(path)) return path;
  const separator = base.includes("\\") && !base.includes("/") ? "\\" : "/";
  const joined = base.endsWith("/") || base.endsWith("\\")
    ? `${base}${path}`
    : `${base}${separator}${path}`;
  return normalize(joined, separator);
}

/** The directory part of an absolute path (`/etc/pgtls/pgtls.yaml` → `/etc/pgtls`). */
export function directoryOf(path: string): string {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (cut < 0) return ".";
  if (cut === 0) return path.slice(0, 1);
  // C:\pgtls.yaml → C:\
  if (cut === 2 && /^[A-Za-z]:/.test(path)) return path.slice(0, 3);
  return path.slice(0, cut);
}

/**
 * The directory a configuration's relative paths resolve against: the file's
 * own, except for a file with no directory of its own (`--config
 * <(envsubst < pgtls.yaml.in)` reads `/dev/fd/63`), whose paths resolve
 * against the working directory, as they would be written.
 */
export function configDirectory(absoluteFile: string, cwd: () => string): string {
  if (/^\/(dev|proc)\//.test(absoluteFile)) return cwd();
  return directoryOf(absoluteFile);
}

function normalize(path: string, separator: string): string {
  const rootMatch = /^([A-Za-z]:[\\/]|\\\\[^\\/]+[\\/][^\\/]+[\\/]?|\/)/.exec(path);
  const root = rootMatch?.[0] ?? "";
  const parts: string[] = [];
  for (const part of path.slice(root.length).split(/[\\/]+/)) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return root + parts.join(separator);
}
