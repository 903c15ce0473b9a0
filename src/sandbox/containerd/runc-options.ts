/** The type URL containerd's typeurl registry gives runc's options (the proto's full message name). */
export const RUNC_OPTIONS_TYPE_URL = 'containerd.runc.v1.Options';

/**
 * runc's shim options (containerd.runc.v1.Options) with only `binary_name` set, protobuf-encoded for a
 * google.protobuf.Any: the runc v2 shim then runs that binary instead of runc (how GKE Sandbox runs
 * runsc). One length-delimited string field needs no protobuf library: tag, length, bytes.
 *
 * @param fieldNumber binary_name's field number, read from the vendored oci.proto (ContainerdApi).
 */
export function encodeRuncOptions(binaryName: string, fieldNumber: number): Buffer {
  const value = Buffer.from(binaryName, 'utf8');
  const LENGTH_DELIMITED = 2;
  return Buffer.concat([varint((fieldNumber << 3) | LENGTH_DELIMITED), varint(value.length), value]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let rest = n;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/**
 * The first field of a protobuf message, if it is a string (length-delimited field 1): the container
 * id of containerd's task events (TaskOOM, TaskExit), read without a protobuf library.
 */
export function firstStringField(message: Buffer): string | undefined {
  if (message[0] !== ((1 << 3) | 2)) return undefined;
  let length = 0;
  let shift = 0;
  let offset = 1;
  for (;;) {
    const byte = message[offset++];
    if (byte === undefined) return undefined;
    length += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
    shift += 7;
  }
  if (offset + length > message.length) return undefined;
  return message.subarray(offset, offset + length).toString('utf8');
}
