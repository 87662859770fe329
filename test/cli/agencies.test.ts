// `leix agencies`: every agency of the directory with its country's name; Kosovo* with the EU
// footnote printed once under the table, and no footnote when no Kosovo* agency is listed.
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadDirectory } from '../../src/directory/load.ts'
import { KOSOVO_FOOTNOTE, countryName } from '../../src/directory/names.ts'
import { leix } from './run.ts'

const DIRECTORY = 'config/directory.sample.json'
const directory = loadDirectory(DIRECTORY)

t.test('every agency, with its country name, languages and name; the Kosovo* footnote once', async (t) => {
  const r = await leix(['agencies', '--directory', DIRECTORY])
  t.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trimEnd().split('\n')
  for (const agency of directory.agencies.values()) {
    const line = lines.find((l) => l.startsWith(`${agency.id} `))
    t.ok(line, agency.id)
    t.match(line, countryName(agency.country), `${agency.id}: ${countryName(agency.country)}`)
    t.match(line, agency.languages.join(','))
    t.match(line, agency.name)
  }
  t.match(lines.find((l) => l.startsWith('XK-KP ')), /Kosovo\* /, 'Kosovo* with its asterisk')
  t.equal(lines.filter((l) => l === KOSOVO_FOOTNOTE).length, 1, 'the footnote, once')
  t.equal(lines.at(-1), KOSOVO_FOOTNOTE, 'under the table')
})

t.test('no Kosovo* agency: no footnote', async (t) => {
  const doc = JSON.parse(readFileSync(DIRECTORY, 'utf8'))
  doc.agencies = doc.agencies.filter((a: { country: string }) => a.country !== 'XK')
  doc.instruments = doc.instruments.filter((i: { parties: string[] }) => !i.parties.includes('XK'))
  const dir = mkdtempSync(join(tmpdir(), 'leix-agencies-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'directory.json')
  writeFileSync(path, JSON.stringify(doc))
  const r = await leix(['agencies', '--directory', path])
  t.equal(r.code, 0, r.stderr)
  t.notMatch(r.stdout, /\*This designation/)
  t.notMatch(r.stdout, /Kosovo/)
})

t.test('--json: countryName, and the footnote on Kosovo* agencies only', async (t) => {
  const r = await leix(['agencies', '--json', '--directory', DIRECTORY])
  const list = JSON.parse(r.stdout).agencies as { id: string; country: string; countryName: string; footnote?: string }[]
  t.equal(list.length, directory.agencies.size)
  for (const a of list) {
    t.equal(a.countryName, countryName(a.country), a.id)
    t.equal(a.footnote, a.country === 'XK' ? KOSOVO_FOOTNOTE : undefined, `${a.id} footnote`)
  }
  t.same(list.find((a) => a.id === 'BA-MSB')?.countryName, 'Bosnia and Herzegovina')
})
