/**
 * IP address literals in one canonical spelling, so that an address from a
 * config file and one the kernel reports can be compared: IPv4 dotted,
 * IPv6 in RFC 5952 form (lower case, the longest zero run as `::`), and an
 * IPv4-mapped IPv6 address as its IPv4 address.
 *
 * @module
 */

/** The canonical spelling of an IP literal, or null when `text` is not one (a host name). */
export function canonicalIp(text: string): string | null {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bare)) {
    const parts = bare.split(".").map(Number);
    return parts.every((n) => n <= 255) ? parts.join(".") : null;
  }
  const groups = ipv6Groups(bare);
  if (groups === null) return null;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255].join(".");
  }
  return ipv6Text(groups);
}

/** Whether a listener on `a` and one on `b` (canonical IPs, same port) take each other's connections. */
export function ipOverlap(a: string, b: string): boolean {
  if (a === b || a === "::" || b === "::") return true;
  const v4 = (ip: string) => !ip.includes(":");
  return (a === "0.0.0.0" && v4(b)) || (b === "0.0.0.0" && v4(a));
}

/** Eight 16-bit groups of an IPv6 literal (an embedded IPv4 tail allowed), or null. */
function ipv6Groups(text: string): number[] | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) return null;
  // An IPv4 tail (::ffff:127.0.0.1) is two groups written another way.
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  let body = text;
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    if ([a, b, c, d].some((n) => n > 255)) return null;
    body = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${
      ((c << 8) | d).toString(16)
    }`;
  }
  if (body.includes(".")) return null;
  const halves = body.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string) => part === "" ? [] : part.split(":").map((g) => parseInt(g, 16));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const groups = [...head, ...rest];
  if (groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return null;
  if (halves.length === 1 ? groups.length !== 8 : groups.length > 7) return null;
  return [...head, ...Array(8 - groups.length).fill(0), ...rest];
}

function ipv6Text(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}
