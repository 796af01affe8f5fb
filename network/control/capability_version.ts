/**
 * The capability version ("capver") Citadel claims: one integer sent as
 * `/key?v=`, in the Noise initiation header and prologue, and as `Version`
 * in every RegisterRequest and MapRequest (control protocol reference §12).
 *
 * Why 143:
 * - Headscale only uses it as a floor: v0.28.0 accepts ≥ 106, v0.29.3 ≥ 113
 *   (`hscontrol/capver/capver_generated.go`), and v0.29.3 also refuses a
 *   lower value at `/key` with HTTP 400. Its messages do not depend on it.
 *   The floor is "oldest of the last ten Tailscale minors" and rises with
 *   each release, so a claim near the newest client lasts longest.
 * - The newest stable Tailscale, v1.104.5, claims 148. A claim is a
 *   promise (tailcfg's history): 144 says the client sends TSMP disco-key
 *   advertisements around WireGuard handshakes, which our data plane does
 *   not do, and 146/147 add c2n handlers and 429/503 retry on every
 *   `/machine/` call. 143 ("ignores conn25 node attributes") is the highest
 *   value whose obligations we meet: we handle HomeDERP (111), absent
 *   AllowedIPs (112), PacketFilters (81), peer patches (33/36), `null` =
 *   unchanged, and 429 + Retry-After on register (137), and we ignore
 *   unknown node attributes and c2n.
 * Raise it only together with the behaviour the new number promises.
 */
export const CAPABILITY_VERSION = 143;
