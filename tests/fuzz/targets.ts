/** Every fuzz target, in the order `./dev fuzz` runs them. */
import type { FuzzTarget } from "./fuzz_target.ts";
import { CONTROL_TARGETS } from "./targets_control.ts";
import { DATA_PLANE_TARGETS } from "./targets_data_plane.ts";
import { LOCAL_API_TARGETS } from "./targets_local_api.ts";

/** All targets. */
export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  ...CONTROL_TARGETS,
  ...DATA_PLANE_TARGETS,
  ...LOCAL_API_TARGETS,
];

/** The target called `name`, or an error listing the names. */
export function findTarget(name: string): FuzzTarget {
  const target = FUZZ_TARGETS.find((t) => t.name === name);
  if (!target) {
    throw new Error(
      `no fuzz target "${name}"; targets: ${FUZZ_TARGETS.map((t) => t.name).join(", ")}`,
    );
  }
  return target;
}
