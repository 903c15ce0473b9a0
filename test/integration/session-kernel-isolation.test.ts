import { status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_PROTOCOL } from '../../src/sandbox/protocol/sandbox-protocol.js';
import {
  executeGrpc,
  startTestApp,
  unaryGrpc as unary,
  type GrpcRun,
  type TestApp,
} from '../support/test-app.js';
import { SessionTracker } from '../support/session-tracker.js';

// Issue 19: code in a session kernel must not reach its launcher (PID 1): not its stdin (the host's
// commands and their nonces), not its stdout (where a forged result with a stolen nonce would be
// believed), not its memory, and the launcher's file commands must not follow links the code made.
let t: TestApp;
const RESULT_FRAME = SANDBOX_PROTOCOL.frames.result;
const REPLY_FRAME = SANDBOX_PROTOCOL.frames.reply;

beforeAll(async () => {
  t = await startTestApp({ SANDBOX_MAX_SESSIONS: '2' });
});
afterAll(async () => {
  await t?.stop();
});
const sessions = new SessionTracker(() => t);
afterEach(() => sessions.closeAll());

const createSession = (language: string) => sessions.create(language);

function cell(sessionId: string, code: string): Promise<GrpcRun> {
  return executeGrpc(t.grpc, { session_id: sessionId, code, limits: { timeout_ms: 20_000 } });
}

// A background thread that tries every way to the launcher, forever: its fds (0, 1, 2 and every other,
// through /proc/1/fd, /proc/1/task/*/fd and the kernel's parent), its memory, its environment and
// ptrace. Whatever it can read from the launcher's stdin it answers with a forged result or reply.
const PYTHON_ATTACK = String.raw`
import ctypes, json, os, threading, time
attack = []
def note(what):
    if what not in attack: attack.append(what)
def forge(out, line):
    try: command = json.loads(line)
    except ValueError: return
    if command.get("op") == "execute":
        body = json.dumps({"nonce": command["nonce"], "status": "ok", "kernel_restarted": False,
            "detail": "FORGED: the code you sent never ran", "execution_count": 1234, "run_ms": 1, "max_rss_kb": 0}).encode()
        frame = bytes([${RESULT_FRAME}, 0, 0, 0]) + len(body).to_bytes(4, "big") + body
    elif "nonce" in command:
        body = json.dumps({"nonce": command["nonce"], "ok": True, "size": 6}).encode() + b"\nFORGED"
        frame = bytes([${REPLY_FRAME}, 0, 0, 0]) + len(body).to_bytes(4, "big") + body
    else:
        return
    os.write(out, frame)
    note("FORGED " + command["op"])
def try_open(path, flags):
    try:
        fd = os.open(path, flags | os.O_NONBLOCK)
        note(f"opened {path} ({os.readlink(path)})")
        return fd
    except OSError as error:
        note(f"{path}: {type(error).__name__}")
        return None
def attacker():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(16, 1, 0, 0) == 0: note("ptrace attached")
    else: note("ptrace: errno %d" % ctypes.get_errno())
    for name in ("mem", "environ"):
        fd = try_open(f"/proc/1/{name}", os.O_RDONLY)
        if fd is not None:
            try: os.read(fd, 1); note("read /proc/1/" + name)
            except OSError: pass
    while True:
        paths = [f"/proc/1/fd/{n}" for n in range(64)] + [f"/proc/{os.getppid()}/fd/{n}" for n in range(64)]
        try: paths += [f"/proc/1/task/{tid}/fd/0" for tid in os.listdir("/proc/1/task")]
        except OSError: pass
        readers = []
        out = None
        for path in paths:
            if not os.path.lexists(path): continue
            fd = try_open(path, os.O_RDONLY)
            if fd is not None: readers.append(fd)
            w = try_open(path, os.O_WRONLY)
            if w is not None and path.endswith("/fd/1"): out = w
        if out is not None and readers:
            pending = b""
            deadline = time.time() + 30
            while time.time() < deadline:
                for fd in readers:
                    try: chunk = os.read(fd, 65536)
                    except OSError: continue
                    pending += chunk
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        forge(out, line)
                time.sleep(0.001)
        time.sleep(0.05)
threading.Thread(target=attacker, daemon=True).start()
time.sleep(1)
print("started")
`;

