// Secure principle (rule S1-S3). The signature itself (S1 algorithms, key lookup) is verified
// by intake before the payload is parsed; what is left here needs the parsed message.
import { CLASSIFICATIONS, clearanceCovers } from '../directory/types.ts'
import type { Classification, Directory } from '../directory/types.ts'
import type { Message } from '../intake/message.ts'
import type { Rule, Violation } from './types.ts'
import { isBlank } from './text.ts'

/** Europol handling codes (S2). */
export const HANDLING_CODES = ['H0', 'H1', 'H2', 'H3'] as const

export function isClassification (value: string): value is Classification {
  return (CLASSIFICATIONS as readonly string[]).includes(value)
}

/**
 * S1: sender and recipient are registered agencies. Reported as S1 (not L1) because an unknown
 * agency is a trust-registry failure: nobody can hold a key for it or receive for it.
 * Part of `checkPrinciples` too, so the principles check fails closed on its own.
 */
export const checkRegisteredAgencies: Rule = (message, { directory }) => registrationViolations(message, directory)

function registrationViolations (message: Message, directory: Directory): Violation[] {
  const violations: Violation[] = []
  if (!directory.agencies.has(message.from.agency)) {
    violations.push({ rule: 'S1', path: '/from/agency', message: `sender ${message.from.agency} is not a registered agency` })
  }
  if (!directory.agencies.has(message.to.agency)) {
    violations.push({ rule: 'S1', path: '/to/agency', message: `recipient ${message.to.agency} is not a registered agency` })
  }
  return violations
}

/**
 * S1: the agency owning the signing key (`directory.keyOwners.get(kid)`) is the sender named in
 * the message, and both ends are registered. Call after schema validation, before
 * `checkPrinciples`; on any violation reject without running the principles (their S1 would repeat).
 */
export function checkSenderBinding (keyAgency: string, message: Message, directory: Directory): Violation[] {
  const violations: Violation[] = []
  if (keyAgency !== message.from.agency) {
    violations.push({
      rule: 'S1',
      path: '/from/agency',
      message: `signed with a key of ${keyAgency}, but the message names ${message.from.agency} as sender`,
    })
  }
  return violations.concat(registrationViolations(message, directory))
}

/** S2: a handling code H0-H3; H3 states its restrictions. */
export const checkHandlingCode: Rule = (message) => {
  const { code, restrictions } = message.handling
  if (!(HANDLING_CODES as readonly string[]).includes(code)) {
    return [{ rule: 'S2', path: '/handling/code', message: `handling code ${code} is not one of H0, H1, H2, H3` }]
  }
  if (code === 'H3' && isBlank(restrictions)) {
    return [{ rule: 'S2', path: '/handling/restrictions', message: 'handling code H3 must state its restrictions' }]
  }
  return []
}

/** S3: nothing above EU_CONFIDENTIAL travels, and nothing above the recipient's clearance. */
export const checkClassification: Rule = (message, { directory }) => {
  const classification = message.handling.classification
  if (!isClassification(classification)) {
    return [
      {
        rule: 'S3',
        path: '/handling/classification',
        message: `classification ${classification} may not travel through leix (allowed: ${CLASSIFICATIONS.join(', ')})`,
      },
    ]
  }
  const recipient = directory.agencies.get(message.to.agency)
  if (recipient !== undefined && !clearanceCovers(recipient.clearance, classification)) {
    return [
      {
        rule: 'S3',
        path: '/handling/classification',
        message: `${recipient.id} is cleared up to ${recipient.clearance}, below ${classification}`,
      },
    ]
  }
  return []
}

export const SECURE_RULES: readonly Rule[] = [checkRegisteredAgencies, checkHandlingCode, checkClassification]
