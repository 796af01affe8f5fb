/**
 * Request-side control messages and what they carry (Go `tailcfg` structs;
 * control protocol reference §8, §9): RegisterRequest, RegisterResponse,
 * MapRequest, Hostinfo, NetInfo. Field names are exactly what Go writes.
 * The MapResponse family lives in map_response.ts.
 *
 * Encodings (reference §1): keys are text (`nodekey:` + 64 hex), times are
 * RFC 3339 strings (the zero time `0001-01-01T00:00:00Z` for "unset" in
 * fields that are never omitted), `[]byte` is base64 or `null`, `opt.Bool`
 * is `true`/`false`/`null`. Optional (`?`) fields are those Go omits when
 * zero; the others are always sent. Unknown response fields are ignored.
 *
 * @module
 */
import type { CapabilityVersion, DERPRegionID, GoTime, OptBool, UserID } from "./map_response.ts";

/** A service a node advertises (Go `tailcfg.Service`). */
export interface Service {
  /** "tcp", "udp", "peerapi4", "peerapi6", "peerapi-dns-proxy". */
  Proto: string;
  /** Port number. */
  Port: number;
  /** Free-form text, e.g. the process name. */
  Description?: string;
}

/** Geographic location of a node (Go `tailcfg.Location`). */
export interface Location {
  /** Country name. */
  Country?: string;
  /** ISO 3166-1 alpha-2 code, upper case. */
  CountryCode?: string;
  /** City name. */
  City?: string;
  /** Short city code. */
  CityCode?: string;
  /** Latitude in degrees. */
  Latitude?: number;
  /** Longitude in degrees. */
  Longitude?: number;
  /** Preference among exit nodes of one location. */
  Priority?: number;
}

/** Network conditions a node observed (Go `tailcfg.NetInfo`; reference §9.3). */
export interface NetInfo {
  /** Whether the NAT mapping changes per destination (hard NAT). */
  MappingVariesByDestIP?: OptBool;
  /** Whether IPv6 works end to end. */
  WorkingIPv6?: OptBool;
  /** Whether the OS has IPv6 at all. */
  OSHasIPv6?: OptBool;
  /** Whether UDP works. */
  WorkingUDP?: OptBool;
  /** Whether ICMPv4 works. */
  WorkingICMPv4?: OptBool;
  /** Whether a port mapping (UPnP, NAT-PMP, PCP) exists. */
  HavePortMap?: boolean;
  /** UPnP seen. */
  UPnP?: OptBool;
  /** NAT-PMP seen. */
  PMP?: OptBool;
  /** PCP seen. */
  PCP?: OptBool;
  /** Home DERP region; becomes the node's HomeDERP as peers see it. */
  PreferredDERP?: DERPRegionID;
  /** "wired", "wifi", "mobile". */
  LinkType?: string;
  /** Latency in seconds by `"<region>-v4"` / `"<region>-v6"`. */
  DERPLatency?: Record<string, number>;
  /** Linux firewall mode in use. */
  FirewallMode?: string;
}

/** What a node says about itself (Go `tailcfg.Hostinfo`; every field omitted when zero). */
export interface Hostinfo {
  /** Client version. */
  IPNVersion?: string;
  /** Logtail ID of the frontend. */
  FrontendLogID?: string;
  /** Logtail ID of the backend. */
  BackendLogID?: string;
  /** Operating system, a Go `version.OS` value: "linux", "macOS", "windows", "freebsd"… */
  OS?: string;
  /** OS version (kernel version on Linux). */
  OSVersion?: string;
  /** Whether running in a container. */
  Container?: OptBool;
  /** Hosting environment kind. */
  Env?: string;
  /** Linux distribution, e.g. "debian". */
  Distro?: string;
  /** Distribution version. */
  DistroVersion?: string;
  /** Distribution code name. */
  DistroCodeName?: string;
  /** Application name for embedded clients (tsnet apps); "citadel" for us. */
  App?: string;
  /** Whether a desktop session was detected. */
  Desktop?: OptBool;
  /** Packaging kind. */
  Package?: string;
  /** Device model (phones). */
  DeviceModel?: string;
  /** Push notification token. */
  PushDeviceToken?: string;
  /** Host name; names the node in Headscale. */
  Hostname?: string;
  /** Blocking incoming connections. */
  ShieldsUp?: boolean;
  /** Present only because it is shared in. */
  ShareeNode?: boolean;
  /** The user opted out of log upload. */
  NoLogsNoSupport?: boolean;
  /** Remote configuration allowed. */
  RemoteConfig?: boolean;
  /** Funnel ingress wired. */
  WireIngress?: boolean;
  /** Funnel ingress enabled. */
  IngressEnabled?: boolean;
  /** Remote updates allowed. */
  AllowsUpdate?: boolean;
  /** Machine type (`uname -m`). */
  Machine?: string;
  /** GOARCH-style architecture of the binary: "amd64", "arm64"… */
  GoArch?: string;
  /** Architecture variant (GOARM, GOAMD64…). */
  GoArchVar?: string;
  /** Go version of the binary; we put the runtime's version here. */
  GoVersion?: string;
  /** Subnet routes offered (exit node: `0.0.0.0/0` and `::/0`). */
  RoutableIPs?: string[];
  /** ACL tags requested. */
  RequestTags?: string[];
  /** Wake-on-LAN MAC addresses. */
  WoLMACs?: string[];
  /** Advertised services. */
  Services?: Service[];
  /** Network conditions. */
  NetInfo?: NetInfo;
  /** SSH host keys (renamed field). */
  sshHostKeys?: string[];
  /** Cloud provider. */
  Cloud?: string;
  /** Running with a userspace network stack. */
  Userspace?: OptBool;
  /** Subnet routing done in userspace. */
  UserspaceRouter?: OptBool;
  /** Running the app-connector service. */
  AppConnector?: OptBool;
  /** Hash of the tailnet services list. */
  ServicesHash?: string;
  /** Willing to relay for peers. */
  PeerRelay?: boolean;
  /** Selected exit node. */
  ExitNodeID?: string;
  /** Location. */
  Location?: Location;
  /** TPM metadata. */
  TPM?: Record<string, unknown>;
  /** Whether the state file is encrypted. */
  StateEncrypted?: OptBool;
}

