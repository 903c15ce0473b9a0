// runsc flags every sandbox runtime gets, whichever engine starts runsc: dockerd's runtime
// registration (configure-docker-daemon.mjs) and containerd's wrapper scripts (configure-containerd.mjs)
// both read this list. Add a flag here, one per line with the reason.
export const RUNSC_ARGS = [
  // Without it a runsc start with NetworkMode "none" fails ("cannot run with network enabled in root
  // network namespace") and leaves stray runsc processes behind.
  '--network=none',
  // Lets a program connect() to a host unix socket that is bind-mounted into its sandbox (it cannot
  // create or bind one). The service mounts exactly one: its per-sandbox egress proxy socket, the only
  // way out of a NIC-less sandbox (src/egress/). Nothing else mounted into a sandbox is a socket.
  '--host-uds=open',
];

// The seccomp runtime's extra flag: runsc enforces the container's OCI seccomp profile inside the
// sandbox (see the runsc-seccomp runtime in configure-docker-daemon.mjs for why it is a runtime of its own).
export const RUNSC_SECCOMP_ARG = '--oci-seccomp';
