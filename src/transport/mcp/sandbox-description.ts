import type { Config } from '../../config/config.js';
import { importableLibraries, type SandboxImagePackages } from '../../config/sandbox-image-packages.js';
import { LANGUAGES, type Language } from '../../domain/languages.js';
import type { Limits } from '../../domain/limits.js';
import type { AllowRule } from '../../domain/network-policy.js';

/** What the tool descriptions tell a model, all of it read from the running configuration. */
export interface SandboxFacts {
  images: Readonly<Record<Language, string>>;
  /** scripts/sandbox-images.conf: what each image holds. */
  imagePackages: SandboxImagePackages;
  defaultLimits: Readonly<Limits>;
  limitCeilings: Readonly<Limits>;
  sessionDefaultLimits: Readonly<Limits>;
  maxCodeBytes: number;
  maxFiles: number;
  maxInputBytes: number;
  maxArtifacts: number;
  maxArtifactBytes: number;
  /** The server's egress allowlist; empty = sandboxes have no network at all. */
  egressCeiling: readonly AllowRule[];
  /** 0 = sessions are off (the session tools are not offered). */
  maxSessions: number;
  sessionIdleTimeoutMs: number;
  sessionMaxLifetimeMs: number;
}

/** The running configuration as the tool descriptions state it. */
export function sandboxFacts(config: Config, imagePackages: SandboxImagePackages): SandboxFacts {
  return {
    images: config.images,
    imagePackages,
    defaultLimits: config.defaultLimits,
    limitCeilings: config.limitCeilings,
    sessionDefaultLimits: config.sessionDefaultLimits,
    maxCodeBytes: config.maxCodeBytes,
    maxFiles: config.maxFiles,
    maxInputBytes: config.maxInputBytes,
    maxArtifacts: config.maxArtifacts,
    maxArtifactBytes: config.maxArtifactBytes,
    egressCeiling: config.egress.ceiling,
    maxSessions: config.maxSessions,
    sessionIdleTimeoutMs: config.sessionIdleTimeoutMs,
    sessionMaxLifetimeMs: config.sessionMaxLifetimeMs,
  };
}

const LANGUAGE_NAMES: Record<Language, string> = { python: 'Python 3', nodejs: 'Node.js' };
const STANDARD_LIBRARY: Record<Language, string> = {
  python: 'the standard library',
  nodejs: 'the built-in modules',
};

/** "Python 3 (image …): numpy, pandas, … and the standard library" per language. */
export function describeImages(facts: SandboxFacts): string {
  return LANGUAGES.map((language) => {
    const image = facts.images[language];
    const packages = facts.imagePackages.get(image);
    const libraries = packages ? importableLibraries(packages) : [];
    const contents = packages
      ? [libraries.join(', '), STANDARD_LIBRARY[language]].filter(Boolean).join(' and ')
      : `${STANDARD_LIBRARY[language]} and whatever the operator's image adds`;
    return `- ${language}: ${LANGUAGE_NAMES[language]} (image ${image}) with ${contents}.`;
  }).join('\n');
}

/** What the sandbox may reach: nothing, or the operator's allowlist a call may narrow. */
export function describeNetwork(facts: SandboxFacts): string {
  if (facts.egressCeiling.length === 0) {
    return 'Network: none. The sandbox cannot reach any host (no pip/npm install either).';
  }
  return (
    'Network: none unless `network` lists hosts ("host", "host:port", "*.domain"); they must be within ' +
    `the server's allowlist: ${facts.egressCeiling.map(describeAllowRule).join(', ')}. ` +
    'HTTP(S) goes through a proxy the sandbox is configured for (requests/axios work as is).'
  );
}

/** An allowlist entry as the operator wrote it: `host`, `*.domain`, `[v6]`, with its ports. */
export function describeAllowRule(rule: AllowRule): string {
  const host =
    rule.kind === 'any'
      ? '*'
      : rule.kind === 'subdomains'
        ? `*.${rule.host}`
        : rule.host.includes(':')
          ? `[${rule.host}]`
          : rule.host;
  if (rule.ports === undefined) return rule.kind === 'any' ? '* (any host, any port)' : `${host}:*`;
  return rule.ports.length === 1 ? `${host}:${rule.ports[0]}` : `${host} (ports ${rule.ports.join(', ')})`;
}

export function describeOneShotLimits(facts: SandboxFacts): string {
  const { defaultLimits: d, limitCeilings: c } = facts;
  return (
    `Limits: timeout ${seconds(d.timeoutMs)} by default, \`timeout_ms\` up to ${seconds(c.timeoutMs)} ` +
    `(more is lowered to that); memory ${bytes(d.memoryBytes)}; ${cpus(d.cpuMillicores)}; ` +
    `stdout and stderr ${bytes(d.outputBytes)} each; code ${bytes(facts.maxCodeBytes)}; ` +
    `at most ${facts.maxFiles} input files, ${bytes(facts.maxInputBytes)} in all.`
  );
}

export function describeSessionLimits(facts: SandboxFacts): string {
  const { sessionDefaultLimits: s, limitCeilings: c } = facts;
  return (
    `Limits: memory ${bytes(s.memoryBytes)} for the whole session; ${cpus(s.cpuMillicores)}; each call ` +
    `times out after ${seconds(s.timeoutMs)} by default (\`timeout_ms\` up to ${seconds(c.timeoutMs)}), which ` +
    `interrupts it and keeps the session. A session closes after ${minutes(facts.sessionIdleTimeoutMs)} ` +
    `without a call and ${minutes(facts.sessionMaxLifetimeMs)} after it was created; at most ` +
    `${facts.maxSessions} sessions are open on the server at once.`
  );
}

/** 1536 → "1.5 KiB", 268435456 → "256 MiB". */
export function bytes(value: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB'];
  let scaled = value;
  let unit = 0;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit += 1;
  }
  return `${Number(scaled.toFixed(1))} ${units[unit]}`;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

function minutes(ms: number): string {
  return ms >= 60_000 ? `${Number((ms / 60_000).toFixed(1))} min` : seconds(ms);
}

function cpus(millicores: number): string {
  return `${Number((millicores / 1000).toFixed(2))} CPU`;
}
