/**
 * The errors the stack's sockets reject with. Each extends the matching
 * `Deno.errors` class, so code written against `Deno.Conn` (which tests
 * `instanceof Deno.errors.ConnectionReset`, say) handles mesh connections
 * unchanged, and each has its own `name`.
 *
 * @module
 */

/** A connect was answered with a RST, or an ICMP port unreachable. */
export class ConnectionRefusedError extends Deno.errors.ConnectionRefused {
  /** Names the remote that refused. */
  constructor(remote: string, why = "refused") {
    super(`connection to ${remote} ${why}`);
    this.name = "ConnectionRefusedError";
  }
}

/** The peer reset an open connection (or it went away: `why` says so). */
export class ConnectionResetError extends Deno.errors.ConnectionReset {
  /** Names the remote that reset, and why when it was not the peer's RST. */
  constructor(remote: string, why = "reset by peer") {
    super(`connection to ${remote} ${why}`);
    this.name = "ConnectionResetError";
  }
}

/**
 * The peer's packet filter forbids the connection: it dropped our SYN and
 * told us so with a TSMP "rejected" message (data-plane reference §5,
 * reason `'A'` for the ACL or `'S'` for shields-up). Extends
 * `ConnectionRefused`, as code written for `Deno.Conn` expects of a refused
 * connect, with its own name.
 */
export class ConnectionForbiddenError extends Deno.errors.ConnectionRefused {
  /** Names the remote and why it forbids us ("by its ACL", "by shields-up"). */
  constructor(readonly remote: string, readonly why: string) {
    super(`connection to ${remote} forbidden ${why}`);
    this.name = "ConnectionForbiddenError";
  }
}

/** This side aborted the connection (an application abort, or data arriving after close). */
export class ConnectionAbortedError extends Deno.errors.ConnectionAborted {
  /** Says why. */
  constructor(message: string) {
    super(message);
    this.name = "ConnectionAbortedError";
  }
}

/** Retransmissions, SYN retries or keepalive probes went unanswered. */
export class ConnectionTimedOutError extends Deno.errors.TimedOut {
  /** Names the remote and what timed out. */
  constructor(remote: string, what: string) {
    super(`connection to ${remote} timed out (${what})`);
    this.name = "ConnectionTimedOutError";
  }
}

/** An ICMP error said the remote host or network cannot be reached. */
export class HostUnreachableError extends Deno.errors.ConnectionRefused {
  /** Names the remote and the ICMP message. */
  constructor(remote: string, what: string) {
    super(`${remote} unreachable (${what})`);
    this.name = "HostUnreachableError";
  }
}

/** A port is taken, or no ephemeral port is free. */
export class AddressInUseError extends Deno.errors.AddrInUse {
  /** Says which port. */
  constructor(message: string) {
    super(message);
    this.name = "AddressInUseError";
  }
}

/** We have no mesh address of the family the remote needs. */
export class AddressUnavailableError extends Deno.errors.AddrNotAvailable {
  /** Says which family. */
  constructor(message: string) {
    super(message);
    this.name = "AddressUnavailableError";
  }
}

/** The socket, listener or stack is closed, or writing is shut down. */
export class SocketClosedError extends Deno.errors.BadResource {
  /** Says what is closed. */
  constructor(message: string) {
    super(message);
    this.name = "SocketClosedError";
  }
}

/** A limit of the stack (connections, sockets, datagram size) was reached. */
export class StackLimitError extends Error {
  /** Says which limit. */
  constructor(message: string) {
    super(message);
    this.name = "StackLimitError";
  }
}

/** Writing after the write side was shut down (closeWrite or close). */
export class WriteClosedError extends Deno.errors.BrokenPipe {
  /** Says why. */
  constructor(message = "the connection's write side is closed") {
    super(message);
    this.name = "WriteClosedError";
  }
}
