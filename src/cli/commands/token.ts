// `leix token`: a bearer token signed with the configured issuer key (development, tests).
import { createPrivateKey } from 'node:crypto'
import * as jose from 'jose'
import { loadConfig } from '../../config/config.ts'
import { loadTokenKeys } from '../../config/keys.ts'
import { EXIT, UsageError, command } from '../command.ts'

/** A token lifetime such as `90s`, `30m`, `1h`, in seconds; undefined when not one. */
export function parseTtl (text: string): number | undefined {
  const m = /^(\d{1,6})([smh])$/.exec(text)
  if (!m) return undefined
  const seconds = Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h']
  return seconds > 0 ? seconds : undefined
}

export const token = command({
  name: 'token',
  summary: 'mint a bearer token (iss, aud, iat, exp) with the configured issuer key (dev)',
  options: {
    agency: { type: 'string', value: 'ID', required: true, description: 'the agency claim' },
    sub: { type: 'string', value: 'SUBJECT', required: true, description: 'the subject: the officer or system' },
    roles: { type: 'string', value: 'officer,...', default: 'officer', description: 'comma-separated roles' },
    ttl: { type: 'string', value: 'DURATION', default: '1h', description: 'lifetime such as 30m or 1h, at most LEIX_TOKEN_MAX_LIFETIME' },
  },
  async run ({ values }, io) {
    const cfg = loadConfig(io.env)
    const ttlSeconds = parseTtl(values.ttl)
    if (ttlSeconds === undefined || ttlSeconds > cfg.tokenMaxLifetimeSeconds) {
      throw new UsageError(`--ttl must be a duration like 30m or 1h, at most LEIX_TOKEN_MAX_LIFETIME (${cfg.tokenMaxLifetimeSeconds} s)`)
    }
    const keys = loadTokenKeys(cfg)
    if (!keys.privatePem) throw new UsageError('no token issuer private key: set LEIX_TOKEN_PRIVATE_KEY, or LEIX_DEV_KEYS=true for development')
    const signed = await new jose.SignJWT({ agency: values.agency, roles: values.roles.split(',').map((r) => r.trim()).filter(Boolean) })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: keys.kid })
      .setSubject(values.sub)
      .setIssuer(cfg.tokenIssuer)
      .setAudience(cfg.tokenAudience)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(createPrivateKey(keys.privatePem))
    io.stdout.write(signed + '\n')
    return EXIT.ok
  },
})
