"""The Linux kernel's side of the netstack interop test (tests/interop/netstack_linux_test.ts).

Runs inside the test's network namespace, on the kernel's own TCP/UDP stack, and prints one JSON
line per result on stdout:

  server ADDR PORT         TCP server; each connection starts with a line:
                             "SINK"     read to EOF, answer "<bytes> <sha256>\\n", close
                             "SOURCE N" send N random bytes, close; the sha256 goes to stdout
  client ADDR PORT N       connect to our stack, send N random bytes, shut down writing, read the
                           answer to EOF; print both hashes
  refused ADDR PORT        connect; expect ECONNREFUSED (our RST)
  udp-echo ADDR PORT       UDP echo server
  udp-client ADDR PORT N   send N datagrams to our stack, expect each echoed
  udp-refused ADDR PORT    send to a closed port; expect ECONNREFUSED (our ICMP port unreachable)
"""
import hashlib
import json
import os
import socket
import sys
import threading
import time

CHUNK = 256 * 1024


def say(**fields):
    print(json.dumps(fields), flush=True)


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def read_line(conn):
    line = b""
    while not line.endswith(b"\n"):
        b = conn.recv(1)
        if not b:
            break
        line += b
    return line.decode().strip()


def serve_one(conn, peer):
    try:
        command = read_line(conn)
        start = time.monotonic()
        if command == "SINK":
            h, n = hashlib.sha256(), 0
            while True:
                data = conn.recv(CHUNK)
                if not data:
                    break
                h.update(data)
                n += len(data)
            conn.sendall(f"{n} {h.hexdigest()}\n".encode())
            say(mode="sink", bytes=n, sha256=h.hexdigest(), seconds=time.monotonic() - start)
        elif command.startswith("SOURCE "):
            total = int(command.split()[1])
            h, n = hashlib.sha256(), 0
            while n < total:
                data = os.urandom(min(CHUNK, total - n))
                h.update(data)
                conn.sendall(data)
                n += len(data)
            say(mode="source", bytes=n, sha256=h.hexdigest(), seconds=time.monotonic() - start)
        else:
            say(mode="unknown", command=command)
    except OSError as e:
        say(mode="error", error=str(e), peer=str(peer))
    finally:
        conn.close()


def server(addr, port):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    say(mode="listening", port=port)
    while True:
        conn, peer = s.accept()
        threading.Thread(target=serve_one, args=(conn, peer), daemon=True).start()


def client(addr, port, total):
    start = time.monotonic()
    s = socket.create_connection((addr, port), timeout=120)
    sent_hash, n = hashlib.sha256(), 0
    while n < total:
        data = os.urandom(min(CHUNK, total - n))
        sent_hash.update(data)
        s.sendall(data)
        n += len(data)
    s.shutdown(socket.SHUT_WR)
    sent_seconds = time.monotonic() - start
    got_hash, got = hashlib.sha256(), 0
    line = read_line(s)
    start_reply = time.monotonic()
    while True:
        data = s.recv(CHUNK)
        if not data:
            break
        got_hash.update(data)
        got += len(data)
    say(mode="client", sent=n, sentSha256=sent_hash.hexdigest(), answer=line,
        received=got, receivedSha256=got_hash.hexdigest(), sendSeconds=sent_seconds,
        receiveSeconds=time.monotonic() - start_reply)
    s.close()


def refused(addr, port):
    try:
        socket.create_connection((addr, port), timeout=10).close()
        say(mode="refused", error=None)
    except ConnectionRefusedError:
        say(mode="refused", error="ECONNREFUSED")
    except OSError as e:
        say(mode="refused", error=str(e))


def udp_echo(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, port))
    say(mode="udp-listening", port=port)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def udp_client(addr, port, count):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(10)
    s.connect((addr, port))
    echoed = 0
    for i in range(count):
        payload = f"datagram {i} ".encode() + os.urandom(64)
        s.send(payload)
        if s.recv(65535) == payload:
            echoed += 1
    say(mode="udp-client", sent=count, echoed=echoed)


def udp_refused(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(10)
    s.connect((addr, port))
    s.send(b"anyone there?")
    try:
        s.recv(100)
        say(mode="udp-refused", error=None)
    except ConnectionRefusedError:
        say(mode="udp-refused", error="ECONNREFUSED")
    except OSError as e:
        say(mode="udp-refused", error=str(e))


if __name__ == "__main__":
    cmd, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "server":
        server(addr, port)
    elif cmd == "client":
        client(addr, port, int(sys.argv[4]))
    elif cmd == "refused":
        refused(addr, port)
    elif cmd == "udp-echo":
        udp_echo(addr, port)
    elif cmd == "udp-client":
        udp_client(addr, port, int(sys.argv[4]))
    elif cmd == "udp-refused":
        udp_refused(addr, port)
    else:
        sys.exit(f"unknown command {cmd}")
