import assert from "node:assert/strict";
import {
  MemoryStateStore,
  serializeNodeState,
  StateCorruptError,
  StateInvalidError,
  StateVersionError,
} from "../../../state/mod.ts";
import { fullState, minimalState } from "./state_fixture.ts";

Deno.test("MemoryStateStore: empty, save, load, clear", async () => {
  const store = new MemoryStateStore({ name: "t" });
  assert.equal(store.location, "memory:t");
  assert.equal(await store.load(), null);
  await store.save(fullState());
  assert.equal(store.text, serializeNodeState(fullState()));
  const back = (await store.load())!;
  assert.equal(serializeNodeState(back), serializeNodeState(fullState()));
  // It holds text, not the object: changing the loaded state does not change the store.
  back.controlURL = "http://127.0.0.1:9";
  assert.equal((await store.load())!.controlURL, fullState().controlURL);
  await store.save(minimalState());
  assert.equal(serializeNodeState((await store.load())!), serializeNodeState(minimalState()));
  await store.clear();
  assert.equal(await store.load(), null);
  assert.equal(store.text, null);
});

Deno.test("MemoryStateStore: a malformed state is refused like the file store does", async () => {
  const store = new MemoryStateStore();
  const bad = fullState();
  bad.login!.addresses.v4 = "not an address";
  await assert.rejects(store.save(bad), StateInvalidError);
  assert.equal(store.text, null);
});

Deno.test("MemoryStateStore: corrupt text fails load and save, unless overwriteCorrupt", async () => {
  const store = new MemoryStateStore({ text: '{"version":1,"machineKey":', name: "c" });
  await assert.rejects(
    store.load(),
    (e) => e instanceof StateCorruptError && e.message.includes("memory:c"),
  );
  await assert.rejects(store.save(fullState()), StateCorruptError);
  assert.equal(store.text, '{"version":1,"machineKey":');
  await store.save(fullState(), { overwriteCorrupt: true });
  assert.equal(serializeNodeState((await store.load())!), serializeNodeState(fullState()));
});

Deno.test("MemoryStateStore: an unknown version fails load and save", async () => {
  const store = new MemoryStateStore({ text: '{"version":2}' });
  await assert.rejects(store.load(), StateVersionError);
  await assert.rejects(store.save(fullState()), StateVersionError);
  await store.clear();
  await store.save(fullState());
});
