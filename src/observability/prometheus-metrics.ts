import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ExecutionResult } from '../domain/execution-result.js';
import type { Language } from '../domain/languages.js';
import type { InstallOutcome } from '../domain/install-report.js';
import type { EgressDecision, EgressMetrics } from '../egress/egress-metrics.js';
import type { PackageMetrics } from '../packages/package-metrics.js';
import type { ServiceErrorCode } from '../errors/service-error.js';
import type { ExecutionMetrics } from '../execution/execution-metrics.js';
import type { SandboxInfo } from '../execution/sandbox-runner.js';
import type { DockerOperation } from '../sandbox/docker/docker-errors.js';
import type { SessionCloseReason } from '../session/open-session.js';
import type {
  AdoptionResult,
  PauseReason,
  PauseSkip,
  ResumeReason,
  SessionMetrics,
} from '../session/session-metrics.js';
import type { AdmissionPath, AdmissionRecorder, TransportName } from '../transport/auth/caller-admission.js';

/** Live values read at scrape time. */
export interface MetricsSources {
  openSessions(): number;
  /** Open sessions that are paused (checkpointed, container stopped). */
  pausedSessions(): number;
  /** Bytes the paused sessions' checkpoints take on disk (estimated where not readable). */
  checkpointBytes(): number;
  queued(): number;
  running(): number;
  idlePooled(): Partial<Record<Language, number>>;
  /** Idle sandboxes each pool aims for now (it adapts to recent bursts of claims). */
  pooledTarget(): Partial<Record<Language, number>>;
  idleSessionSandboxes(): Partial<Record<Language, number>>;
  sandboxesBeingRemoved(): number;
}

const SECONDS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Prometheus metrics (prom-client). Labels are bounded: language, exit reason, warm/cold, refusal
 * code — never ids.
 */