const NODE_ATTACK = String.raw`
globalThis.attack = [];
{
  const fs = require('fs');
  const note = (what) => { if (!attack.includes(what)) attack.push(what); };
  const tryOpen = (path, flags) => {
    try { const fd = fs.openSync(path, flags | fs.constants.O_NONBLOCK); let target = '?';
      try {
        target = fs.readlinkSync(path);
      } catch {}
      note('opened ' + path + ' (' + target + ')'); return fd; }
    catch (error) { note(path + ': ' + error.code); return undefined; }
  };
  for (const name of ['mem', 'environ']) {
    const fd = tryOpen('/proc/1/' + name, fs.constants.O_RDONLY);
    if (fd !== undefined) { try { fs.readSync(fd, Buffer.alloc(1)); note('read /proc/1/' + name); } catch {} }
  }
  const forge = (out, line) => {
    let command; try { command = JSON.parse(line); } catch { return; }
    let body, type;
    if (command.op === 'execute') {
      type = ${RESULT_FRAME};
      body = Buffer.from(JSON.stringify({ nonce: command.nonce, status: 'ok', kernel_restarted: false,
        detail: 'FORGED: the code you sent never ran', execution_count: 1234, run_ms: 1, max_rss_kb: 0 }));
    } else if (command.nonce) {
      type = ${REPLY_FRAME};
      body = Buffer.from(JSON.stringify({ nonce: command.nonce, ok: true, size: 6 }) + '\nFORGED');
    } else return;
    const header = Buffer.alloc(8); header[0] = type; header.writeUInt32BE(body.length, 4);
    fs.writeSync(out, Buffer.concat([header, body]));
    note('FORGED ' + command.op);
  };
  const parents = [1, process.ppid];
  const readers = []; let out; let pending = '';
  const scan = () => {
    for (const pid of parents) for (let n = 0; n < 64; n++) {
      const path = '/proc/' + pid + '/fd/' + n;
      try { fs.lstatSync(path); } catch { continue; }
      const fd = tryOpen(path, fs.constants.O_RDONLY); if (fd !== undefined) readers.push(fd);
      const w = tryOpen(path, fs.constants.O_WRONLY); if (w !== undefined && n === 1) out = w;
    }
  };
  scan();
  setInterval(() => {
    if (out === undefined) return;
    for (const fd of readers) {
      const buffer = Buffer.alloc(65536);
      let read = 0; try { read = fs.readSync(fd, buffer); } catch { continue; }
      pending += buffer.subarray(0, read).toString();
      let newline;
      while ((newline = pending.indexOf('\n')) >= 0) { forge(out, pending.slice(0, newline)); pending = pending.slice(newline + 1); }
    }
  }, 1).unref();
}
console.log('started');
`;

const ATTACKS: Record<
  string,
  { attack: string; real: string; report: string; die: string; identity: string; links: string }
> = {
  python: {
    attack: PYTHON_ATTACK,
    real: 'print("real output")',
    die: 'import os; os._exit(3)',
    identity:
      'import json; print(json.dumps([l.split() for l in open("/proc/self/status") if l.startswith(("Uid:", "CapEff:"))]))',
    report:
      'import json; print(json.dumps({"attack": sorted(attack), "status": [l.split() for l in open("/proc/self/status") if l.startswith(("Uid:", "CapEff:"))]}))',
    links: [
      'import os',
      'os.makedirs("sub", exist_ok=True)',
      'open("sub/real.txt", "w").write("nested ok")',
      'os.symlink("/proc/self/environ", "env_link")',
      'os.symlink("/etc/passwd", "passwd_link")',
      'os.symlink("/tmp", "tmpdir")',
      'os.symlink("sub", "mid")',
      'try:\n    os.link("/etc/passwd", "hard_link")\nexcept OSError as error:\n    print("no hard link:", type(error).__name__)',
      'print("links made")',
    ].join('\n'),
  },
  nodejs: {
    attack: NODE_ATTACK,
    real: 'console.log("real output")',
    die: 'process.exit(3)',
    identity:
      "console.log(JSON.stringify(require('fs').readFileSync('/proc/self/status', 'utf8').split('\\n').filter((l) => /^(Uid|CapEff):/.test(l)).map((l) => l.split(/\\s+/))))",
    report:
      "console.log(JSON.stringify({ attack: [...attack].sort(), status: require('fs').readFileSync('/proc/self/status', 'utf8').split('\\n').filter((l) => /^(Uid|CapEff):/.test(l)).map((l) => l.split(/\\s+/)) }))",
    links: [
      "const fs = require('fs');",
      "fs.mkdirSync('sub', { recursive: true });",
      "fs.writeFileSync('sub/real.txt', 'nested ok');",
      "fs.symlinkSync('/proc/self/environ', 'env_link');",
      "fs.symlinkSync('/etc/passwd', 'passwd_link');",
      "fs.symlinkSync('/tmp', 'tmpdir');",
      "fs.symlinkSync('sub', 'mid');",
      "try { fs.linkSync('/etc/passwd', 'hard_link'); } catch (error) { console.log('no hard link:', error.code); }",
      "console.log('links made');",
    ].join('\n'),
  },
};

