/**
 * The JSON types of a `MapResponse` (map_response.ts), checked after
 * `JSON.parse` and before anything reads the message, the way Go's
 * `encoding/json` refuses a message whose field has the wrong type. Without
 * it a hostile or broken control server could send `"PeersRemoved": 141`
 * and the netmap would fail deep inside with a TypeError (found by the
 * fuzzer, `./dev fuzz --target netmap-apply`).
 *
 * Go's rules, kept here: unknown fields are ignored; `null` empties a list,
 * map or object field; `null` in a scalar field (or list entry) leaves Go's
 * zero value (`""`, `0`, `false`), so an optional scalar is dropped and a
 * required one set to zero; an integer field refuses `1.5`. Two rules of
 * our own: a `null` list entry where an object belongs is refused (Go would
 * hold a nil pointer), and no value nests deeper than {@link MAX_JSON_DEPTH}
 * (Go's decoder stops at 10,000; V8's recursive `structuredClone` and JSON
 * reviver overflow near 5,000). `__proto__` keys are dropped, so that no
 * later copy of the message can set a prototype.
 *
 * @module
 */

/** Deepest nesting accepted anywhere in a message (real maps nest under 10). */
export const MAX_JSON_DEPTH = 64;

/** The JSON type a field must have. */
type Shape =
  | "string"
  | "bool"
  | "int"
  | "number"
  | "any"
  | { list: Shape }
  | { dict: Shape }
  | { fields: Record<string, Field> };
/** A field's shape and whether Go always writes it (a required scalar). */
interface Field {
  shape: Shape;
  required: boolean;
}

/** A field of a struct with the wrong JSON type. */
export class MapShapeError extends Error {
  /** What is wrong, without the path. */
  readonly problem: string;
  /** Where, as `Peers[3].Key`; built while the check unwinds. */
  path = "";
  /** Creates the error; the path is added by {@link MapShapeError.within}. */
  constructor(problem: string) {
    super(problem);
    this.name = "MapShapeError";
    this.problem = problem;
  }

  /** Prefixes the path with a field name or a `[key]`, and renews the message. */
  within(step: string): this {
    this.path = this.path === "" || this.path.startsWith("[")
      ? step + this.path
      : `${step}.${this.path}`;
    this.message = `${this.path}: ${this.problem}`;
    return this;
  }
}

const opt = (shape: Shape): Field => ({ shape, required: false });
const req = (shape: Shape): Field => ({ shape, required: true });
const list = (shape: Shape): Shape => ({ list: shape });
const dict = (shape: Shape): Shape => ({ dict: shape });
const struct = (fields: Record<string, Field>): Shape => ({ fields });