export class PrometheusMetrics
  implements ExecutionMetrics, SessionMetrics, AdmissionRecorder, EgressMetrics, PackageMetrics
{
  readonly registry = new Registry();
  private readonly executions: Counter<'language' | 'exit_reason'>;
  private readonly refusals: Counter<'reason'>;
  private readonly admissions: Counter<'transport' | 'path'>;
  private readonly poolClaims: Counter<'language' | 'result'>;
  private readonly poolStartFailures: Counter<'language'>;
  private readonly dockerErrors: Counter<'operation'>;
  private readonly egressRequests: Counter<'decision'>;
  private readonly queueWait: Histogram;
  private readonly sandboxAcquire: Histogram<'warm'>;
  private readonly runDuration: Histogram<'language'>;
  private readonly endToEnd: Histogram<'language'>;
  private readonly sessionsCreated: Counter<'language' | 'warm'>;
  private readonly sessionsClosed: Counter<'language' | 'reason'>;
  private readonly cells: Counter<'language' | 'exit_reason'>;
  private readonly cellDuration: Histogram<'language'>;
  private readonly packageInstalls: Counter<'language' | 'outcome'>;
  private readonly packageInstallDuration: Histogram<'language'>;
  private readonly packageCacheRequests: Counter<'result'>;
  private readonly packageFetched: Counter;
  private readonly packageRefusals: Counter<'reason'>;
  private readonly pauses: Counter<'language' | 'reason'>;
  private readonly pausesSkipped: Counter<'reason' | 'why'>;
  private readonly resumes: Counter<'language' | 'reason' | 'result'>;
  private readonly adoptions: Counter<'result'>;
  private readonly pauseSeconds: Histogram<'language'>;
  private readonly resumeSeconds: Histogram<'language'>;
  private readonly checkpointSupport: Gauge;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'code_sandbox_process_' });
    this.executions = new Counter({
      name: 'code_sandbox_executions_total',
      help: 'Finished executions by language and exit reason.',
      labelNames: ['language', 'exit_reason'],
      registers,
    });
    this.refusals = new Counter({
      name: 'code_sandbox_refusals_total',
      help: 'Requests that got no execution, by reason (invalid_argument, resource_exhausted, unavailable = docker/runsc/image problems, …).',
      labelNames: ['reason'],
      registers,
    });
    this.admissions = new Counter({
      name: 'code_sandbox_auth_admissions_total',
      help: 'Calls to the execution endpoints let in, by transport and path: token, trusted_network (a SANDBOX_TRUSTED_NETWORKS source, no token) or open (no authentication configured).',
      labelNames: ['transport', 'path'],
      registers,
    });
    this.poolClaims = new Counter({
      name: 'code_sandbox_pool_claims_total',
      help: 'Sandbox acquisitions: hit = a warm pooled sandbox, miss = a cold start.',
      labelNames: ['language', 'result'],
      registers,
    });
    this.poolStartFailures = new Counter({
      name: 'code_sandbox_pool_start_failures_total',
      help: 'Warm sandboxes that failed to start (docker or runsc errors).',
      labelNames: ['language'],
      registers,
    });
    this.dockerErrors = new Counter({
      name: 'code_sandbox_docker_errors_total',
      help: 'Failed sandbox engine operations (dockerd, or containerd with SANDBOX_BACKEND=containerd): start = creating/attaching/starting a sandbox, remove = a container that could not be removed (left to the reaper), reap = a reaper pass that failed.',
      labelNames: ['operation'],
      registers,
    });
    this.egressRequests = new Counter({
      name: 'code_sandbox_egress_requests_total',
      help: 'Egress attempts through the proxy (HTTP requests and CONNECT tunnels), by decision; alert on denied.',
      labelNames: ['decision'],
      registers,
    });
    this.queueWait = new Histogram({
      name: 'code_sandbox_queue_wait_seconds',
      help: 'Time executions waited for a free slot.',
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.sandboxAcquire = new Histogram({
      name: 'code_sandbox_sandbox_start_seconds',
      help: 'Time to get a sandbox ready for a job: a pool claim (warm) or a cold container start.',
      labelNames: ['warm'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.runDuration = new Histogram({
      name: 'code_sandbox_run_seconds',
      help: 'Time the program ran.',
      labelNames: ['language'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.endToEnd = new Histogram({
      name: 'code_sandbox_end_to_end_seconds',
      help: 'From request arrival to result.',
      labelNames: ['language'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.sessionsCreated = new Counter({
      name: 'code_sandbox_sessions_created_total',
      help: 'Sessions created, by language and whether a warm session sandbox was used.',
      labelNames: ['language', 'warm'],
      registers,
    });
    this.sessionsClosed = new Counter({
      name: 'code_sandbox_sessions_closed_total',
      help: 'Sessions ended, by reason: closed, idle, lifetime, oom, crashed, shutdown.',
      labelNames: ['language', 'reason'],
      registers,
    });
    this.cells = new Counter({
      name: 'code_sandbox_session_cells_total',
      help: 'Session cells run, by language and exit reason.',
      labelNames: ['language', 'exit_reason'],
      registers,
    });
    this.cellDuration = new Histogram({
      name: 'code_sandbox_session_cell_seconds',
      help: 'From a cell request arrival to its result (waiting behind earlier cells included).',
      labelNames: ['language'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.packageInstalls = new Counter({
      name: 'code_sandbox_package_installs_total',
      help: "Package installs (a request's `packages`), by language and outcome: ok, failed, timeout, too_large.",
      labelNames: ['language', 'outcome'],
      registers,
    });
    this.packageInstallDuration = new Histogram({
      name: 'code_sandbox_package_install_seconds',
      help: 'Time a package install took, install sandbox start and removal included.',
      labelNames: ['language'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.packageCacheRequests = new Counter({
      name: 'code_sandbox_package_cache_requests_total',
      help: 'Archives installers asked the package mirror for: hit = served from the host cache, miss = fetched from the index.',
      labelNames: ['result'],
      registers,
    });
    this.packageFetched = new Counter({
      name: 'code_sandbox_package_fetched_bytes_total',
      help: "Bytes the package mirror downloaded from the operators' indexes (pages and archives).",
      registers,
    });
    this.packageRefusals = new Counter({
      name: 'code_sandbox_package_refusals_total',
      help: 'Requests the package mirror refused: not_allowed = a project not on SANDBOX_PACKAGES_ALLOW, not_index = an install step reaching anything but the index.',
      labelNames: ['reason'],
      registers,
    });
    this.pauses = new Counter({
      name: 'code_sandbox_session_pauses_total',
      help: 'Sessions paused (checkpointed, container stopped), by reason: idle, explicit, room, shutdown.',
      labelNames: ['language', 'reason'],
      registers,
    });
    this.pausesSkipped = new Counter({
      name: 'code_sandbox_session_pauses_skipped_total',
      help: 'Pauses that did not happen, by reason and why: unsupported (no checkpointing here), full (paused bounds), failed.',
      labelNames: ['reason', 'why'],
      registers,
    });
    this.resumes = new Counter({
      name: 'code_sandbox_session_resumes_total',
      help: 'Paused sessions started again from their checkpoint, by reason (call, explicit) and result (ok, failed).',
      labelNames: ['language', 'reason', 'result'],
      registers,
    });
    this.adoptions = new Counter({
      name: 'code_sandbox_session_adoptions_total',
      help: 'Sessions recorded by an earlier process, by result at start-up: adopted, expired (removed), refused (invalid or not found).',
      labelNames: ['result'],
      registers,
    });
    this.pauseSeconds = new Histogram({
      name: 'code_sandbox_session_pause_seconds',
      help: 'How long a session checkpoint took.',
      labelNames: ['language'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.resumeSeconds = new Histogram({
      name: 'code_sandbox_session_resume_seconds',
      help: 'How long a restore from a checkpoint took.',
      labelNames: ['language'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.checkpointSupport = new Gauge({
      name: 'code_sandbox_session_checkpoint_supported',
      help: '1 when the start-up probe checkpointed and restored a sandbox here (sessions can be paused), else 0.',
      registers,
    });
  }

  /**
   * Registers the gauges that read live values at scrape time. Called once, after the objects the
   * sources read exist.
   */
  observe(sources: MetricsSources): void {
    const registers = [this.registry];
    new Gauge({
      name: 'code_sandbox_queue_depth',
      help: 'Executions waiting for a slot.',
      registers,
      collect() {
        this.set(sources.queued());
      },
    });
    new Gauge({
      name: 'code_sandbox_executions_in_flight',
      help: 'Executions running now.',
      registers,
      collect() {
        this.set(sources.running());
      },
    });
    new Gauge({
      name: 'code_sandbox_pool_idle_sandboxes',
      help: 'Warm sandboxes ready to be claimed.',
      labelNames: ['language'],
      registers,
      collect() {
        for (const [language, idle] of Object.entries(sources.idlePooled()))
          this.set({ language }, idle ?? 0);
      },
    });
    new Gauge({
      name: 'code_sandbox_pool_target_sandboxes',
      help: 'Idle sandboxes each warm pool aims for now (between its floor and ceiling).',
      labelNames: ['language'],
      registers,
      collect() {
        for (const [language, target] of Object.entries(sources.pooledTarget()))
          this.set({ language }, target ?? 0);
      },
    });
    new Gauge({
      name: 'code_sandbox_session_pool_idle_sandboxes',
      help: 'Warm session sandboxes (interpreter started) ready for CreateSession.',
      labelNames: ['language'],
      registers,
      collect() {
        for (const [language, idle] of Object.entries(sources.idleSessionSandboxes()))
          this.set({ language }, idle ?? 0);
      },
    });
    new Gauge({
      name: 'code_sandbox_sessions_open',
      help: 'Sessions open now.',
      registers,
      collect() {
        this.set(sources.openSessions());
      },
    });
    new Gauge({
      name: 'code_sandbox_sessions_paused',
      help: 'Open sessions that are paused (checkpointed; they hold no memory).',
      registers,
      collect() {
        this.set(sources.pausedSessions());
      },
    });
    new Gauge({
      name: 'code_sandbox_session_checkpoint_bytes',
      help: "Bytes the paused sessions' checkpoints take on disk (the memory limit where Docker's directory is not readable).",
      registers,
      collect() {
        this.set(sources.checkpointBytes());
      },
    });
    new Gauge({
      name: 'code_sandbox_teardowns_in_progress',
      help: 'Used sandboxes not yet removed.',
      registers,
      collect() {
        this.set(sources.sandboxesBeingRemoved());
      },
    });
  }

  executionFinished(language: Language, result: ExecutionResult, sandbox: SandboxInfo): void {
    this.executions.inc({ language, exit_reason: result.exitReason });
    this.poolClaims.inc({ language, result: sandbox.warm ? 'hit' : 'miss' });
    this.queueWait.observe(result.queueWaitMs / 1000);
    this.sandboxAcquire.observe({ warm: String(sandbox.warm) }, sandbox.acquireMs / 1000);
    this.runDuration.observe({ language }, result.durationMs / 1000);
    this.endToEnd.observe({ language }, result.totalMs / 1000);
  }

  executionRefused(code: ServiceErrorCode): void {
    this.refusals.inc({ reason: code.toLowerCase() });
  }

  sessionOpened(language: Language, warm: boolean): void {
    this.sessionsCreated.inc({ language, warm: String(warm) });
  }

  sessionClosed(language: Language, reason: SessionCloseReason): void {
    this.sessionsClosed.inc({ language, reason });
  }

  cellFinished(language: Language, result: ExecutionResult): void {
    this.cells.inc({ language, exit_reason: result.exitReason });
    this.cellDuration.observe({ language }, result.totalMs / 1000);
  }

  sessionRefused(code: ServiceErrorCode): void {
    this.executionRefused(code);
  }

  sessionPaused(language: Language, reason: PauseReason, seconds: number): void {
    this.pauses.inc({ language, reason });
    this.pauseSeconds.observe({ language }, seconds);
  }

  sessionPauseSkipped(reason: PauseReason, why: PauseSkip): void {
    this.pausesSkipped.inc({ reason, why });
  }

  sessionResumed(language: Language, reason: ResumeReason, seconds: number): void {
    this.resumes.inc({ language, reason, result: 'ok' });
    this.resumeSeconds.observe({ language }, seconds);
  }

  sessionResumeFailed(language: Language, reason: ResumeReason): void {
    this.resumes.inc({ language, reason, result: 'failed' });
  }

  sessionAdoption(result: AdoptionResult): void {
    this.adoptions.inc({ result });
  }

  checkpointSupported(works: boolean): void {
    this.checkpointSupport.set(works ? 1 : 0);
  }

  admitted(transport: TransportName, path: AdmissionPath): void {
    this.admissions.inc({ transport, path });
  }

  poolStartFailed(language: Language): void {
    this.poolStartFailures.inc({ language });
  }

  dockerError(operation: DockerOperation): void {
    this.dockerErrors.inc({ operation });
  }

  egressRequest(decision: EgressDecision): void {
    this.egressRequests.inc({ decision });
  }

  packageInstall(language: Language, outcome: InstallOutcome, seconds: number): void {
    this.packageInstalls.inc({ language, outcome });
    this.packageInstallDuration.observe({ language }, seconds);
  }

  packageCache(result: 'hit' | 'miss'): void {
    this.packageCacheRequests.inc({ result });
  }

  packageFetchedBytes(bytes: number): void {
    this.packageFetched.inc(bytes);
  }

  packageRefused(reason: 'not_allowed' | 'not_index'): void {
    this.packageRefusals.inc({ reason });
  }
}
