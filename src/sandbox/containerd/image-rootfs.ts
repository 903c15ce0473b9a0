import { createHash } from 'node:crypto';
import type { ContainerdApi } from './containerd-api.js';

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

interface Descriptor {
  media_type?: string;
  mediaType?: string;
  digest: string;
  platform?: { os?: string; architecture?: string };
}

/** containerd names images in full, as Docker's reference normalisation does (`docker.io/library/…`). */
export function containerdImageName(name: string): string {
  const [first, ...rest] = name.split('/');
  if (rest.length === 0) return `docker.io/library/${name}`;
  // A first part with a dot or colon, or "localhost", is a registry; anything else is a Docker Hub user.
  if (/[.:]/.test(first!) || first === 'localhost') return name;
  return `docker.io/${name}`;
}

/**
 * The chain id of a list of layer diff ids: the key of the committed snapshot an unpacked image's
 * top layer has in containerd's snapshotter (OCI image spec: chainID(n) = sha256(chainID(n-1) + " " + diffID(n))).
 */
export function chainId(diffIds: readonly string[]): string {
  let chain = diffIds[0]!;
  for (const diff of diffIds.slice(1))
    chain = `sha256:${createHash('sha256').update(`${chain} ${diff}`).digest('hex')}`;
  return chain;
}

/**
 * Finds the snapshot a sandbox's root file system is prepared from: the image's manifest (for this
 * platform) → its config → the layers' diff ids → their chain id. Cached per image name until a
 * prepare fails (the image may have been re-imported).
 */
export class ImageRootfs {
  private readonly cache = new Map<string, Promise<string>>();

  constructor(private readonly api: ContainerdApi) {}

  chainIdOf(image: string): Promise<string> {
    let cached = this.cache.get(image);
    if (!cached) {
      cached = this.resolve(image);
      cached.catch(() => this.cache.delete(image));
      this.cache.set(image, cached);
    }
    return cached;
  }

  forget(image: string): void {
    this.cache.delete(image);
  }

  private async resolve(image: string): Promise<string> {
    const { image: record } = await this.api.call<{ image: { target: Descriptor } }>('images', 'Get', {
      name: containerdImageName(image),
    });
    let manifestDescriptor = record.target;
    if (INDEX_TYPES.has(manifestDescriptor.media_type ?? '')) {
      const index = (await this.readJson(manifestDescriptor.digest)) as { manifests: Descriptor[] };
      const match = index.manifests.find(
        (entry) => entry.platform?.os === 'linux' && entry.platform.architecture === hostArchitecture(),
      );
      if (!match) throw new Error(`${image} has no linux/${hostArchitecture()} manifest`);
      manifestDescriptor = match;
    }
    const manifest = (await this.readJson(manifestDescriptor.digest)) as { config: Descriptor };
    const config = (await this.readJson(manifest.config.digest)) as { rootfs: { diff_ids: string[] } };
    return chainId(config.rootfs.diff_ids);
  }

  private readJson(digest: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const stream = this.api.stream('content', 'Read', { digest });
      stream.on('data', (response: { data: Buffer }) => chunks.push(response.data));
      stream.on('error', reject);
      stream.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (error) {
          reject(error as Error);
        }
      });
    });
  }
}

/** OCI's name for this host's CPU architecture. */
function hostArchitecture(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}