const STRINGS = list("string");
const CAP_MAP = dict(list("any"));
const RESOLVER = struct({
  Addr: opt("string"),
  BootstrapResolution: opt(STRINGS),
  UseWithExitNode: opt("bool"),
});
const HOSTINFO = struct({
  Hostname: opt("string"),
  OS: opt("string"),
  OSVersion: opt("string"),
  IPNVersion: opt("string"),
  RoutableIPs: opt(STRINGS),
  RequestTags: opt(STRINGS),
  NetInfo: opt(dict("any")),
  sshHostKeys: opt(STRINGS),
});
const NODE = struct({
  ID: req("int"),
  StableID: req("string"),
  Name: req("string"),
  User: req("int"),
  Sharer: opt("int"),
  Key: req("string"),
  KeyExpiry: opt("string"),
  KeySignature: opt("string"),
  Machine: opt("string"),
  DiscoKey: opt("string"),
  Addresses: opt(STRINGS),
  AllowedIPs: opt(STRINGS),
  Endpoints: opt(STRINGS),
  DERP: opt("string"),
  HomeDERP: opt("int"),
  Hostinfo: opt(HOSTINFO),
  Created: opt("string"),
  Cap: opt("int"),
  Tags: opt(STRINGS),
  PrimaryRoutes: opt(STRINGS),
  LastSeen: opt("string"),
  Online: opt("bool"),
  MachineAuthorized: opt("bool"),
  Capabilities: opt(STRINGS),
  CapMap: opt(CAP_MAP),
  UnsignedPeerAPIOnly: opt("bool"),
  ComputedName: opt("string"),
  ComputedNameWithHost: opt("string"),
  DataPlaneAuditLogID: opt("string"),
  Expired: opt("bool"),
  SelfNodeV4MasqAddrForThisPeer: opt("string"),
  SelfNodeV6MasqAddrForThisPeer: opt("string"),
  IsWireGuardOnly: opt("bool"),
  IsJailed: opt("bool"),
  ExitNodeDNSResolvers: opt(list(RESOLVER)),
});
const PEER_CHANGE = struct({
  NodeID: req("int"),
  DERPRegion: opt("int"),
  Cap: opt("int"),
  CapMap: opt(CAP_MAP),
  Endpoints: opt(STRINGS),
  Key: opt("string"),
  KeySignature: opt("string"),
  DiscoKey: opt("string"),
  Online: opt("bool"),
  LastSeen: opt("string"),
  KeyExpiry: opt("string"),
});
const DNS_CONFIG = struct({
  Resolvers: opt(list(RESOLVER)),
  Routes: opt(dict(list(RESOLVER))),
  FallbackResolvers: opt(list(RESOLVER)),
  Domains: opt(STRINGS),
  Proxied: opt("bool"),
  Nameservers: opt(STRINGS),
  CertDomains: opt(STRINGS),
  ExtraRecords: opt(
    list(struct({ Name: req("string"), Type: opt("string"), Value: req("string") })),
  ),
  ExitNodeFilteredSet: opt(STRINGS),
  TempCorpIssue13969: opt("string"),
});
const FILTER_RULE = struct({
  SrcIPs: opt(STRINGS),
  SrcBits: opt(list("int")),
  DstPorts: opt(list(struct({
    IP: req("string"),
    Bits: opt("int"),
    Ports: req(struct({ First: req("int"), Last: req("int") })),
  }))),
  IPProto: opt(list("int")),
  CapGrant: opt(list(struct({ Dsts: opt(STRINGS), Caps: opt(STRINGS), CapMap: opt(CAP_MAP) }))),
});
const FILTER = list(FILTER_RULE);
const USER_PROFILE = struct({
  ID: req("int"),
  LoginName: req("string"),
  DisplayName: req("string"),
  ProfilePicURL: opt("string"),
  Groups: opt(STRINGS),
});
const DERP_NODE = struct({
  Name: req("string"),
  RegionID: req("int"),
  HostName: req("string"),
  CertName: opt("string"),
  IPv4: opt("string"),
  IPv6: opt("string"),
  STUNPort: opt("int"),
  STUNOnly: opt("bool"),
  DERPPort: opt("int"),
  InsecureForTests: opt("bool"),
  STUNTestIP: opt("string"),
  CanPort80: opt("bool"),
});
const DERP_MAP = struct({
  HomeParams: opt(struct({ RegionScore: opt(dict("number")) })),
  Regions: opt(dict(struct({
    RegionID: req("int"),
    RegionCode: req("string"),
    RegionName: req("string"),
    Latitude: opt("number"),
    Longitude: opt("number"),
    Avoid: opt("bool"),
    NoMeasureNoHome: opt("bool"),
    Nodes: opt(list(DERP_NODE)),
  }))),
  omitDefaultRegions: opt("bool"),
});
const SSH_POLICY = struct({
  rules: opt(list(struct({
    ruleExpires: opt("string"),
    principals: opt(list(struct({
      node: opt("string"),
      nodeIP: opt("string"),
      userLogin: opt("string"),
      any: opt("bool"),
      pubKeys: opt(STRINGS),
    }))),
    sshUsers: opt(dict("string")),
    action: opt(struct({
      message: opt("string"),
      reject: opt("bool"),
      accept: opt("bool"),
      sessionDuration: opt("int"),
      allowAgentForwarding: opt("bool"),
      holdAndDelegate: opt("string"),
      allowLocalPortForwarding: opt("bool"),
      allowRemotePortForwarding: opt("bool"),
      recorders: opt(STRINGS),
      onRecordingFailure: opt(dict("any")),
    })),
    acceptEnv: opt(STRINGS),
  }))),
});
const MAP_RESPONSE = struct({
  MapSessionHandle: opt("string"),
  Seq: opt("int"),
  KeepAlive: opt("bool"),
  PingRequest: opt(struct({
    URL: req("string"),
    URLIsNoise: opt("bool"),
    Log: opt("bool"),
    Types: opt("string"),
    IP: opt("string"),
    Payload: opt("string"),
  })),
  PopBrowserURL: opt("string"),
  Node: opt(NODE),
  DERPMap: opt(DERP_MAP),
  Peers: opt(list(NODE)),
  PeersChanged: opt(list(NODE)),
  PeersRemoved: opt(list("int")),
  PeersChangedPatch: opt(list(PEER_CHANGE)),
  PeerSeenChange: opt(dict("bool")),
  OnlineChange: opt(dict("bool")),
  DNSConfig: opt(DNS_CONFIG),
  Domain: opt("string"),
  CollectServices: opt("bool"),
  PacketFilter: opt(FILTER),
  PacketFilters: opt(dict(FILTER)),
  UserProfiles: opt(list(USER_PROFILE)),
  Health: opt(STRINGS),
  DisplayMessages: opt(dict(struct({
    Title: req("string"),
    Text: req("string"),
    Severity: req("string"),
    ImpactsConnectivity: opt("bool"),
    PrimaryAction: opt(struct({ URL: req("string"), Label: req("string") })),
  }))),
  SSHPolicy: opt(SSH_POLICY),
  ControlTime: opt("string"),
  TKAInfo: opt(struct({ Head: opt("string"), Disabled: opt("bool") })),
  DomainDataPlaneAuditLogID: opt("string"),
  Debug: opt(
    struct({ SleepSeconds: opt("number"), DisableLogTail: opt("bool"), Exit: opt("int") }),
  ),
  ControlDialPlan: opt(struct({
    Candidates: opt(list(struct({
      IP: opt("string"),
      ACEHost: opt("string"),
      DialStartDelaySec: opt("number"),
      DialTimeoutSec: opt("number"),
      Priority: opt("int"),
    }))),
  })),
  ClientVersion: opt(struct({
    RunningLatest: opt("bool"),
    LatestVersion: opt("string"),
    UrgentSecurityUpdate: opt("bool"),
    Notify: opt("bool"),
    NotifyURL: opt("string"),
    NotifyText: opt("string"),
  })),
  DefaultAutoUpdate: opt("bool"),
});

