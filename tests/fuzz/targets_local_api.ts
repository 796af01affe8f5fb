/**
 * Fuzz target of the local API: the HTTP/1.1 request-head parser, which
 * reads what any local user who can reach the socket sends. It must answer
 * a head within the limits or an HttpRequestError, nothing else. (The
 * server over a real socket is fuzzed by localapi_fuzz_test.ts.)
 */
import {
  findHeadEnd,
  HttpRequestError,
  parseRequestHead,
} from "../../localapi/http_request_head.ts";
import { LOCAL_API_LIMITS } from "../../localapi/server.ts";
import { type FuzzTarget, runEach } from "./fuzz_target.ts";
import { LOCAL_API_REQUESTS } from "./local_api_requests.ts";

const encoder = new TextEncoder();
const LIMITS = { maxBodyBytes: LOCAL_API_LIMITS.maxBodyBytes, maxHeaderFields: 64 };

const localApiHead: FuzzTarget = {
  name: "local-api-head",
  description: "local API request heads: head end search, request line, fields, Content-Length",
  expected: [HttpRequestError],
  maxLength: 16 * 1024,
  setup() {
    return {
      corpus: LOCAL_API_REQUESTS.map((request) => encoder.encode(request)),
      run(input: Uint8Array) {
        const end = findHeadEnd(input, input.length);
        const head = end === -1 ? input : input.subarray(0, end);
        runEach([() => {
          const parsed = parseRequestHead(head, LIMITS);
          if (parsed.contentLength < 0 || parsed.contentLength > LIMITS.maxBodyBytes) {
            throw new Error(`Content-Length ${parsed.contentLength} passed the limit`);
          }
        }], [HttpRequestError]);
      },
    };
  },
};

/** The local API's targets. */
export const LOCAL_API_TARGETS: readonly FuzzTarget[] = [localApiHead];
