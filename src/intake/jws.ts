// Reading back a compact JWS that leix stored: a message it verified at intake, or a receipt it
// signed. The signature was checked when the bytes came in (verify.ts), so the payload is decoded
// without checking it again. Bytes from outside go through verifyMessageJws, never through this.

/** The JSON payload of a compact JWS that leix verified or signed when it stored it. */
export function jwsPayload (jws: string): unknown {
  return JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8'))
}