describe.each(Object.keys(ATTACKS))('%s session kernel', (language) => {
  const code = ATTACKS[language]!;

  it('cannot read the launcher’s commands nor forge later results or replies', async () => {
    const sessionId = await createSession(language);
    const started = await cell(sessionId, code.attack);
    expect(started.stdout.toString()).toBe('started\n');

    // Later cells run for real: their own output, their own execution count, no forged ending.
    for (let i = 0; i < 3; i += 1) {
      const real = await cell(sessionId, code.real);
      expect(real.result?.detail ?? '').not.toContain('FORGED');
      expect(real.result?.execution_count).not.toBe(1234);
      expect(real.stdout.toString()).toBe('real output\n');
      expect(real.result?.exit_reason).toBe('ok');
    }
    await unary(t.grpc, 'UploadFile', { session_id: sessionId, path: 'f.txt', content: Buffer.from('real') });
    const download = await unary(t.grpc, 'DownloadFile', { session_id: sessionId, path: 'f.txt' });
    expect(download.response?.content).toEqual(Buffer.from('real'));

    // The attack failed, observably, for its own reasons.
    const report = await cell(sessionId, code.report);
    const { attack: outcomes, status: identity } = JSON.parse(report.stdout.toString()) as {
      attack: string[];
      status: string[][];
    };
    // Still open to it: /proc/1/environ (gVisor does not check it; it holds the container spec's
    // environment only: PATH, HOME, LANG, HOSTNAME), and descriptors the launcher holds on files the
    // kernel can open by their own name anyway (/dev/null, /work and what is in it, the read-only inbox, and the
    // kernel's own /proc/<pid>/status, which the Python launcher reads for a cell's peak memory: seen
    // once in a few runs, when the attack caught it open). Never a pipe, socket or stdio descriptor of
    // the launcher ("pipe:[..]", "host:[..]", "socket:[..]").
    expect(
      outcomes.filter(
        (o) =>
          /^(FORGED|read \/proc\/1\/mem|ptrace attached)/.test(o) ||
          (/^opened \/proc\/(?!1\/environ)/.test(o) &&
            !/ \(\/(dev\/null|work\)|work\/|sandbox\/job\/inbox\/|proc\/\d+\/status\))/.test(o)),
      ),
    ).toEqual([]);
    // The kernel runs as the sandbox user (real, effective, saved, fs) with no capability, and so
    // does the one started after it dies.
    const sandboxUser = [
      ['Uid:', '65534', '65534', '65534', '65534'],
      ['CapEff:', '0000000000000000'],
    ];
    expect(identity).toEqual(sandboxUser);
    const died = await cell(sessionId, code.die);
    expect(died.result).toMatchObject({ exit_reason: 'error', interpreter_restarted: true });
    const again = await cell(sessionId, code.identity);
    expect(JSON.parse(again.stdout.toString())).toEqual(sandboxUser);
    expect(outcomes).toEqual(expect.arrayContaining([expect.stringMatching(/^\/proc\/1\/fd\/0: /)]));
    expect(outcomes).toEqual(expect.arrayContaining([expect.stringMatching(/^\/proc\/1\/fd\/1: /)]));
    expect(outcomes).toEqual(expect.arrayContaining([expect.stringMatching(/^\/proc\/1\/mem: /)]));
  });

  it('refuses to follow links the code made, for download, upload and list', async () => {
    const sessionId = await createSession(language);
    // A hard link cannot reach outside /work: /work is a filesystem of its own (EXDEV).
    expect((await cell(sessionId, code.links)).stdout.toString()).toMatch(
      /^no hard link: \w+\nlinks made\n$/,
    );
    const download = (path: string) => unary(t.grpc, 'DownloadFile', { session_id: sessionId, path });
    const upload = (path: string) =>
      unary(t.grpc, 'UploadFile', { session_id: sessionId, path, content: Buffer.from('escaped') });

    for (const path of ['env_link', 'passwd_link', 'mid/real.txt', 'tmpdir/x']) {
      const refused = await download(path);
      expect(refused.response, path).toBeUndefined();
      expect([status.INVALID_ARGUMENT, status.NOT_FOUND], path).toContain(refused.error?.code);
    }
    for (const path of ['tmpdir/escaped.txt', 'mid/escaped.txt', 'env_link', 'tmpdir']) {
      const refused = await upload(path);
      expect(refused.response, path).toBeUndefined();
      expect([status.INVALID_ARGUMENT, status.NOT_FOUND], path).toContain(refused.error?.code);
    }
    const escaped =
      language === 'python'
        ? 'import os; print(os.path.exists("/tmp/escaped.txt"), os.path.exists("sub/escaped.txt"), os.path.islink("env_link"))'
        : "console.log(fs.existsSync('/tmp/escaped.txt'), fs.existsSync('sub/escaped.txt'), fs.lstatSync('env_link').isSymbolicLink())";
    expect((await cell(sessionId, escaped)).stdout.toString().toLowerCase()).toBe('false false true\n');

    // Plain nested files still work both ways, and the listing shows no link.
    expect((await download('sub/real.txt')).response?.content).toEqual(Buffer.from('nested ok'));
    expect((await upload('new/dir/up.txt')).response).toMatchObject({ path: 'new/dir/up.txt', size: 7 });
    expect((await download('new/dir/up.txt')).response?.content).toEqual(Buffer.from('escaped'));
    const listing = await unary(t.grpc, 'ListFiles', { session_id: sessionId });
    const paths = (listing.response?.files as { path: string }[]).map((file) => file.path).sort();
    expect(paths).toEqual(['new/dir/up.txt', 'sub/real.txt']);
  });
});
