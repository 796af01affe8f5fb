/**
 * magicsock's disco timing constants, under the names Tailscale gives them
 * (`ts: wgengine/magicsock/magicsock.go`, `ts: tsconst/ping.go`; data-plane
 * reference §2.8). All durations are in milliseconds.
 *
 * @module
 */

/** While a session is active, the best path is pinged this often. */
export const heartbeatInterval = 3_000;
/** A direct path is used alone for this long after its last Pong. */
export const trustUDPAddrDuration = 6_500;
/**
 * Idle time after which heartbeats stop; also how long a candidate learned
 * from an incoming Ping lives after the last such Ping.
 */
export const sessionActiveTimeout = 45_000;
/** With a trusted but slow path, look for a better one this often. */
export const upgradeUDPDirectInterval = 60_000;
/** A best path this fast (or faster) is not worth replacing. */
export const goodEnoughLatency = 5;
/** Our own endpoints are fresh enough to put in a CallMeMaybe for this long after discovery. */
export const endpointsFreshEnoughDuration = 27_000;
/** A Ping with no Pong after this long has failed (`tsconst.DefaultPingTimeout`). */
export const pingTimeoutDuration = 5_000;
/** The least gap between discovery Pings to one candidate (`tsconst.DefaultPingInterval`). */
export const discoPingInterval = 5_000;
/** Pong records kept per candidate endpoint. */
export const pongHistoryCount = 64;
/** A second Ping from the same source within this long is likely a heartbeat (logging only). */
export const likelyHeartbeatWindow = 5_000;
/**
 * Endpoints taken from one CallMeMaybe; the rest are ignored. A node has a
 * handful (interfaces plus STUN-mapped); a disco message over DERP can name
 * over 3,000, and each would get a Ping from us. Citadel's own bound: Go
 * takes them all.
 */
export const maxCallMeMaybeEndpoints = 64;
/** Above this many candidates, stale ones are pruned when a new one is learned. */
export const maxCandidatesBeforePrune = 100;

/**
 * The fake IPv4 address magicsock writes for "via DERP", with the region ID
 * in the port field (`tailcfg.DerpMagicIP`): the `Src` of a Pong that answers
 * a Ping received over DERP.
 */
export const DERP_MAGIC_IP = "127.3.3.40";
