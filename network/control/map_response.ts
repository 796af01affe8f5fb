/**
 * The `MapResponse` a control server streams to a node, and everything in it
 * (reference §10; Go `tailcfg` structs). Field names are the exact JSON names
 * Go writes: the Go field name, or the tag's rename where one exists
 * (`Node.DERP`, `Hostinfo.sshHostKeys`, `DERPMap.omitDefaultRegions`,
 * `MapResponse.DefaultAutoUpdate`, the lower-case `SSHPolicy` family).
 *
 * Encodings (reference §1.1): keys are their text forms (`nodekey:` + hex),
 * times are RFC 3339 strings, prefixes and addresses are strings, `[]byte` is
 * standard base64, maps keyed by integers have decimal-string keys. Optional
 * (`?`) fields are the ones Go omits when zero; `null` is what Go writes for
 * nil slices, maps and pointers that are not omitted. Unknown fields may be
 * present and are ignored.
 *
 * @module
 */

/** A node's int64 ID. Headscale's are small sequential integers (see `map_frame.ts` on range). */
export type NodeID = number;
/** A user's int64 ID. */
export type UserID = number;
/** A node's stable string ID (Headscale: the decimal node ID). */
export type StableNodeID = string;
/** A DERP region ID; JSON object keys carry it as a decimal string. */
export type DERPRegionID = number;
/** A client capability version. */
export type CapabilityVersion = number;
/** A Go `time.Time` in RFC 3339 form; see `go_time.ts`. */
export type GoTime = string;
/** A Go `opt.Bool`: `true`, `false`, or `null` (unset). */
export type OptBool = boolean | null;
/**
 * Raw JSON values of a capability (Go `RawMessage`): a capability with no
 * arguments maps to `[]` or `null`.
 */
export type CapMap = Record<string, unknown[] | null>;

/**
 * `Hostinfo` as peers report it, typed loosely: only the fields the netmap
 * views read are named. The request-side `Hostinfo` a node sends lives with
 * the control client.
 */
export interface PeerHostinfo {
  /** Name of the host the client runs on. */
  Hostname?: string;
  /** Operating system (a Go `version.OS` value, e.g. `linux`). */
  OS?: string;
  /** OS version. */
  OSVersion?: string;
  /** Client version. */
  IPNVersion?: string;
  /** Subnet routes the node offers. */
  RoutableIPs?: string[] | null;
  /** ACL tags the node asks for. */
  RequestTags?: string[] | null;
  /** Network conditions the node observed. */
  NetInfo?: Record<string, unknown> | null;
  /** SSH host keys, when Tailscale SSH is on (renamed field). */
  sshHostKeys?: string[] | null;
  /** Every other Hostinfo field, as sent. */
  [field: string]: unknown;
}

