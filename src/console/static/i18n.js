// The console's languages: one JSON message file each (i18n/<code>.json, the same keys).
// Dates and times via Intl, in the user's locale and time zone.

export const LANGUAGES = ['en', 'sq', 'sr-Latn', 'sr-Cyrl', 'mk', 'bs', 'hr', 'cnr']
// Intl has no data for Montenegrin; Serbian Latin as used in Montenegro formats the same way.
const INTL_LOCALE = { en: 'en-GB', sq: 'sq', 'sr-Latn': 'sr-Latn', 'sr-Cyrl': 'sr-Cyrl', mk: 'mk', bs: 'bs', hr: 'hr', cnr: 'sr-Latn-ME' }

let messages = {}
let language = 'en'

/** The first of the browser's languages the console speaks (sr without a script: Cyrillic, the official one). */
export function pickLanguage (preferred) {
  for (const tag of preferred) {
    const t = tag.toLowerCase()
    if (t.startsWith('sr')) return t.includes('latn') ? 'sr-Latn' : (t.includes('-me') ? 'cnr' : 'sr-Cyrl')
    if (t.startsWith('cnr') || t === 'me') return 'cnr'
    const base = LANGUAGES.find((l) => l.toLowerCase() === t.split('-')[0])
    if (base) return base
  }
  return 'en'
}

export async function setLanguage (lang) {
  language = LANGUAGES.includes(lang) ? lang : 'en'
  const res = await fetch(`/console/i18n/${language}.json`)
  messages = await res.json()
  document.documentElement.lang = language
  localStorage.setItem('leix.language', language)
}

export function currentLanguage () { return language }

/** The message `key`, with {name} placeholders filled. */
export function t (key, values = {}) {
  // A key without a text (a status the console does not know yet) shows its last part, not nothing.
  const text = messages[key] ?? key.slice(key.indexOf('.') + 1)
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ''))
}

// Intl refuses dateStyle together with timeZoneName: the fields one by one.
const FIELDS = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' }
const zone = () => Intl.DateTimeFormat().resolvedOptions().timeZone

/** A date and time in the user's locale and time zone, the zone named. */
export function formatInstant (iso) {
  if (!iso) return '—'
  return new Intl.DateTimeFormat(INTL_LOCALE[language], { ...FIELDS, timeZone: zone() }).format(new Date(iso))
}

/** A deadline: local time, and the instant as the broker keeps it (UTC). */
export function formatDeadline (iso) {
  if (!iso) return '—'
  const utc = new Intl.DateTimeFormat(INTL_LOCALE[language], { ...FIELDS, timeZone: 'UTC' }).format(new Date(iso))
  return `${formatInstant(iso)} (${utc})`
}

/** "2 d 3 h 04 min" style, localised units. */
export function formatDuration (seconds) {
  const s = Math.abs(Math.trunc(seconds))
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  const parts = []
  if (d) parts.push(`${d} ${t('unit.d')}`)
  if (d || h) parts.push(`${h} ${t('unit.h')}`)
  parts.push(`${String(m).padStart(d || h ? 2 : 1, '0')} ${t('unit.min')}`)
  if (!d) parts.push(`${String(sec).padStart(2, '0')} ${t('unit.s')}`)
  return parts.join(' ')
}
