import { isIP } from 'node:net';
import { InvalidArgumentError } from '../errors/service-error.js';
import { canonicalIpLiteral, formatIpAddress, parseIpLiteral } from './ip-literal.js';

/**
 * One allowlist entry, parsed. Written as `host[:port]`: `api.example.com`, `api.example.com:8443`,
 * `*.example.com` (every subdomain, not example.com itself), an IP literal (`10.0.0.5:8080`,
 * `[fd00::1]:443`), or `*` (any host on any port: the logged-open development mode, or in a request
 * "everything the server allows"). Without a port an entry means ports 80 and 443.
 */
export interface AllowRule {
  /** `exact`: that name or address; `subdomains`: names ending in `.host`; `any`: every host. */
  kind: 'exact' | 'subdomains' | 'any';
  /** Lower-case name or address (IPv6 without brackets); for `subdomains` the parent domain; '' for `any`. */
  host: string;
  /** Allowed ports; undefined = any port. */
  ports: readonly number[] | undefined;
  /**
   * Whether this destination may resolve to a loopback, private, link-local or metadata address. Only
   * when the operator's own list names this exact host: wildcards and requests never earn it.
   */
  reachesPrivate: boolean;
}

/** What one execution may reach. No rules = no egress at all (the default). */
export interface NetworkPolicy {
  readonly rules: readonly AllowRule[];
}

export const NO_EGRESS: NetworkPolicy = Object.freeze({ rules: Object.freeze([]) });

/** Ports an entry without one stands for. */
export const DEFAULT_EGRESS_PORTS: readonly number[] = Object.freeze([80, 443]);
export const MAX_ALLOW_ENTRIES = 64;
const MAX_ENTRY_LENGTH = 270;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
/** A label inet_aton and WHATWG URL read as a number (decimal, octal or 0x hex): no TLD looks like this. */
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/;

/**
 * Lower-cases a host and strips a trailing dot and IPv6 brackets; undefined when it is neither a DNS
 * name nor an IP literal. Used for allowlist entries and for the destinations programs ask for alike,
 * so both are compared in one spelling: an IP literal becomes its canonical text (see
 * parseIpLiteral), and a name that a resolver or URL parser would read as an IPv4 shorthand
 * (`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`: its last label is a number) is refused rather
 * than left for getaddrinfo to interpret.
 */
export function normalizeHost(host: string): string | undefined {
  if (host.startsWith('[') && host.endsWith(']')) {
    const address = parseIpLiteral(host.slice(1, -1));
    return address?.family === 6 ? formatIpAddress(address) : undefined;
  }
  const literal = canonicalIpLiteral(host);
  if (literal !== undefined) return literal;
  let value = host.toLowerCase();
  if (value.endsWith('.')) value = value.slice(0, -1);
  if (value.length === 0 || value.length > 253) return undefined;
  const labels = value.split('.');
  if (!labels.every((label) => LABEL.test(label))) return undefined;
  return NUMERIC_LABEL.test(labels[labels.length - 1] ?? '') ? undefined : value;
}

/** Parses one entry; returns why it is not valid instead when it is not. */
export function parseAllowEntry(entry: string, reachesPrivate = false): AllowRule | string {
  const text = entry.trim();
  if (text.length === 0 || text.length > MAX_ENTRY_LENGTH) return 'must be host[:port]';
  if (text === '*') return { kind: 'any', host: '', ports: undefined, reachesPrivate: false };
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(text);
  if (!match) return 'must be host[:port] (IPv6 addresses in brackets)';
  const [, hostPart = '', portPart] = match;
  let ports = DEFAULT_EGRESS_PORTS;
  if (portPart !== undefined) {
    const port = Number(portPart);
    if (port < 1 || port > 65535) return 'port must be 1-65535';
    ports = [port];
  }
  const wildcard = hostPart.startsWith('*.');
  const host = normalizeHost(wildcard ? hostPart.slice(2) : hostPart);
  if (host === undefined) return `"${hostPart}" is not a host name or IP address`;
  if (wildcard && isIP(host) !== 0) return 'a wildcard needs a domain name, not an address';
  return {
    kind: wildcard ? 'subdomains' : 'exact',
    host,
    ports,
    reachesPrivate: reachesPrivate && !wildcard,
  };
}