const ZERO = { string: "", bool: false, int: 0, number: 0 } as const;

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Checks a non-null scalar against its shape. */
function checkScalar(value: unknown, shape: "string" | "bool" | "int" | "number"): void {
  const ok = shape === "string"
    ? typeof value === "string"
    : shape === "bool"
    ? typeof value === "boolean"
    : typeof value === "number" && Number.isFinite(value) &&
      (shape === "number" || Number.isInteger(value));
  if (!ok) {
    const wanted = shape === "int" ? "an integer" : `a ${shape}`;
    throw new MapShapeError(`${typeName(value)} where ${wanted} belongs`);
  }
}

function tooDeep(): MapShapeError {
  return new MapShapeError(`nested deeper than ${MAX_JSON_DEPTH} levels`);
}

/**
 * Checks any JSON value's depth and drops its `__proto__` keys. Recursive,
 * but never past {@link MAX_JSON_DEPTH} frames: it throws first.
 */
function checkAny(value: unknown, depth: number): void {
  if (typeof value !== "object" || value === null) return;
  if (depth > MAX_JSON_DEPTH) throw tooDeep();
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkAny(value[i], depth + 1);
    return;
  }
  const record = value as Record<string, unknown>;
  if (Object.hasOwn(record, "__proto__")) delete record.__proto__;
  for (const key in record) checkAny(record[key], depth + 1);
}

