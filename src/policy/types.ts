import type { Directory } from '../directory/types.ts'
import type { Message } from '../intake/message.ts'

/** Rule ids of the exchange principles (README "Error codes"); every violation and hold cites one. */
export type RuleId =
  | 'L1' | 'L2' | 'L3' | 'L4' | 'L5'
  | 'T1' | 'T2' | 'T3' | 'T4' | 'T5'
  | 'P1' | 'P2'
  | 'S1' | 'S2' | 'S3' | 'S4'
  | 'Q1' | 'Q2' | 'Q3'
  | 'D1' | 'D2' | 'D3' | 'D4' | 'D5' | 'D6' | 'D7'

/** A reason to reject the message. */
export interface Violation {
  rule: RuleId
  /** JSON pointer into the message, for example `/legalBasis/instrument`. */
  path: string
  message: string
}

/** The message is accepted but held for human review (DPO) before delivery. */
export interface Hold {
  rule: RuleId
  /** JSON pointer into the message. */
  path: string
  message: string
}

export interface PolicyLimits {
  /** How far in the future `createdAt` may be, in seconds (T4). @defaultValue 30 */
  maxSkewSeconds: number
  /** How old `createdAt` may be, in seconds (T4). @defaultValue 300 */
  maxAgeSeconds: number
}

export const DEFAULT_POLICY_LIMITS: Readonly<PolicyLimits> = Object.freeze({ maxSkewSeconds: 30, maxAgeSeconds: 300 })

export interface PolicyContext {
  directory: Directory
  /** Receipt time, from the injected clock. */
  now: Date
  limits: PolicyLimits
}

/** A pure check: no I/O, no clock but `ctx.now`. */
export type Rule = (message: Message, ctx: PolicyContext) => Violation[]

/** A pure check whose findings hold the message for review instead of rejecting it. */
export type HoldRule = (message: Message, ctx: PolicyContext) => Hold[]