/**
 * Parses the operator's list (SANDBOX_EGRESS_ALLOW). Its exact hosts may reach private addresses:
 * naming one is the operator's explicit decision. Returns the rules and every problem found.
 */
export function parseOperatorAllowList(entries: readonly string[]): {
  rules: AllowRule[];
  problems: string[];
} {
  const rules: AllowRule[] = [];
  const problems: string[] = [];
  for (const entry of entries) {
    const parsed = parseAllowEntry(entry, true);
    if (typeof parsed === 'string') problems.push(`"${entry}": ${parsed}`);
    else rules.push(parsed);
  }
  return { rules, problems };
}

/**
 * A request's policy, narrowed to the server's: each requested entry must be covered by one of the
 * server's rules (`*` asks for all of them). No `allow` = no egress. An entry the server does not
 * allow is INVALID_ARGUMENT naming it: a request can narrow the server's list, never widen it.
 */
export function narrowNetworkPolicy(
  requested: readonly string[] | undefined,
  ceiling: readonly AllowRule[],
  field = 'network.allow',
): NetworkPolicy {
  if (requested === undefined || requested.length === 0) return NO_EGRESS;
  if (requested.length > MAX_ALLOW_ENTRIES) {
    throw new InvalidArgumentError(
      `has ${requested.length} entries; the limit is ${MAX_ALLOW_ENTRIES}`,
      field,
    );
  }
  const rules: AllowRule[] = [];
  requested.forEach((entry, index) => {
    const entryField = `${field}[${index}]`;
    const parsed = parseAllowEntry(entry);
    if (typeof parsed === 'string') throw new InvalidArgumentError(parsed, entryField);
    if (parsed.kind === 'any') {
      if (ceiling.length === 0) throw notAllowed(entry, entryField);
      rules.push(...ceiling);
      return;
    }
    const covering = ceiling.filter((rule) => covers(rule, parsed));
    if (covering.length === 0) throw notAllowed(entry, entryField);
    rules.push({
      ...parsed,
      reachesPrivate: covering.some((rule) => rule.reachesPrivate && rule.kind === 'exact'),
    });
  });
  return Object.freeze({ rules: Object.freeze(rules) });
}

function notAllowed(entry: string, field: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `"${entry.slice(0, 80)}" is not in the server's egress allowlist (SANDBOX_EGRESS_ALLOW); a request may only narrow it`,
    field,
  );
}

/** The rules of `policy` that allow `host` (normalized) on `port`. */
export function matchingRules(policy: NetworkPolicy, host: string, port: number): AllowRule[] {
  return policy.rules.filter(
    (rule) =>
      (rule.ports === undefined || rule.ports.includes(port)) && hostMatches(rule, host, isIP(host) !== 0),
  );
}

function hostMatches(rule: AllowRule, host: string, isAddress: boolean): boolean {
  switch (rule.kind) {
    case 'any':
      return true;
    case 'exact':
      return rule.host === host;
    case 'subdomains':
      return !isAddress && host.endsWith(`.${rule.host}`);
  }
}

/** Whether server rule `outer` allows everything request rule `inner` asks for. */
function covers(outer: AllowRule, inner: AllowRule): boolean {
  const portsCovered =
    outer.ports === undefined ||
    (inner.ports !== undefined && inner.ports.every((port) => outer.ports?.includes(port)));
  if (!portsCovered) return false;
  switch (outer.kind) {
    case 'any':
      return true;
    case 'exact':
      return inner.kind === 'exact' && inner.host === outer.host;
    case 'subdomains':
      return (
        (inner.kind === 'subdomains' && inner.host === outer.host) ||
        (inner.kind !== 'any' && isIP(inner.host) === 0 && inner.host.endsWith(`.${outer.host}`))
      );
  }
}