/** A checker of one non-null value at a depth; built once per shape by {@link compile}. */
type Checker = (value: unknown, depth: number) => void;
/** What a container does with a null entry (see {@link compile}). */
type NullEntry = { zero: unknown } | "keep" | "refuse";

/** Rethrows a shape error with `step` prefixed to its path. */
function at(error: unknown, step: string): unknown {
  return error instanceof MapShapeError ? error.within(step) : error;
}

/** What a null entry of a list (or a map) of `shape` becomes. */
function nullEntry(shape: Shape, inMap: boolean): NullEntry {
  if (typeof shape === "string") return { zero: shape === "any" ? null : ZERO[shape] };
  return inMap ? "keep" : "refuse";
}

/**
 * Turns a shape into a checker once, so that checking a 10,000-peer map
 * walks specialised closures instead of interpreting the shape per value.
 */
function compile(shape: Shape): Checker {
  if (shape === "any") return checkAny;
  if (typeof shape === "string") return (value) => checkScalar(value, shape);
  if ("list" in shape || "dict" in shape) {
    const isList = "list" in shape;
    const inner = isList ? shape.list : shape.dict;
    const child = compile(inner);
    const onNull = nullEntry(inner, !isList);
    const entry = (
      container: Record<string | number, unknown>,
      key: string | number,
      depth: number,
    ) => {
      const value = container[key];
      if (value !== null) return child(value, depth + 1);
      if (onNull === "refuse") throw new MapShapeError("null where an object belongs");
      if (onNull !== "keep") container[key] = onNull.zero;
    };
    if (isList) {
      return (value, depth) => {
        if (depth > MAX_JSON_DEPTH) throw tooDeep();
        if (!Array.isArray(value)) {
          throw new MapShapeError(`${typeName(value)} where a list belongs`);
        }
        for (let i = 0; i < value.length; i++) {
          try {
            entry(value as unknown as Record<number, unknown>, i, depth);
          } catch (error) {
            throw at(error, `[${i}]`);
          }
        }
      };
    }
    return (value, depth) => {
      if (depth > MAX_JSON_DEPTH) throw tooDeep();
      if (!isObject(value)) throw new MapShapeError(`${typeName(value)} where an object belongs`);
      if (Object.hasOwn(value, "__proto__")) delete value.__proto__;
      for (const key in value) {
        try {
          entry(value, key, depth);
        } catch (error) {
          throw at(error, `[${JSON.stringify(key)}]`);
        }
      }
    };
  }
  const fields = new Map<
    string,
    { check: Checker; onNull: "delete" | { zero: unknown } | "keep" }
  >();
  for (const [name, field] of Object.entries(shape.fields)) {
    const scalar = typeof field.shape === "string" && field.shape !== "any";
    fields.set(name, {
      check: compile(field.shape),
      onNull: !scalar
        ? "keep"
        : field.required
        ? { zero: ZERO[field.shape as keyof typeof ZERO] }
        : "delete",
    });
  }
  return (value, depth) => {
    if (depth > MAX_JSON_DEPTH) throw tooDeep();
    if (!isObject(value)) throw new MapShapeError(`${typeName(value)} where an object belongs`);
    if (Object.hasOwn(value, "__proto__")) delete value.__proto__;
    for (const name in value) {
      const child = value[name];
      const field = fields.get(name);
      try {
        // Unknown fields are ignored, but kept: their depth counts too.
        if (field === undefined) checkAny(child, depth + 1);
        else if (child !== null) field.check(child, depth + 1);
        else if (field.onNull === "delete") delete value[name];
        else if (field.onNull !== "keep") value[name] = field.onNull.zero;
      } catch (error) {
        throw at(error, name);
      }
    }
  };
}

const CHECK_MAP_RESPONSE: Checker = compile(MAP_RESPONSE);

/**
 * Checks (and, for Go's null rules, normalises in place) a parsed map
 * response. Throws {@link MapShapeError} naming the first bad field.
 */
export function checkMapResponseShape(value: Record<string, unknown>): void {
  CHECK_MAP_RESPONSE(value, 0);
}
