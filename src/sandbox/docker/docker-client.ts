import Docker from 'dockerode';

/**
 * The dockerode client, named here so that src/sandbox stays the only importer of dockerode: the
 * composition root and preflight get their client (and its type) from this file.
 */
export type DockerClient = Docker;

/** A client of the dockerd listening on `socketPath`. */
export function dockerClient(socketPath: string): DockerClient {
  return new Docker({ socketPath });
}
