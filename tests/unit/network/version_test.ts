import assert from "node:assert/strict";
import { CITADEL_VERSION } from "../../../network/version.ts";

Deno.test("version: CITADEL_VERSION equals deno.json's version", () => {
  const config = JSON.parse(Deno.readTextFileSync(new URL("../../../deno.json", import.meta.url)));
  assert.equal(CITADEL_VERSION, config.version);
});