/** The `Auth` member of a RegisterRequest. */
export interface RegisterResponseAuth {
  /** Pre-auth key. Never log it. */
  AuthKey?: string;
}

/** `POST /machine/register` body (reference §8.1). */
export interface RegisterRequest {
  /** Capability version. */
  Version: CapabilityVersion;
  /** Node key being registered or logged out. */
  NodeKey: string;
  /** Previous node key when rotating; the zero key otherwise. */
  OldNodeKey: string;
  /** Tailnet-lock key; the zero `nlpub:` when unused. */
  NLKey: string;
  /** Pre-auth key; omitted without one (selects the "existing node" path). */
  Auth?: RegisterResponseAuth;
  /** Requested expiry; zero time = server default; past = logout. */
  Expiry: GoTime;
  /** AuthURL of a previous response to wait on; "" otherwise. */
  Followup: string;
  /** Host description. */
  Hostinfo: Hostinfo | null;
  /** Ask to be ephemeral (ignored by Headscale). */
  Ephemeral?: boolean;
  /** Tailnet-lock signature, base64, or null. */
  NodeKeySignature: string | null;
  /** Preferred tailnet. */
  Tailnet?: string;
}

/** `User` in a RegisterResponse. */
export interface User {
  /** User ID. */
  ID: UserID;
  /** Display name. */
  DisplayName: string;
  /** Picture URL. */
  ProfilePicURL?: string;
  /** Creation time. */
  Created?: GoTime;
}

/** `Login` in a RegisterResponse. */
export interface Login {
  /** Login ID (unused by clients). */
  ID: number;
  /** Identity provider. */
  Provider: string;
  /** E-mail-like login name. */
  LoginName: string;
  /** Name from the identity provider. */
  DisplayName: string;
  /** Picture URL. */
  ProfilePicURL?: string;
}

/** `POST /machine/register` response (reference §8.2). */
export interface RegisterResponse {
  /** Owning user. */
  User: User;
  /** Login. */
  Login: Login;
  /** The node key is expired and must be replaced. */
  NodeKeyExpired: boolean;
  /** The machine is approved. */
  MachineAuthorized: boolean;
  /** Non-empty: login pending; visit it, then send a followup. */
  AuthURL: string;
  /** Tailnet-lock signature to re-sign, base64, or null. */
  NodeKeySignature: string | null;
  /** Non-empty: the request failed; other fields are meaningless. */
  Error: string;
}

/** `POST /machine/map` body (reference §9.1). */
export interface MapRequest {
  /** Capability version. */
  Version: CapabilityVersion;
  /** "zstd" to compress each response message. */
  Compress?: "zstd";
  /** Ask for keep-alive messages. */
  KeepAlive?: boolean;
  /** Polling node's key. */
  NodeKey: string;
  /** Disco public key (the zero key if unknown). */
  DiscoKey: string;
  /** Long poll with many responses. */
  Stream?: boolean;
  /** Full host description, every time. */
  Hostinfo: Hostinfo | null;
  /** Session resumption handle. */
  MapSessionHandle?: string;
  /** Session resumption sequence number. */
  MapSessionSeq?: number;
  /** UDP endpoints, `ip:port`. */
  Endpoints?: string[];
  /** Kinds of `Endpoints`, parallel to it. */
  EndpointTypes?: EndpointType[];
  /** Tailnet-lock head. */
  TKAHead?: string;
  /** Deprecated; never set. */
  ReadOnly?: boolean;
  /** The client does not need peers (lite update). */
  OmitPeers?: boolean;
  /** Health-derived debug flags. */
  DebugFlags?: string[];
}

/** Kinds of endpoints (Go `tailcfg.EndpointType`, reference §9.1). */
export const EndpointType = {
  /** Unknown origin. */
  Unknown: 0,
  /** A local interface address. */
  Local: 1,
  /** Learned through STUN. */
  STUN: 2,
  /** A port mapping (UPnP, NAT-PMP, PCP). */
  PortMapped: 3,
  /** STUN address with the local port. */
  STUN4LocalPort: 4,
  /** Configured explicitly. */
  ExplicitConf: 5,
} as const;

/** One of the {@link EndpointType} values. */
export type EndpointType = typeof EndpointType[keyof typeof EndpointType];

/** The zero tailnet-lock key, sent as NLKey when tailnet lock is unused. */
export const ZERO_NL_KEY: string = "nlpub:" + "0".repeat(64);