/** A node: the self node (`MapResponse.Node`) or a peer (reference §10.2). */
export interface Node {
  /** Node ID. */
  ID: NodeID;
  /** Stable ID. */
  StableID: StableNodeID;
  /** MagicDNS FQDN with a trailing dot, e.g. `host.example.com.`. */
  Name: string;
  /** Owning user. */
  User: UserID;
  /** Sharing user, when shared in. */
  Sharer?: UserID;
  /** WireGuard public key (`nodekey:`). */
  Key: string;
  /** Key expiry; absent when the key never expires. */
  KeyExpiry?: GoTime;
  /** Tailnet-lock signature, base64. */
  KeySignature?: string | null;
  /** Machine public key (`mkey:`). */
  Machine?: string;
  /** Disco public key (`discokey:`). */
  DiscoKey?: string;
  /** The node's own mesh addresses (`/32`, `/128`). */
  Addresses: string[] | null;
  /** Routes to send to this node; `null`/absent means "same as Addresses" (capver ≥ 112). */
  AllowedIPs?: string[] | null;
  /** UDP endpoints `ip:port`. */
  Endpoints?: string[] | null;
  /** Legacy home DERP `"127.3.3.40:<region>"` (renamed field); normalised to {@link Node.HomeDERP}. */
  DERP?: string;
  /** Home DERP region (capver ≥ 111). */
  HomeDERP?: DERPRegionID;
  /** As reported by the node. */
  Hostinfo?: PeerHostinfo | null;
  /** Creation time. */
  Created?: GoTime;
  /** Capability version (Headscale fills in the recipient's). */
  Cap?: CapabilityVersion;
  /** ACL tags. */
  Tags?: string[] | null;
  /** Subnet routes this node is primary for. */
  PrimaryRoutes?: string[] | null;
  /** Last time online; only offline nodes carry it. */
  LastSeen?: GoTime | null;
  /** Connected to control now; absent = unknown. */
  Online?: boolean | null;
  /** Approved by an admin. */
  MachineAuthorized?: boolean;
  /** Deprecated capability names; folded into {@link Node.CapMap} on receipt. */
  Capabilities?: string[] | null;
  /** Node capabilities and attributes. */
  CapMap?: CapMap | null;
  /** Tailnet lock: restrict AllowedIPs to Addresses. */
  UnsignedPeerAPIOnly?: boolean;
  /** Computed client-side by Go; ignored if received. */
  ComputedName?: string;
  /** Computed client-side by Go; ignored if received. */
  ComputedNameWithHost?: string;
  /** Audit-log ID. */
  DataPlaneAuditLogID?: string;
  /** The node key has expired. */
  Expired?: boolean;
  /** The IPv4 address this peer knows the self node as. */
  SelfNodeV4MasqAddrForThisPeer?: string | null;
  /** The IPv6 address this peer knows the self node as. */
  SelfNodeV6MasqAddrForThisPeer?: string | null;
  /** A plain WireGuard peer (no disco). */
  IsWireGuardOnly?: boolean;
  /** Jailed: may not initiate connections. */
  IsJailed?: boolean;
  /** DNS resolvers to use when this node is the exit node. */
  ExitNodeDNSResolvers?: Resolver[] | null;
}

/** A field-level patch of a known peer (`PeersChangedPatch` entry, reference §10.3). */
export interface PeerChange {
  /** Which peer; unknown IDs are ignored. */
  NodeID: NodeID;
  /** New home DERP region when non-zero. */
  DERPRegion?: DERPRegionID;
  /** New capability version when non-zero. */
  Cap?: CapabilityVersion;
  /** New capability map when non-null. */
  CapMap?: CapMap | null;
  /** New endpoints when non-null. */
  Endpoints?: string[] | null;
  /** New node key when present. */
  Key?: string | null;
  /** New tailnet-lock signature when non-null. */
  KeySignature?: string | null;
  /** New disco key when present. */
  DiscoKey?: string | null;
  /** New online state when present. */
  Online?: boolean | null;
  /** New last-seen time when present. */
  LastSeen?: GoTime | null;
  /** New key expiry when present; the zero time clears the expiry. */
  KeyExpiry?: GoTime | null;
}

/** A DNS resolver (`dnstype.Resolver`). */
export interface Resolver {
  /** IP, `ip:port`, or a DoH `https://` URL. */
  Addr?: string;
  /** IPs for resolving a DoH host name. */
  BootstrapResolution?: string[] | null;
  /** Also use while an exit node is in use. */
  UseWithExitNode?: boolean;
}

/** An extra DNS record served by MagicDNS. */
export interface DNSRecord {
  /** Fully qualified name. */
  Name: string;
  /** Record type; omitted means A/AAAA by the value's family. */
  Type?: string;
  /** Record value. */
  Value: string;
}

