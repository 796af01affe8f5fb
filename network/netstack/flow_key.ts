/**
 * The demultiplexing key of a TCP connection: local address and port,
 * remote address and port, packed into a short string so that a `Map`
 * finds the connection of an arriving segment without formatting
 * addresses as text.
 *
 * @module
 */

/** The key for (local ip, local port, remote ip, remote port). */
export function flowKey(
  localIp: Uint8Array,
  localPort: number,
  remoteIp: Uint8Array,
  remotePort: number,
): string {
  let key = String.fromCharCode(localPort, remotePort, localIp.length);
  for (let i = 0; i < localIp.length; i += 2) {
    key += String.fromCharCode((localIp[i] << 8) | localIp[i + 1]);
  }
  for (let i = 0; i < remoteIp.length; i += 2) {
    key += String.fromCharCode((remoteIp[i] << 8) | remoteIp[i + 1]);
  }
  return key;
}
