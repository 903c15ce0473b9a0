/**
 * RAGFlow's executor-manager settings, as its compose passes them (infiniflow/ragflow
 * docker/docker-compose-base.yml, service sandbox-executor-manager, `env_file: .env` plus its
 * `environment:` list; value formats from agent/sandbox/executor_manager/util.py). Dropping this
 * service in for RAGFlow's manager means reading that environment instead of refusing it.
 */

/** RAGFlow's name → the variables of ours it sets, with the parser for RAGFlow's value format. */
const TRANSLATED: Record<string, { ours: string[]; parse: (value: string) => string | Error }> = {
  // "256m", "1g": the memory each sandbox gets; RAGFlow's requests cannot ask for more.
  SANDBOX_MAX_MEMORY: {
    ours: ['SANDBOX_DEFAULT_MEMORY_BYTES', 'SANDBOX_MAX_MEMORY_BYTES'],
    parse: parseDockerMemory,
  },
  // "10s", "2m", "1m30s": the wall-clock limit of each run; likewise default and ceiling.
  SANDBOX_TIMEOUT: { ours: ['SANDBOX_DEFAULT_TIMEOUT_MS', 'SANDBOX_MAX_TIMEOUT_MS'], parse: parseDuration },
  // Honoured as given: an image that does not exist on this host stops the preflight, by name.
  SANDBOX_BASE_PYTHON_IMAGE: { ours: ['SANDBOX_PYTHON_IMAGE'], parse: (value) => value },
  SANDBOX_BASE_NODEJS_IMAGE: { ours: ['SANDBOX_NODEJS_IMAGE'], parse: (value) => value },
  SANDBOX_EXECUTOR_MANAGER_POOL_SIZE: { ours: ['SANDBOX_POOL_SIZE'], parse: (value) => value },
  // Newer RAGFlow managers take a shared secret under these names.
  SANDBOX_EXECUTOR_MANAGER_API_TOKEN: { ours: ['SANDBOX_AUTH_TOKEN'], parse: (value) => value },
  SANDBOX_EXECUTOR_MANAGER_ALLOW_UNAUTHENTICATED: {
    ours: ['SANDBOX_ALLOW_UNAUTHENTICATED'],
    parse: (value) => value.toLowerCase(),
  },
};

/**
 * RAGFlow's names with no meaning here: they configure RAGFlow itself or its compose file (which
 * image to run, which port to publish) rather than the manager.
 */
const IGNORED = new Set([
  'SANDBOX_ENABLED',
  'SANDBOX_EXECUTOR_MANAGER_IMAGE',
  'SANDBOX_EXECUTOR_MANAGER_PORT',
  'SANDBOX_ARTIFACT_BUCKET',
  'SANDBOX_ARTIFACT_EXPIRE_DAYS',
]);

export interface RagflowTranslation {
  /** The environment with RAGFlow's names replaced by ours (ours win when both are set). */
  env: Record<string, string>;
  /** Which of our variables came from which RAGFlow variable, to name it in error messages. */
  origins: Record<string, string>;
  problems: string[];
  /** One line for the operator: what was mapped, overridden and ignored (undefined: nothing). */
  notice: string | undefined;
}

/** Replaces RAGFlow's variables by ours. Pure. */
export function translateRagflowEnvironment(input: Record<string, string>): RagflowTranslation {
  const env: Record<string, string> = {};
  const origins: Record<string, string> = {};
  const problems: string[] = [];
  const mapped: string[] = [];
  const overridden: string[] = [];
  const ignored: string[] = [];
  for (const [key, value] of Object.entries(input)) {
    if (IGNORED.has(key)) ignored.push(key);
    else if (!(key in TRANSLATED)) env[key] = value;
  }
  for (const [key, { ours, parse }] of Object.entries(TRANSLATED)) {
    const value = input[key];
    if (value === undefined) continue;
    const parsed = parse(value.trim());
    if (parsed instanceof Error) {
      problems.push(`${key}: ${parsed.message}`);
      continue;
    }
    const free = ours.filter((name) => input[name] === undefined);
    if (free.length < ours.length)
      overridden.push(`${key} (by ${ours.filter((name) => !free.includes(name)).join(', ')})`);
    for (const name of free) {
      env[name] = parsed;
      origins[name] = key;
    }
    if (free.length > 0) mapped.push(`${key} → ${free.join(', ')}`);
  }
  const parts = [
    mapped.length > 0 ? `mapped ${mapped.join('; ')}` : '',
    overridden.length > 0 ? `overridden ${overridden.join('; ')}` : '',
    ignored.length > 0 ? `ignored ${ignored.join(', ')}` : '',
  ].filter(Boolean);
  return {
    env,
    origins,
    problems,
    notice: parts.length > 0 ? `RAGFlow executor-manager variables: ${parts.join('; ')}` : undefined,
  };
}

const MEMORY_UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Docker's memory format as RAGFlow validates it: a positive integer and one of b, k, m, g. */
export function parseDockerMemory(value: string): string | Error {
  const match = /^([1-9]\d*)([bkmg])$/i.exec(value);
  if (!match) return new Error(`"${value}" is not a memory size like 256m or 1g (units b, k, m, g)`);
  return String(Number(match[1]) * MEMORY_UNITS[match[2]!.toLowerCase()]!);
}

/** RAGFlow's duration format: "10s", "2m", "1m30s"; in milliseconds. */
export function parseDuration(value: string): string | Error {
  const match = /^(?:(\d+)m)?(?:(\d+)s)?$/i.exec(value);
  const seconds = match ? Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0) : 0;
  if (seconds <= 0) return new Error(`"${value}" is not a duration like 10s, 2m or 1m30s`);
  return String(seconds * 1000);
}
