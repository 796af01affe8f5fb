/**
 * Child process of the crash test: saves the two loop states alternately, as
 * fast as it can, into the state directory given as the first argument. It
 * prints "ready" once the first save has completed, then loops until killed.
 */
import { FileStateStore } from "../../../../state/mod.ts";
import { loopState } from "../state_fixture.ts";

const store = await FileStateStore.open({ dir: Deno.args[0] });
const states = [loopState(0), loopState(1)];
await store.save(states[0]);
await Deno.stdout.write(new TextEncoder().encode("ready\n"));
for (let i = 1;; i++) await store.save(states[i % 2]);
