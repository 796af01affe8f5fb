/**
 * How `citadel status` shows a {@link NodeStatus}: the JSON form (its keys
 * are an interface scripts depend on) and the human form with a peers table.
 *
 * @module
 */
import type { NodeStatus, PeerStatus } from "../network/mod.ts";
import type { Painter } from "./output.ts";

/** The status with exactly its documented keys, in a fixed order. */
export function statusJson(status: NodeStatus): NodeStatus {
  return {
    connected: status.connected,
    nodeName: status.nodeName,
    nodeIP: status.nodeIP,
    nodeIPv6: status.nodeIPv6,
    nexus: status.nexus,
    keyExpiry: status.keyExpiry,
    peers: status.peers.map((p): PeerStatus => {
      const peer: PeerStatus = {
        hostname: p.hostname,
        ip: p.ip,
        ipv6: p.ipv6,
        online: p.online,
        os: p.os,
        lastSeen: p.lastSeen,
      };
      if (p.path !== undefined) peer.path = p.path;
      return peer;
    }),
    ...(status.dataPlane ? { dataPlane: status.dataPlane } : {}),
  };
}

/** "3m ago", "in 5d", from milliseconds of difference (positive = future). */
export function relativeTime(deltaMs: number): string {
  const abs = Math.abs(deltaMs);
  const units: Array<[number, string]> = [[86_400_000, "d"], [3_600_000, "h"], [60_000, "m"]];
  let text = `${Math.floor(abs / 1_000)}s`;
  for (const [size, unit] of units) {
    if (abs >= size) {
      text = `${Math.floor(abs / size)}${unit}`;
      break;
    }
  }
  return deltaMs >= 0 ? `in ${text}` : `${text} ago`;
}

function keyExpiryText(keyExpiry: string | null, nowMs: number, paint: Painter): string {
  if (keyExpiry === null) return "never";
  const at = Date.parse(keyExpiry);
  if (Number.isNaN(at)) return keyExpiry;
  const delta = at - nowMs;
  const when = `${keyExpiry} (${relativeTime(delta)})`;
  return delta <= 0 ? paint.paint(`EXPIRED ${when}`, "red", "bold") : when;
}

function lastSeenText(lastSeen: string | null, nowMs: number): string {
  if (lastSeen === null) return "-";
  const at = Date.parse(lastSeen);
  return Number.isNaN(at) ? lastSeen : relativeTime(at - nowMs);
}

function onlineText(online: boolean | null, paint: Painter): string {
  if (online === null) return "-";
  return online ? paint.paint("yes", "green") : paint.paint("no", "dim");
}

/** Columns padded to their widest cell; ANSI codes do not count towards width. */
function renderTable(rows: string[][]): string[] {
  // deno-lint-ignore no-control-regex
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "").length;
  const widths = rows[0].map((_, col) => Math.max(...rows.map((r) => visible(r[col]))));
  return rows.map((row) =>
    row.map((cell, col) =>
      col === row.length - 1 ? cell : cell + " ".repeat(widths[col] - visible(cell))
    ).join("  ").trimEnd()
  );
}

/** The human-readable status, as lines. */
export function formatStatus(
  status: NodeStatus,
  nowMs: number,
  paint: Painter,
  source: string | null,
): string[] {
  const lines = [
    `Connected:   ${
      status.connected ? paint.paint("yes", "green", "bold") : paint.paint("no", "red", "bold")
    }`,
    `Node:        ${status.nodeName ?? "-"}`,
    `Network IP:  ${status.nodeIP ?? "-"}`,
    `IPv6:        ${status.nodeIPv6 ?? "-"}`,
    `Nexus:       ${status.nexus}`,
    `Key expiry:  ${keyExpiryText(status.keyExpiry, nowMs, paint)}`,
  ];
  if (source) lines.push(`Source:      ${source}`);
  const dp = status.dataPlane;
  if (dp) {
    const home = dp.homeDERP === null
      ? "-"
      : `region ${dp.homeDERP}${dp.derpConnected ? "" : " (down)"}`;
    lines.push(`DERP home:   ${home}`);
    lines.push(
      `Direct:      ${
        dp.direct ? dp.endpoints.map((e) => `${e.addr} (${e.type})`).join(", ") || "on" : "off"
      }`,
    );
    const drops = Object.entries(dp.dropped).map(([why, n]) => `${why} ${n}`).join(", ");
    lines.push(`Dropped:     ${drops || "none"}`);
  }
  lines.push("");
  if (status.peers.length === 0) {
    lines.push("Peers:       none");
    return lines;
  }
  lines.push(paint.paint(`Peers (${status.peers.length}):`, "bold"));
  const header = ["HOSTNAME", "IPV4", "IPV6", "ONLINE", "OS", "LAST SEEN", "PATH"]
    .map((h) => paint.paint(h, "dim"));
  const peers = [...status.peers].sort((a, b) => a.hostname.localeCompare(b.hostname));
  const rows = peers.map((p) => [
    p.hostname || "-",
    p.ip ?? "-",
    p.ipv6 ?? "-",
    onlineText(p.online, paint),
    p.os || "-",
    lastSeenText(p.lastSeen, nowMs),
    p.path ?? "-",
  ]);
  lines.push(...renderTable([header, ...rows]).map((l) => `  ${l}`));
  return lines;
}
