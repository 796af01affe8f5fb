/**
 * Child process of the lock tests. With `hold`, takes the instance lock of the
 * directory given as the first argument, prints "locked <pid>" and waits to
 * be killed. With `try`, tries once and prints "locked <pid>" or
 * "InstanceLockedError <holder pid>", then exits.
 */
import { InstanceLock, InstanceLockedError } from "../../../../state/mod.ts";

const [dir, mode] = Deno.args;
const say = (line: string) => Deno.stdout.write(new TextEncoder().encode(line + "\n"));
try {
  const lock = await InstanceLock.acquire(dir, { attempts: 1 });
  await say(`locked ${lock.holder.pid}`);
  if (mode === "hold") await new Promise(() => setInterval(() => {}, 60_000));
  await lock.release();
} catch (e) {
  if (!(e instanceof InstanceLockedError)) throw e;
  await say(`InstanceLockedError ${e.holder?.pid ?? "unknown"}`);
}