/** DNS configuration (reference §10.5). */
export interface DNSConfig {
  /** Resolvers to use (override local DNS). */
  Resolvers?: Resolver[] | null;
  /** Split DNS: suffix → resolvers; an empty list means 100.100.100.100 only. */
  Routes?: Record<string, Resolver[] | null> | null;
  /** Resolvers used when the OS has none. */
  FallbackResolvers?: Resolver[] | null;
  /** Search domains, no trailing dot. */
  Domains?: string[] | null;
  /** MagicDNS on. */
  Proxied?: boolean;
  /** Deprecated plain nameserver IPs. */
  Nameservers?: string[] | null;
  /** Domains the node may get TLS certificates for. */
  CertDomains?: string[] | null;
  /** Extra records. */
  ExtraRecords?: DNSRecord[] | null;
  /** Names not to route through an exit node's resolver. */
  ExitNodeFilteredSet?: string[] | null;
  /** Temporary corp-specific field. */
  TempCorpIssue13969?: string;
}

/** An inclusive port range. */
export interface PortRange {
  /** First port. */
  First: number;
  /** Last port. */
  Last: number;
}

/** A destination of a filter rule. */
export interface NetPortRange {
  /** IP, CIDR, `a-b` range, `*`, or `cap:<name>`. */
  IP: string;
  /** Deprecated prefix length. */
  Bits?: number | null;
  /** Allowed ports. */
  Ports: PortRange;
}

/** A capability grant of a filter rule. */
export interface CapGrant {
  /** Destination prefixes. */
  Dsts: string[] | null;
  /** Deprecated capability names. */
  Caps?: string[] | null;
  /** Peer capabilities granted. */
  CapMap?: CapMap | null;
}

/** One packet-filter rule (reference §10.5). */
export interface FilterRule {
  /** Sources: IP, CIDR, range, `*`, or `cap:<name>`. */
  SrcIPs: string[] | null;
  /** Deprecated prefix lengths. */
  SrcBits?: number[] | null;
  /** Destinations. */
  DstPorts?: NetPortRange[] | null;
  /** IP protocol numbers; empty = TCP, UDP and ICMP. */
  IPProto?: number[] | null;
  /** Capability grants. */
  CapGrant?: CapGrant[] | null;
}

/** A user's public profile. */
export interface UserProfile {
  /** User ID. */
  ID: UserID;
  /** Login name, e.g. an email. */
  LoginName: string;
  /** Display name. */
  DisplayName: string;
  /** Picture URL. */
  ProfilePicURL?: string;
  /** Group memberships. */
  Groups?: string[] | null;
}

/** A DERP server (reference §10.4). */
export interface DERPNode {
  /** Node name, e.g. `1b` or `999`. */
  Name: string;
  /** Region it belongs to. */
  RegionID: DERPRegionID;
  /** TLS/SNI host name. */
  HostName: string;
  /** Expected certificate name; `sha256-raw:<hex>` pins a self-signed cert. */
  CertName?: string;
  /** Forced IPv4 address; `none` disables IPv4. */
  IPv4?: string;
  /** Forced IPv6 address; `none` disables IPv6. */
  IPv6?: string;
  /** STUN port: 0 = 3478, −1 = none. */
  STUNPort?: number;
  /** STUN only, no DERP. */
  STUNOnly?: boolean;
  /** DERP (HTTPS) port: 0 = 443. */
  DERPPort?: number;
  /** Skip TLS verification (tests). */
  InsecureForTests?: boolean;
  /** STUN test IP (tests). */
  STUNTestIP?: string;
  /** Reachable on port 80 (captive-portal checks). */
  CanPort80?: boolean;
}

/** A DERP region. */
export interface DERPRegion {
  /** Region ID (900–999 reserved for self-hosted). */
  RegionID: DERPRegionID;
  /** Short code. */
  RegionCode: string;
  /** Display name. */
  RegionName: string;
  /** Latitude. */
  Latitude?: number;
  /** Longitude. */
  Longitude?: number;
  /** Deprecated. */
  Avoid?: boolean;
  /** Don't probe or home here; peers homed here are still reachable (capver ≥ 115). */
  NoMeasureNoHome?: boolean;
  /** Servers in priority order. */
  Nodes: DERPNode[] | null;
}

