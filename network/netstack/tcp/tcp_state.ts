/**
 * The TCP connection states (RFC 9293 §3.3.2). LISTEN belongs to listeners
 * and CLOSED to no connection at all; a connection object lives from
 * SYN-SENT or SYN-RECEIVED until TIME-WAIT ends or it is reset.
 *
 * @module
 */

/** A connection's state, named as in RFC 9293. */
export const TcpState = {
  /** Our SYN is out, no SYN back yet. */
  SynSent: "SYN-SENT",
  /** A SYN received and answered, our SYN not yet acknowledged. */
  SynReceived: "SYN-RECEIVED",
  /** Open both ways. */
  Established: "ESTABLISHED",
  /** We closed; our FIN not yet acknowledged. */
  FinWait1: "FIN-WAIT-1",
  /** Our FIN acknowledged; waiting for the peer's. */
  FinWait2: "FIN-WAIT-2",
  /** The peer closed; we may still send. */
  CloseWait: "CLOSE-WAIT",
  /** Both closed at once; our FIN not yet acknowledged. */
  Closing: "CLOSING",
  /** The peer closed first, then we did; our FIN not yet acknowledged. */
  LastAck: "LAST-ACK",
  /** Both FINs acknowledged; waiting 2·MSL for stray segments. */
  TimeWait: "TIME-WAIT",
  /** Gone. */
  Closed: "CLOSED",
} as const;

/** One of {@link TcpState}. */
export type TcpStateName = typeof TcpState[keyof typeof TcpState];

/** States in which we may send new data. */
export function canSendData(state: TcpStateName): boolean {
  return state === TcpState.Established || state === TcpState.CloseWait;
}

/** States in which segments we sent may still need retransmission. */
export function hasSendQueue(state: TcpStateName): boolean {
  return state === TcpState.Established || state === TcpState.CloseWait ||
    state === TcpState.FinWait1 || state === TcpState.Closing || state === TcpState.LastAck;
}

/** States in which data from the peer is accepted (RFC 9293 §3.10.7.4, seventh). */
export function canReceiveData(state: TcpStateName): boolean {
  return state === TcpState.Established || state === TcpState.FinWait1 ||
    state === TcpState.FinWait2;
}
