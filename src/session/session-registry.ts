import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { LANGUAGES } from '../domain/languages.js';
import { isSessionId } from './session-id.js';

/** The registry file's format; a file of another version is not read (its sessions are not adopted). */
export const REGISTRY_VERSION = 1;

const positiveInt = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const allowRuleSchema = z
  .object({
    kind: z.enum(['exact', 'subdomains', 'any']),
    host: z.string().max(253),
    ports: z.array(z.number().int().min(1).max(65535)).max(64).optional(),
    reachesPrivate: z.boolean(),
  })
  .strict();

/**
 * One paused session as a later process needs it to take the session over: who owns it, what it
 * may do (limits, network: exactly as when it was created), when it ends, and where its sandbox is.
 */
const sessionRecordSchema = z
  .object({
    id: z.string().refine(isSessionId, 'not a session id'),
    owner: z.string().min(1).max(512),
    language: z.enum(LANGUAGES),
    limits: z
      .object({
        timeoutMs: positiveInt,
        memoryBytes: positiveInt,
        cpuMillicores: positiveInt,
        maxProcesses: positiveInt,
        outputBytes: positiveInt,
      })
      .strict(),
    network: z.object({ rules: z.array(allowRuleSchema).max(64) }).strict(),
    idleTimeoutMs: positiveInt,
    createdAtMs: positiveInt,
    expiresAtMs: positiveInt,
    checkpointBytes: z.number().int().min(0),
    sandbox: z
      .object({
        containerId: z.string().regex(/^[0-9a-f]{64}$/),
        sandboxId: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/),
        jobHostDir: z.string().min(1).max(4096),
        warm: z.boolean(),
      })
      .strict(),
  })
  .strict();

export type SessionRecord = z.infer<typeof sessionRecordSchema>;

/** What a registry file held: records fit for adoption, and why each other entry was refused. */
export interface RegistryContents {
  records: SessionRecord[];
  refused: string[];
}

/**
 * Parses a registry file's text. Pure. Anything that is not exactly a record of this format is
 * refused with its reason (a tampered or foreign entry must never be adopted); so is a session of
 * another instance (its id would route to another replica) and a repeated id or container.
 */
export function parseRegistry(text: string, instanceId: string): RegistryContents {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return { records: [], refused: ['the registry is not JSON'] };
  }
  const envelope = z
    .object({ version: z.literal(REGISTRY_VERSION), sessions: z.array(z.unknown()).max(100_000) })
    .strict()
    .safeParse(document);
  if (!envelope.success) return { records: [], refused: [`the registry is not version ${REGISTRY_VERSION}`] };
  const records: SessionRecord[] = [];
  const refused: string[] = [];
  const seen = new Set<string>();
  envelope.data.sessions.forEach((entry, index) => {
    const parsed = sessionRecordSchema.safeParse(entry);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      refused.push(`entry ${index}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`.trim());
      return;
    }
    const record = parsed.data;
    if (!record.id.startsWith(`${instanceId}.`)) {
      refused.push(`entry ${index}: a session of another instance`);
      return;
    }
    if (seen.has(record.id) || seen.has(record.sandbox.containerId)) {
      refused.push(`entry ${index}: a repeated session or container`);
      return;
    }
    seen.add(record.id).add(record.sandbox.containerId);
    records.push(record);
  });
  return { records, refused };
}

/**
 * This instance's paused sessions on disk (`<work root>/sessions/<instance id>.json`): outside every
 * directory mounted into a sandbox, in a directory only this user can enter, the file mode 0600,
 * replaced atomically (written beside, then renamed) so a crash leaves the old or the new list.
 */
export class SessionRegistryFile {
  constructor(
    readonly path: string,
    private readonly instanceId: string,
  ) {}

  /** The records (and refusals); an absent file is an empty registry. */
  async load(): Promise<RegistryContents> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], refused: [] };
      throw error;
    }
    return parseRegistry(text, this.instanceId);
  }

  async save(records: readonly SessionRecord[]): Promise<void> {
    const directory = dirname(this.path);
    await mkdir(directory, { recursive: true, mode: 0o700 });
    await chmod(directory, 0o700);
    if (records.length === 0) {
      await rm(this.path, { force: true });
      return;
    }
    const temporary = `${this.path}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify({ version: REGISTRY_VERSION, sessions: records }), {
      mode: 0o600,
    });
    await rename(temporary, this.path);
  }
}
