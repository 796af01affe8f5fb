/**
 * The registration check: every so often, ask Nexus whether the node key is
 * still registered (a register call without Auth, which changes nothing at
 * Nexus). Headscale keeps the map stream of a node it deleted open with
 * keep-alives only, so without this check a deleted node would believe
 * itself connected until the stream broke. A finding ends the stream with
 * NodeNotFoundError or NodeExpiredError, which the poll loop handles like
 * any other failure.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../clock.ts";
import type { NodePrivateKey } from "../crypto/keys.ts";
import type { ControlClient } from "./control_client.ts";
import { NodeExpiredError, NodeNotFoundError } from "./control_errors.ts";

/** How often a running node checks that Nexus still knows its key, by default. */
export const REGISTRATION_CHECK_INTERVAL_MS = 60_000;

/** What one registration check reads at each tick. */
export interface RegistrationCheckOptions {
  /** Time and timers. */
  clock: Clock;
  /** Between checks. */
  intervalMs: number;
  /** The client to ask. */
  client: () => ControlClient;
  /** The node key to ask about; null skips the tick. */
  nodeKey: () => NodePrivateKey | null;
  /** Whether the node is connected now; ticks while disconnected are skipped. */
  connected: () => boolean;
  /** Aborted with the finding when Nexus no longer knows the key. */
  stream: AbortController;
}

/**
 * Starts checking; `stop` ends it.
 *
 * @example
 * ```ts
 * const check = startRegistrationCheck({ clock, intervalMs: 60_000, client, nodeKey, connected, stream });
 * await client.mapPoll({ …, signal: stream.signal });
 * check.stop();
 * ```
 */
export function startRegistrationCheck(options: RegistrationCheckOptions): { stop(): void } {
  const { clock, stream } = options;
  let timer: TimerHandle | null = null;
  let stopped = false;
  const schedule = () => {
    if (!stopped) timer = clock.setTimeout(check, options.intervalMs);
  };
  const check = () => {
    const nodeKey = options.nodeKey();
    if (stopped || !nodeKey || !options.connected()) return schedule();
    options.client().register({ nodeKey, signal: stream.signal }).then(
      schedule,
      (err) => {
        if (err instanceof NodeNotFoundError || err instanceof NodeExpiredError) {
          stream.abort(err);
        } else {
          schedule(); // Unreachable now: the stream will notice by itself.
        }
      },
    );
  };
  schedule();
  return {
    stop: () => {
      stopped = true;
      if (timer !== null) clock.clearTimeout(timer);
    },
  };
}
