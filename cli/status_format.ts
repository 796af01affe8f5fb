/**
 * How `citadel status` shows a {@link NodeStatus}: the JSON form (its keys
 * are an interface scripts depend on) and the human form with a peers table
 * and, when `citadel work` runs a job loop, a worker section.
 *
 * @module
 */
import type { NetcheckStatus, NodeStatus, PeerStatus } from "../network/mod.ts";
import type { WorkerStatus } from "../worker/mod.ts";
import type { Painter } from "./output.ts";
import { redisRouteText } from "./worker_event_text.ts";

/** What `status` shows: the node's status and the running job loop's, if any. */
export interface StatusView extends NodeStatus {
  /** The job loop of a running `citadel work`, or null (none runs, or it has no `--redis`). */
  worker?: WorkerStatus | null;
}

/** The worker status with exactly its documented keys, in a fixed order. */
export function workerJson(w: WorkerStatus): WorkerStatus {
  return {
    state: w.state,
    redis: w.redis,
    redisConnected: w.redisConnected,
    redisRoute: w.redisRoute ?? null,
    group: w.group,
    consumer: w.consumer,
    queues: [...w.queues],
    jobsRunning: w.jobsRunning,
    jobsDone: w.jobsDone,
    jobsSucceeded: w.jobsSucceeded,
    jobsFailed: w.jobsFailed,
    jobsDeadLettered: w.jobsDeadLettered,
    jobsSkipped: w.jobsSkipped,
    startedAt: w.startedAt,
    lastPollAt: w.lastPollAt,
    lastHeartbeatAt: w.lastHeartbeatAt,
    lastError: w.lastError,
  };
}

/** The status with exactly its documented keys, in a fixed order. */
export function statusJson(status: StatusView): Required<StatusView> {
  return {
    connected: status.connected,
    nodeName: status.nodeName,
    nodeId: status.nodeId ?? null,
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
      // The data plane's keys, when a running work answered (docs/cli.md).
      if (p.rxBytes !== undefined) {
        peer.endpoint = p.endpoint ?? null;
        peer.relayRegion = p.relayRegion ?? null;
        peer.latencyMs = p.latencyMs ?? null;
        peer.lastHandshake = p.lastHandshake ?? null;
        peer.rxBytes = p.rxBytes;
        peer.txBytes = p.txBytes ?? 0;
      }
      return peer;
    }),
    worker: status.worker ? workerJson(status.worker) : null,
    dataPlane: status.dataPlane ?? null,
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

function sinceText(iso: string | null, nowMs: number): string {
  if (iso === null) return "never";
  const at = Date.parse(iso);
  return Number.isNaN(at) ? iso : relativeTime(at - nowMs);
}

/** The worker section of the human-readable status, as lines. */
export function formatWorker(w: WorkerStatus, nowMs: number, paint: Painter): string[] {
  const state = w.state === "running"
    ? paint.paint(w.state, "green", "bold")
    : w.state === "failed" || w.state === "paused"
    ? paint.paint(w.state, "red", "bold")
    : paint.paint(w.state, "bold");
  const lines = [
    paint.paint("Worker:", "bold"),
    `  State:       ${state}`,
    `  Redis:       ${w.redis} (${w.redisConnected ? "connected" : "not connected"}` +
    `${w.redisRoute ? `, ${redisRouteText(w.redisRoute)}` : ""})`,
    `  Queues:      ${w.queues.join(", ")}`,
    `  Consumer:    ${w.consumer} in group ${w.group}`,
    `  Jobs:        ${w.jobsRunning} running, ${w.jobsDone} done (${w.jobsSucceeded} ok, ` +
    `${w.jobsFailed} failed), ${w.jobsDeadLettered} dead-lettered, ${w.jobsSkipped} skipped`,
    `  Last poll:   ${sinceText(w.lastPollAt, nowMs)}`,
    `  Heartbeat:   ${sinceText(w.lastHeartbeatAt, nowMs)}`,
  ];
  if (w.lastError) lines.push(`  Last error:  ${paint.paint(w.lastError, "red")}`);
  return lines;
}

/** A peer's PATH cell: the path, and where it goes when the data plane said. */
function pathText(p: PeerStatus): string {
  if (p.path === undefined) return "-";
  const latency = p.latencyMs === null || p.latencyMs === undefined ? "" : `, ${p.latencyMs} ms`;
  if (p.path === "direct" && p.endpoint) return `direct ${p.endpoint}${latency}`;
  if (p.path === "relay" && p.relayRegion) return `relay (DERP ${p.relayRegion})${latency}`;
  return p.path;
}

/** The netcheck line: UDP, what STUN saw, the nearest region. */
function netcheckText(n: NetcheckStatus): string {
  const seen = [n.globalV4, n.globalV6].filter((a) => a !== null).join(", ");
  const latency = n.regionLatencyMs[String(n.preferredDERP)];
  const nearest = n.preferredDERP === 0
    ? "no DERP region measured"
    : `nearest DERP region ${n.preferredDERP}${latency === undefined ? "" : ` (${latency} ms)`}`;
  const hard = n.mappingVariesByDestIP ? ", mapping varies by destination" : "";
  return `UDP ${n.udp ? "yes" : "no"}${seen ? ` as ${seen}` : ""}${hard}, ${nearest}`;
}

/** The human-readable status, as lines. */
export function formatStatus(
  status: StatusView,
  nowMs: number,
  paint: Painter,
  source: string | null,
): string[] {
  const lines = [
    `Connected:   ${
      status.connected ? paint.paint("yes", "green", "bold") : paint.paint("no", "red", "bold")
    }`,
    `Node:        ${status.nodeName ?? "-"}${
      status.nodeId !== null && status.nodeId !== undefined ? ` (id ${status.nodeId})` : ""
    }`,
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
    if (dp.netcheck) lines.push(`Netcheck:    ${netcheckText(dp.netcheck)}`);
    const drops = Object.entries(dp.dropped).map(([why, n]) => `${why} ${n}`).join(", ");
    lines.push(`Dropped:     ${drops || "none"}`);
  }
  lines.push("");
  if (status.worker) lines.push(...formatWorker(status.worker, nowMs, paint), "");
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
    pathText(p),
  ]);
  lines.push(...renderTable([header, ...rows]).map((l) => `  ${l}`));
  return lines;
}
