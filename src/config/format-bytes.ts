const MiB = 1024 * 1024;

/** "512 MiB", "23.5 GiB": sizes in messages, as an operator writes them. */
export function formatBytes(bytes: number): string {
  const GiB = 1024 * MiB;
  if (bytes >= GiB) return `${Number((bytes / GiB).toFixed(1))} GiB`;
  return `${Number((bytes / MiB).toFixed(1))} MiB`;
}
