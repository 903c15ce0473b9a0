/**
 * Labels on every sandbox container. The reaper relies on them: `instance` tells whose container it
 * is, `expires-at` (epoch ms) is the latest moment its owner could still legitimately be using it, so
 * any instance may remove an expired container without ever touching a live instance's work.
 * `sandbox` is the sandbox id: the execution id for a cold start; for a warm (pre-started) sandbox an
 * id of its own, reported in the execution's `started` event and logs.
 */
export const LABEL_SERVICE = 'code-sandbox.service';
export const LABEL_INSTANCE = 'code-sandbox.instance';
export const LABEL_SANDBOX = 'code-sandbox.sandbox';
export const LABEL_EXPIRES_AT = 'code-sandbox.expires-at';
export const SERVICE_LABEL_VALUE = 'code-sandbox';

export function sandboxLabels(
  instanceId: string,
  sandboxId: string,
  expiresAtMs: number,
): Record<string, string> {
  return {
    [LABEL_SERVICE]: SERVICE_LABEL_VALUE,
    [LABEL_INSTANCE]: instanceId,
    [LABEL_SANDBOX]: sandboxId,
    [LABEL_EXPIRES_AT]: String(expiresAtMs),
  };
}
