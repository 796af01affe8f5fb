/**
 * The errors of the HTTP proxy client. Every one is a {@link ProxyError},
 * so a caller can catch the family; the subclasses say what went wrong.
 * Messages name the proxy by `host:port` only: its user name and password
 * (from the proxy URL) never appear in a message, a `cause` or a log.
 *
 * @module
 */

/** Base class of every proxy error. */
export class ProxyError extends Error {
  /** The proxy as `host:port` (never with credentials). */
  readonly proxy: string;
  /** Makes the error naming the proxy; `options.cause` keeps the underlying error. */
  constructor(message: string, proxy: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProxyError";
    this.proxy = proxy;
  }
}

/**
 * A proxy setting that cannot be used: a value of `HTTPS_PROXY` (or its
 * siblings) that is no URL, or a scheme this client does not speak
 * (`https://` and `socks5://` proxies).
 */
export class ProxyConfigError extends ProxyError {
  /** The environment variable (or setting) the value came from. */
  readonly setting: string;
  /** Makes the error; `setting` names where the bad value came from. */
  constructor(message: string, setting: string) {
    super(message, "");
    this.name = "ProxyConfigError";
    this.setting = setting;
  }
}

/** The proxy itself could not be reached: connection refused, DNS failure, timeout. */
export class ProxyUnreachableError extends ProxyError {
  /** Makes the error; `cause` keeps the underlying network error. */
  constructor(message: string, proxy: string, options?: ErrorOptions) {
    super(message, proxy, options);
    this.name = "ProxyUnreachableError";
  }
}

/**
 * The proxy answered `407 Proxy Authentication Required`: it wants
 * credentials we did not send, or refused the ones we did.
 */
export class ProxyAuthError extends ProxyError {
  /** Whether we sent credentials (then they are wrong), or none (then some are needed). */
  readonly sentCredentials: boolean;
  /** Makes the error; `sentCredentials` says which of the two cases it is. */
  constructor(message: string, proxy: string, sentCredentials: boolean) {
    super(message, proxy);
    this.name = "ProxyAuthError";
    this.sentCredentials = sentCredentials;
  }
}

/**
 * The proxy refused to open the tunnel with a status other than 407:
 * `403 Forbidden` (its policy forbids the destination or port), `502`
 * (it could not reach the destination), and so on.
 */
export class ProxyRefusedError extends ProxyError {
  /** The HTTP status of the proxy's answer. */
  readonly status: number;
  /** The `host:port` we asked the proxy to reach. */
  readonly target: string;
  /** Makes the error with the proxy's status and the target it refused. */
  constructor(message: string, proxy: string, status: number, target: string) {
    super(message, proxy);
    this.name = "ProxyRefusedError";
    this.status = status;
    this.target = target;
  }
}

/** The proxy's answer to CONNECT is not HTTP, or it closed the connection without one. */
export class ProxyProtocolError extends ProxyError {
  /** Makes the error; `cause` keeps the parse or read error. */
  constructor(message: string, proxy: string, options?: ErrorOptions) {
    super(message, proxy, options);
    this.name = "ProxyProtocolError";
  }
}
