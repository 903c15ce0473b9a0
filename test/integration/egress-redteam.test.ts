import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapturedLog } from '../support/captured-log.js';
import { startRawOrigin, type RawOrigin } from '../support/raw-http-origin.js';
import { executeGrpc, python, startTestApp, type TestApp } from '../support/test-app.js';

// A hostile program in a real runsc sandbox, speaking raw bytes to its egress relay (127.0.0.1:3128,
// which passes them unchanged to the proxy's socket). The origin is on loopback and parses every
// request in the bytes it receives, as a lenient server behind the proxy would.
let t: TestApp;
let origin: RawOrigin;
const log = new CapturedLog();
const MAX_CONNECTIONS = 4;

beforeAll(async () => {
  origin = await startRawOrigin();
  t = await startTestApp(
    {
      SANDBOX_EGRESS_ALLOW: `origin.test:${origin.port}`,
      SANDBOX_EGRESS_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
      SANDBOX_POOL_SIZE: '1',
    },
    pino({ level: 'info' }, log),
    { resolveHost: async (host) => (host.endsWith('.test') ? ['127.0.0.1'] : []) },
  );
});

afterAll(async () => {
  await t?.stop();
  origin.close();
});

const hostileProgram = (port: number) => `
import json, socket
def exchange(payload, wait):
    s = socket.create_connection(("127.0.0.1", 3128))
    s.sendall(payload.encode("latin1"))
    s.settimeout(wait)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out.decode("latin1")
hidden = "GET /smuggled HTTP/1.1\\r\\nHost: internal.example\\r\\n\\r\\n"
smuggle = exchange(
    "GET http://origin.test:${port}/visible HTTP/1.1\\r\\nHost: origin.test\\r\\n"
    "Connection: content-length\\r\\nContent-Length: %d\\r\\n\\r\\n%s" % (len(hidden), hidden), 1.0)
flood = exchange("GET http://elsewhere.test:${port}/ HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" * 300, 2.0)
print(json.dumps({"smuggle": smuggle[:12], "flood_answers": flood.count("HTTP/1.1 ")}))
`;

describe('egress red team, from inside a runsc sandbox', () => {
  it('a program can neither smuggle a request in a GET body nor buy a log line per request past its attempt cap', async () => {
    const before = origin.requests.length;
    const run = await executeGrpc(
      t.grpc,
      python(hostileProgram(origin.port), { network: { allow: [`origin.test:${origin.port}`] } }),
    );
    expect(run.error).toBeUndefined();
    const seen = JSON.parse(run.stdout.toString()) as { smuggle: string; flood_answers: number };
    expect(seen.smuggle).toBe('HTTP/1.1 200');
    // The origin read one request: the one audited.
    expect(origin.requests.slice(before).map((request) => request.url)).toEqual(['/visible']);
    // Past the cap the proxy answers once more and hangs up; one audit line per attempt up to it, plus one.
    expect(seen.flood_answers).toBeLessThanOrEqual(MAX_CONNECTIONS + 1);
    const audit = log.lines.filter((line) => line.msg === 'egress' && line.executionId === run.executionId);
    expect(audit).toHaveLength(MAX_CONNECTIONS + 1);
    expect(audit.filter((line) => (line.egress as { path?: string }).path === '/visible')).toHaveLength(1);
  });
});