/** Home-region preferences. */
export interface DERPHomeParams {
  /** Region ID (decimal string) → score; < 1 prefers, > 1 penalises. `null` keeps the old scores. */
  RegionScore?: Record<string, number> | null;
}

/** The DERP map. Region keys are decimal region IDs. */
export interface DERPMap {
  /** Home preferences; `null` = unchanged. */
  HomeParams?: DERPHomeParams | null;
  /** Regions; a `null` value disables that region; `null` map = unchanged. */
  Regions: Record<string, DERPRegion | null> | null;
  /** Don't use the default regions (renamed field). */
  omitDefaultRegions?: boolean;
}

/** A request to prove liveness or ping a peer (reference §10.6). */
export interface PingRequest {
  /** Where to answer; unique per request. */
  URL: string;
  /** Answer over the Noise connection. */
  URLIsNoise?: boolean;
  /** Log the result. */
  Log?: boolean;
  /** Comma list of ping types; empty = plain HEAD. */
  Types?: string;
  /** Target IP. */
  IP?: string;
  /** c2n HTTP request, base64. */
  Payload?: string | null;
}

/** Debug directives from control. */
export interface Debug {
  /** Sleep this long before the next poll (capped at 5 min by the Go client). */
  SleepSeconds?: number;
  /** Stop uploading logs. */
  DisableLogTail?: boolean;
  /** Exit with this code. */
  Exit?: number | null;
}

/** A structured health message's action button. */
export interface DisplayMessageAction {
  /** Target URL. */
  URL: string;
  /** Button label. */
  Label: string;
}

/** A structured health message (capver ≥ 117). */
export interface DisplayMessage {
  /** Title. */
  Title: string;
  /** Body. */
  Text: string;
  /** `high`, `medium` or `low`. */
  Severity: string;
  /** Whether it affects connectivity. */
  ImpactsConnectivity?: boolean;
  /** Optional action. */
  PrimaryAction?: DisplayMessageAction | null;
}

/** Who an SSH rule matches. */
export interface SSHPrincipal {
  /** Stable node ID. */
  node?: string;
  /** Node IP. */
  nodeIP?: string;
  /** User login. */
  userLogin?: string;
  /** Matches any connection. */
  any?: boolean;
  /** Unused. */
  pubKeys?: string[] | null;
}

/** What an SSH rule does. */
export interface SSHAction {
  /** Message to show. */
  message?: string;
  /** Reject. */
  reject?: boolean;
  /** Accept. */
  accept?: boolean;
  /** Session duration in nanoseconds. */
  sessionDuration?: number;
  /** Allow agent forwarding. */
  allowAgentForwarding?: boolean;
  /** URL to hand the decision to. */
  holdAndDelegate?: string;
  /** Allow local port forwarding. */
  allowLocalPortForwarding?: boolean;
  /** Allow remote port forwarding. */
  allowRemotePortForwarding?: boolean;
  /** Session recorders. */
  recorders?: string[] | null;
  /** What to do when recording fails. */
  onRecordingFailure?: Record<string, unknown> | null;
}

/** One Tailscale SSH rule. */
export interface SSHRule {
  /** Expiry. */
  ruleExpires?: GoTime | null;
  /** Who matches. */
  principals: SSHPrincipal[] | null;
  /** Local user mapping. */
  sshUsers: Record<string, string> | null;
  /** The action. */
  action: SSHAction | null;
  /** Accepted environment variables. */
  acceptEnv?: string[] | null;
}

/** Tailscale SSH policy. */
export interface SSHPolicy {
  /** Rules in order. */
  rules: SSHRule[] | null;
}

/** Tailnet-lock state. */
export interface TKAInfo {
  /** Head hash. */
  Head?: string;
  /** Tailnet lock was disabled. */
  Disabled?: boolean;
}

