/**
 * Logging the node in (control reference §8): register the saved node key
 * as it is on a restart (no auth key spent), rotate to a new node key when
 * Nexus says the old one expired or the node is gone (saved before it is
 * registered, and resumed when a crash cut a rotation short), and otherwise
 * register with the pre-auth key or through interactive login (AuthURL,
 * then follow-up long polls until an admin approves).
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import { MachinePrivateKey, NodePrivateKey } from "../crypto/keys.ts";
import type { RandomSource } from "../crypto/random.ts";
import type { LoginIdentity, NodeState } from "../../state/node_state.ts";
import type { ControlClient } from "./control_client.ts";
import {
  NexusMismatchError,
  NodeExpiredError,
  NodeNotFoundError,
  NotLoggedInError,
  RegistrationError,
} from "./control_errors.ts";
import type { StateKeeper } from "./state_keeper.ts";
import type { RegisterResponse } from "./tailcfg.ts";

/** What a login needs. */
export interface LoginContext {
  /** The Nexus URL the state must belong to. */
  controlURL: string;
  /** Pre-auth key; used only when no valid node key exists. Never logged. */
  authKey?: string;
  /** Whether interactive login may start when there is no usable key (default true). */
  allowInteractive?: boolean;
  /** Called with each new AuthURL of an interactive login. */
  onAuthURL: (url: string) => void;
  /** The node's saved state. */
  keeper: StateKeeper;
  /** Time. */
  clock: Clock;
  /** Randomness for new keys. */
  random: RandomSource;
  /** Makes the control client for a machine key (the caller closes any earlier one). */
  newClient: (machineKey: MachinePrivateKey) => ControlClient;
  /** Ends the login. */
  signal: AbortSignal;
}

/** What a login did. */
export interface LoginOutcome {
  /** The control client, registered. */
  client: ControlClient;
  /** Whether a new registration happened (an auth key or interactive login was used). */
  newlyRegistered: boolean;
}

/**
 * Registers (or re-registers) the node. Throws the control errors,
 * {@link NotLoggedInError} when there is no usable state and neither an auth
 * key nor interactive login is allowed, or {@link NexusMismatchError}.
 */
export async function login(ctx: LoginContext): Promise<LoginOutcome> {
  const { keeper, clock, random, signal } = ctx;
  let state = keeper.loaded ? keeper.state : await keeper.load();
  if (state && state.controlURL !== ctx.controlURL) {
    throw new NexusMismatchError(keeper.location, state.controlURL, ctx.controlURL);
  }
  if (state?.login === undefined) state = null;
  const interactive = ctx.allowInteractive !== false;
  if (state === null && !ctx.authKey && !interactive) throw new NotLoggedInError(keeper.location);
  const machineKey = state?.machineKey ?? MachinePrivateKey.generate(random);
  let current: NodeState = state ?? {
    machineKey,
    nodeKey: NodePrivateKey.generate(random),
    controlURL: ctx.controlURL,
    updatedAt: clock.now(),
  };
  const client = ctx.newClient(machineKey);

  if (state !== null) {
    // A restart: the saved node key needs no auth key (never reuse one while it is valid).
    try {
      await client.register({ nodeKey: state.nodeKey, signal });
      if (state.oldNodeKey) {
        // A rotation that Nexus finished before we could record it.
        await keeper.save({ ...state, oldNodeKey: undefined, updatedAt: clock.now() });
      }
      return { client, newlyRegistered: false };
    } catch (err) {
      if (!(err instanceof NodeExpiredError) && !(err instanceof NodeNotFoundError)) throw err;
      if (!ctx.authKey && !interactive) throw err;
      // Expired or deleted at Nexus: rotate to a new node key and log in again. A
      // rotation cut short by a crash resumes with the key pair it had saved.
      if (!state.oldNodeKey) {
        current = {
          ...state,
          oldNodeKey: err instanceof NodeExpiredError ? state.nodeKey : undefined,
          nodeKey: NodePrivateKey.generate(random),
          updatedAt: clock.now(),
        };
        // Saved before registering, so the new key is never lost half-way.
        await keeper.save(current);
      }
    }
  }
  const response = ctx.authKey
    ? await client.register({
      nodeKey: current.nodeKey,
      oldNodeKey: current.oldNodeKey,
      authKey: ctx.authKey,
      signal,
    })
    : await interactiveLogin(client, current, ctx);
  await keeper.save({
    ...current,
    oldNodeKey: undefined,
    login: identityFromRegister(response, current.login),
    updatedAt: clock.now(),
  });
  return { client, newlyRegistered: true };
}

/** AuthURL, then follow-up long polls until an admin approves the node (reference §8.4). */
async function interactiveLogin(
  client: ControlClient,
  state: NodeState,
  ctx: LoginContext,
): Promise<RegisterResponse> {
  let response = await client.register({
    nodeKey: state.nodeKey,
    oldNodeKey: state.oldNodeKey,
    interactive: true,
    signal: ctx.signal,
  });
  let shownURL = "";
  while (response.AuthURL) {
    const url = response.AuthURL;
    if (url !== shownURL) {
      shownURL = url;
      ctx.onAuthURL(url);
    }
    try {
      response = await client.register({
        nodeKey: state.nodeKey,
        followup: url,
        interactive: true,
        signal: ctx.signal,
      });
    } catch (err) {
      // Headscale ends a follow-up that outlived its request with "registration timed out".
      if (err instanceof RegistrationError && /timed out/i.test(err.serverMessage)) continue;
      throw err;
    }
  }
  return response;
}

function identityFromRegister(
  response: RegisterResponse,
  previous: LoginIdentity | undefined,
): LoginIdentity {
  return {
    userId: response.User?.ID ?? previous?.userId ?? 0,
    loginName: response.Login?.LoginName ?? previous?.loginName ?? "",
    displayName: response.User?.DisplayName ?? previous?.displayName ?? "",
    nodeId: previous?.nodeId ?? 0,
    stableNodeId: previous?.stableNodeId,
    nodeName: previous?.nodeName ?? "",
    addresses: previous?.addresses ?? {},
    keyExpiry: previous?.keyExpiry ?? null,
  };
}
