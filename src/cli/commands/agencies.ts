// `leix agencies`: the directory's agencies with their countries and the languages a request to
// them may be written in (P2). Kosovo* is written with its footnote, printed once under the table.
import { loadDirectory, DirectoryError } from '../../directory/load.ts'
import { countryFootnote, countryName } from '../../directory/names.ts'
import { EXIT, UsageError, command } from '../command.ts'

export const agencies = command({
  name: 'agencies',
  summary: 'list the directory\'s agencies: id, country, languages and name',
  description: 'Reads the directory file (no server needed). Country names are written as leix shows them everywhere: ' +
    'Kosovo* with its footnote, printed once under the table.',
  options: {
    directory: { type: 'string', value: 'FILE', env: 'LEIX_DIRECTORY', default: 'config/directory.sample.json', description: 'the directory of agencies and instruments' },
    json: { type: 'boolean', description: 'print JSON (as GET /v1/agencies, without the keys)' },
  },
  async run ({ values }, io) {
    let directory
    try {
      directory = loadDirectory(values.directory)
    } catch (err) {
      if (err instanceof DirectoryError) throw new UsageError(err.message)
      throw err
    }
    const list = [...directory.agencies.values()].map((a) => ({
      id: a.id, name: a.name, country: a.country, countryName: countryName(a.country), languages: a.languages,
      ...(countryFootnote(a.country) !== undefined ? { footnote: countryFootnote(a.country) } : {}),
    }))
    if (values.json) {
      io.stdout.write(JSON.stringify({ agencies: list }, null, 2) + '\n')
      return EXIT.ok
    }
    const width = (f: (a: (typeof list)[number]) => string) => Math.max(...list.map((a) => f(a).length))
    const [id, country, languages] = [width((a) => a.id), width((a) => a.countryName), width((a) => a.languages.join(','))]
    const rows = list.map((a) => `${a.id.padEnd(id)}  ${a.countryName.padEnd(country)}  ${a.languages.join(',').padEnd(languages)}  ${a.name}`)
    const footnotes = [...new Set(list.flatMap((a) => (a.footnote ? [a.footnote] : [])))]
    io.stdout.write([...rows, ...(footnotes.length ? ['', ...footnotes] : [])].join('\n') + '\n')
    return EXIT.ok
  },
})