/** A candidate for dialing control. */
export interface ControlIPCandidate {
  /** IP to dial. */
  IP?: string;
  /** ACE host to dial through. */
  ACEHost?: string;
  /** Delay before dialing, seconds. */
  DialStartDelaySec?: number;
  /** Dial timeout, seconds. */
  DialTimeoutSec?: number;
  /** Priority. */
  Priority?: number;
}

/** How to dial control next time. */
export interface ControlDialPlan {
  /** Candidates. */
  Candidates: ControlIPCandidate[] | null;
}

/** Client update availability. */
export interface ClientVersion {
  /** Running the latest version. */
  RunningLatest?: boolean;
  /** Latest version. */
  LatestVersion?: string;
  /** An urgent security update exists. */
  UrgentSecurityUpdate?: boolean;
  /** Tell the user. */
  Notify?: boolean;
  /** Where to read more. */
  NotifyURL?: string;
  /** What to tell. */
  NotifyText?: string;
}

/**
 * One message of the map stream (reference §10.1). Absent, `null` or zero
 * fields mean "unchanged".
 */
export interface MapResponse {
  /** Session-resumption handle (not sent by Headscale). */
  MapSessionHandle?: string;
  /** Session sequence number (not sent by Headscale). */
  Seq?: number;
  /** Keep-alive only: everything but PingRequest, ControlTime and PopBrowserURL is ignored. */
  KeepAlive?: boolean;
  /** A ping to answer; may come on keep-alives. */
  PingRequest?: PingRequest | null;
  /** Open this URL once. */
  PopBrowserURL?: string;
  /** The self node; `null` = unchanged. */
  Node?: Node | null;
  /** The DERP map; merged with the previous one (reference §10.4). */
  DERPMap?: DERPMap | null;
  /** Full peer list when non-empty; replaces all peers and suppresses the other peer deltas. */
  Peers?: Node[] | null;
  /** Peers to upsert (whole-node replacement). */
  PeersChanged?: Node[] | null;
  /** Peer IDs to delete. */
  PeersRemoved?: NodeID[] | null;
  /** Field-level patches of known peers. */
  PeersChangedPatch?: PeerChange[] | null;
  /** Node ID → seen (true: LastSeen = now; false: clear LastSeen). */
  PeerSeenChange?: Record<string, boolean> | null;
  /** Node ID → online. */
  OnlineChange?: Record<string, boolean> | null;
  /** DNS configuration; replaces the old one. */
  DNSConfig?: DNSConfig | null;
  /** Tailnet name; `""` = unchanged. */
  Domain?: string;
  /** Whether to report services. */
  CollectServices?: OptBool;
  /** Legacy single filter, the same as the named chunk `base`; `[]` blocks everything. */
  PacketFilter?: FilterRule[] | null;
  /** Named filter chunks; `null` deletes a chunk; `"*": null` clears all first. */
  PacketFilters?: Record<string, FilterRule[] | null> | null;
  /** New or changed user profiles (merged by ID). */
  UserProfiles?: UserProfile[] | null;
  /** Health problems (old form); `[]` = healthy. */
  Health?: string[] | null;
  /** Structured health, patch semantics; `"*": null` clears. */
  DisplayMessages?: Record<string, DisplayMessage | null> | null;
  /** Tailscale SSH policy. */
  SSHPolicy?: SSHPolicy | null;
  /** Server clock. */
  ControlTime?: GoTime | null;
  /** Tailnet-lock state. */
  TKAInfo?: TKAInfo | null;
  /** Audit-log ID of the tailnet. */
  DomainDataPlaneAuditLogID?: string;
  /** Debug directives. */
  Debug?: Debug | null;
  /** How to dial control next time. */
  ControlDialPlan?: ControlDialPlan | null;
  /** Update availability. */
  ClientVersion?: ClientVersion | null;
  /** Deprecated auto-update default (renamed field). */
  DefaultAutoUpdate?: OptBool;
}
