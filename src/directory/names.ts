// How leix writes a country's name wherever it shows one (the agencies API, the CLI, docs).

/** The EU footnote that goes with every "Kosovo*" leix shows. */
export const KOSOVO_FOOTNOTE = '*This designation is without prejudice to positions on status, and is in line with UNSCR 1244/1999 and the ICJ Opinion on the Kosovo declaration of independence.'

/**
 * The English name of a directory country code: `Kosovo*` for `XK` (a user-assigned code, not
 * ISO 3166-1; always with KOSOVO_FOOTNOTE), `European Union` for `EU`, else the CLDR region name.
 */
export function countryName (code: string): string {
  if (code === 'XK') return 'Kosovo*'
  if (code === 'EU') return 'European Union'
  // CLDR abbreviates some names ("Bosnia & Herzegovina"); leix writes them in full.
  return (new Intl.DisplayNames(['en'], { type: 'region', fallback: 'code' }).of(code) ?? code).replace(' & ', ' and ')
}

/** The footnote a country's name needs wherever it is shown, if any. */
export function countryFootnote (code: string): string | undefined {
  return code === 'XK' ? KOSOVO_FOOTNOTE : undefined
}
