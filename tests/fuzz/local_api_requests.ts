/**
 * Local API requests to mutate: well-formed ones and a few near misses
 * (shared by the local API fuzz test and `./dev fuzz`'s local-api-head target).
 */
export const LOCAL_API_REQUESTS: readonly string[] = [
  "GET /status HTTP/1.1\r\nhost: citadel\r\n\r\n",
  "GET http://citadel/status HTTP/1.1\r\naccept: */*\r\nhost: citadel\r\n\r\n",
  'POST http://citadel/ping HTTP/1.1\r\ncontent-length: 38\r\ncontent-type: application/json\r\n\r\n{"target":"peer","timeoutMs":1000}   ',
  'POST /ping HTTP/1.0\r\nContent-Length: 16\r\n\r\n{"target":"x"} ',
  "DELETE /status HTTP/1.1\r\n\r\n",
  "GET /nope?x=1 HTTP/1.1\r\nX-A: b\r\nX-A: c\r\n\r\n",
  "POST /ping HTTP/1.1\r\nContent-Length: 70000\r\n\r\n{}",
  "POST /ping HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
];
