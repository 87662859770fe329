// Language (rule P2). Pure functions of the message, the directory and the exchange's request language.
import type { Directory } from '../directory/types.ts'
import type { Message } from '../intake/message.ts'
import type { Rule, Violation } from './types.ts'

/**
 * Languages of their own (IANA language subtag registry) that CLDR's alias data, which
 * `Intl.getCanonicalLocales` applies, folds into another: Montenegrin `cnr` becomes `sr-ME`, which
 * would let a Montenegrin message satisfy a party listing only Serbian. P2 keeps them apart.
 */
const OWN_LANGUAGES = new Set(['cnr'])

function canonicalForm (tag: string): string | null {
  const [primary = '', ...rest] = tag.split('-')
  const own = primary.toLowerCase()
  if (!OWN_LANGUAGES.has(own)) return Intl.getCanonicalLocales(tag)[0] ?? null
  // The other subtags canonicalised under the undetermined language, then the language put back.
  const tail = Intl.getCanonicalLocales(['und', ...rest].join('-'))[0] ?? 'und'
  return own + tail.slice('und'.length)
}

/** Canonical forms already computed (tags are few: the directory's and the messages'); null: not well-formed. */
const canonical = new Map<string, string | null>()

/** The canonical form of a well-formed BCP 47 tag (`sr-latn` → `sr-Latn`), or undefined. */
export function canonicalLanguage (tag: string): string | undefined {
  let known = canonical.get(tag)
  if (known === undefined) {
    try {
      known = canonicalForm(tag)
    } catch {
      known = null
    }
    if (canonical.size >= 1000) canonical.clear()
    canonical.set(tag, known)
  }
  return known ?? undefined
}

/**
 * P2: a message in `tag` satisfies a party that lists `listed` when the two are the same language
 * tag or `listed` is a prefix of `tag` by whole subtags (RFC 4647 lookup): `sr-Latn` satisfies a
 * party listing `sr`; `sr` does not satisfy one listing only `sr-Cyrl`. Case does not matter.
 */
export function languageMatches (tag: string, listed: string): boolean {
  const a = (canonicalLanguage(tag) ?? tag).toLowerCase()
  const b = (canonicalLanguage(listed) ?? listed).toLowerCase()
  return a === b || a.startsWith(`${b}-`)
}

/** The kinds that open an exchange and so are checked against the recipient's languages alone. */
const OPENINGS: ReadonlySet<Message['kind']> = new Set(['request', 'spontaneous'])

/**
 * P2: the languages a request or own-initiative message to its recipient may be in: those the
 * recipient lists, and English where the instrument accepts it. Undefined if the recipient is unknown.
 */
export function acceptedOpeningLanguages (message: Pick<Message, 'to' | 'legalBasis'>, directory: Directory): string[] | undefined {
  const recipient = directory.agencies.get(message.to.agency)
  if (recipient === undefined) return undefined
  const english = directory.instruments.get(message.legalBasis.instrument)?.englishAccepted === true
  return [...new Set([...recipient.languages, ...(english ? ['en'] : [])])]
}

/** P2: the languages a reply may be in: its exchange's request language, or one its recipient lists. */
export function acceptedReplyLanguages (requestLanguage: string | null, recipientLanguages: readonly string[]): string[] {
  return [...new Set([...(requestLanguage === null ? [] : [requestLanguage]), ...recipientLanguages])]
}

function outside (message: Message, accepted: readonly string[], whose: string): Violation[] {
  if (accepted.some((listed) => languageMatches(message.language, listed))) return []
  return [{ rule: 'P2', path: '/language', message: `${message.language} is not a language ${whose}; accepted: ${accepted.join(', ')}` }]
}

/**
 * P2: the language is a well-formed BCP 47 tag; a request or own-initiative message is in a
 * language its recipient accepts. Replies are checked against their exchange (`checkReplyLanguage`).
 */
export const checkLanguage: Rule = (message, { directory }) => {
  if (canonicalLanguage(message.language) === undefined) {
    return [{ rule: 'P2', path: '/language', message: `${message.language} is not a well-formed BCP 47 language tag` }]
  }
  if (!OPENINGS.has(message.kind)) return []
  const accepted = acceptedOpeningLanguages(message, directory)
  if (accepted === undefined) return []
  return outside(message, accepted, `${message.to.agency} accepts under ${message.legalBasis.instrument}`)
}

/**
 * P2: a reply (response, refusal, clarification, delay notice, correction) is in its exchange's
 * request language or one its recipient lists. `requestLanguage` is null for exchanges opened
 * before leix stored it: then the recipient's languages alone.
 */
export function checkReplyLanguage (message: Message, requestLanguage: string | null, recipientLanguages: readonly string[]): Violation[] {
  if (OPENINGS.has(message.kind) || canonicalLanguage(message.language) === undefined) return []
  const accepted = acceptedReplyLanguages(requestLanguage, recipientLanguages)
  return outside(message, accepted, `of the request or one ${message.to.agency} accepts`)
}

export const LANGUAGE_RULES: readonly Rule[] = [checkLanguage]
