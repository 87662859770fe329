// High-quality principle (rule Q1-Q3).
// Q2 (facts apart from assessments) is carried by the schema: body.facts and body.assessments are
// separate strings; whether a sentence is a fact cannot be judged by a machine, so no rule here.
// Q3 (corrections reach every recipient) needs the log of recipients: the store handles it.
import type { Message } from '../intake/message.ts'
import type { Rule } from './types.ts'

/** Kinds that carry information and so need a 4x4 evaluation (Q1). */
const INFORMATION_KINDS: ReadonlySet<Message['kind']> = new Set(['response', 'spontaneous'])

/** Q1: responses and own-initiative messages carry a Europol 4x4 evaluation. */
export const checkEvaluation: Rule = (message) => {
  if (!INFORMATION_KINDS.has(message.kind) || message.evaluation !== undefined) return []
  return [
    {
      rule: 'Q1',
      path: '/evaluation',
      message: `a ${message.kind} carries information and needs an evaluation (source A/B/C/X, information 1-4)`,
    },
  ]
}

export const QUALITY_RULES: readonly Rule[] = [checkEvaluation]
