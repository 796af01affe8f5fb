/**
 * Citadel's version, as reported to the control server (Hostinfo.IPNVersion)
 * and by the CLI. Must equal `version` in deno.json (a unit test checks).
 */
export const CITADEL_VERSION = "0.1.0";
