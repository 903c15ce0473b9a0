import { z } from 'zod';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A JSON string field holding bytes as standard base64 (RFC 4648, with padding); Buffer.from is lax. */
export const base64String = z.string().regex(BASE64, 'must be standard base64 (RFC 4648, with padding)');
