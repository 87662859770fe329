/* global location, Node */
// The leix console: one page, views chosen by the URL fragment (#/exchanges, #/exchange/<id>,
// #/inbox, #/notifications, #/review, #/audit, #/report). DOM built with textContent only:
// nothing the API returns is ever parsed as HTML.
import { api, ApiError, claims, query, signIn, signOut, token } from './api.js'
import { LANGUAGES, currentLanguage, formatDeadline, formatDuration, formatInstant, pickLanguage, setLanguage, t } from './i18n.js'
import { verifyProof } from './verify.js'

// The API's enums (src/exchanges/state.ts, src/intake/message.ts); the API refuses anything else.
const STATUSES = ['held', 'accepted', 'delivered', 'acknowledged', 'clarification', 'delayed', 'answered', 'refused', 'undeliverable', 'closed']
const CRIME_AREAS = ['organised-crime', 'violent-extremism', 'terrorism', 'terrorism-financing', 'corruption', 'money-laundering', 'financial-crime', 'trafficking-in-human-beings', 'migrant-smuggling', 'firearms-trafficking', 'drug-trafficking', 'cybercrime']
const CODES = ['investigation', 'data-protection-review', 'audit', 'court-order', 'subject-access-request', 'oversight', 'operations', 'other']
// A deadline this close is shown as near (amber) before it is overdue (red).
const NEAR_SECONDS = 24 * 3600

let agencies = new Map()

/** h('tag', { attr, on: { click } }, ...children): an element; strings become text nodes. */
function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue
    if (k === 'on') for (const [event, fn] of Object.entries(v)) el.addEventListener(event, fn)
    else if (k === 'class') el.className = v
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c))
  return el
}

function show (...children) {
  const main = document.getElementById('main')
  main.replaceChildren(...children)
}

function errorBox (err) {
  const text = err instanceof ApiError
    ? `${t('error.api', { status: err.status })}: ${err.message}`
    : String(err instanceof Error ? err.message : err)
  return h('p', { class: 'error', role: 'alert' }, text)
}

/** An agency id with its name; Kosovo* always with the asterisk (footnote in the page footer). */
function agencyLabel (id) {
  const a = agencies.get(id)
  const country = a?.country === 'XK' || id?.startsWith('XK-') ? t('country.XK') : undefined
  const name = a?.name ?? ''
  return [id, name && name !== id ? ` — ${name}` : '', country ? ` (${country})` : ''].join('')
}

function countdown (exchange) {
  if (!exchange.deadline || exchange.timeLeftSeconds === null) return h('span', { class: 'muted' }, exchange.deadline ? t('deadline.none-open') : '—')
  return h('span', { class: 'countdown', 'data-deadline': exchange.deadline, 'data-overdue': exchange.overdue ? '1' : '' })
}

/** Every second: the time left on each countdown on the page, with its colour and words. */
function tick () {
  for (const el of document.querySelectorAll('.countdown[data-deadline]')) {
    const left = Math.round((new Date(el.dataset.deadline).getTime() - Date.now()) / 1000)
    const overdue = left < 0 || el.dataset.overdue === '1'
    el.className = `countdown ${overdue ? 'overdue' : left < NEAR_SECONDS ? 'near' : 'ok'}`
    el.textContent = overdue ? t('deadline.overdue', { time: formatDuration(left) }) : t('deadline.left', { time: formatDuration(left) })
  }
}

function nav () {
  const c = claims() ?? {}
  const roles = c.roles ?? []
  const links = [['#/exchanges', 'nav.exchanges'], ['#/inbox', 'nav.inbox'], ['#/notifications', 'nav.notifications']]
  if (roles.includes('dpo')) links.push(['#/review', 'nav.review'])
  links.push(['#/audit', 'nav.audit'], ['#/report', 'nav.report'])
  const here = location.hash.split('?')[0] || '#/exchanges'
  const select = h('select', { id: 'language', 'aria-label': t('language'), on: { change: async (e) => { await setLanguage(e.target.value); render() } } },
    LANGUAGES.map((l) => h('option', { value: l, selected: l === currentLanguage() }, t(`language.${l}`))))
  const top = document.getElementById('top')
  top.replaceChildren(
    h('strong', {}, 'leix'),
    token() ? h('nav', { 'aria-label': t('nav.label') }, links.map(([href, key]) => h('a', { href, 'aria-current': here.startsWith(href) ? 'page' : undefined }, t(key)))) : '',
    h('label', {}, t('language'), select),
    token()
      ? h('span', { class: 'who' }, `${c.sub ?? ''} · ${agencyLabel(c.agency ?? '')} · ${roles.join(', ')} `,
        h('button', { type: 'button', on: { click: () => { signOut(); location.hash = '#/'; render() } } }, t('signout')))
      : '')
  document.getElementById('footnote').replaceChildren(h('p', {}, t('footnote.kosovo')))
}

function signInView () {
  const area = h('textarea', { id: 'token', class: 'token', required: true, autocomplete: 'off', spellcheck: 'false' })
  const form = h('form', {
    on: {
      submit: (e) => {
        e.preventDefault()
        signIn(area.value)
        location.hash = '#/exchanges'
        render()
      },
    },
  }, h('h1', {}, t('signin.title')), h('p', {}, t('signin.help')), h('label', {}, t('signin.token'), area), h('p', {}, h('button', { type: 'submit' }, t('signin.submit'))))
  show(form)
  area.focus()
}

function field (name, label, control) {
  control.setAttribute('name', name)
  return h('label', {}, t(label), control)
}

function optionsOf (values, prefix, selected) {
  return [h('option', { value: '' }, t('filter.any')), ...values.map((v) => h('option', { value: v, selected: v === selected }, prefix ? t(`${prefix}.${v}`) : v))]
}

async function exchangesView (params) {
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': t('filter.label') },
    field('direction', 'filter.direction', h('select', {}, optionsOf(['incoming', 'outgoing'], 'direction', params.get('direction')))),
    field('status', 'filter.status', h('select', {}, optionsOf(STATUSES, 'status', params.get('status')))),
    field('overdue', 'filter.overdue', h('select', {}, optionsOf(['true', 'false'], 'yesno', params.get('overdue')))),
    field('crimeArea', 'filter.crimeArea', h('select', {}, optionsOf(CRIME_AREAS, 'crime', params.get('crimeArea')))),
    field('from', 'filter.from', h('input', { type: 'date', value: params.get('from') ?? '' })),
    field('to', 'filter.to', h('input', { type: 'date', value: params.get('to') ?? '' })),
    h('button', { type: 'submit' }, t('filter.apply')))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const values = Object.fromEntries(new FormData(form))
    location.hash = `#/exchanges${query(values)}`
  })
  const body = h('div', { 'aria-live': 'polite' }, t('loading'))
  show(h('h1', {}, t('exchanges.title')), form, body)
  try {
    const dateOf = (d) => (d ? new Date(`${d}T00:00:00`).toISOString() : undefined)
    const page = await api(`/v1/exchanges${query({
      direction: params.get('direction'), status: params.get('status'), overdue: params.get('overdue'), crimeArea: params.get('crimeArea'),
      from: dateOf(params.get('from')), to: dateOf(params.get('to')),
    })}`)
    if (page.items.length === 0) { body.replaceChildren(h('p', {}, t('exchanges.none'))); return }
    body.replaceChildren(h('table', { id: 'exchanges' },
      h('thead', {}, h('tr', {}, ['exchanges.case', 'exchanges.direction', 'exchanges.other', 'exchanges.status', 'exchanges.crime', 'exchanges.deadline', 'exchanges.left'].map((k) => h('th', { scope: 'col' }, t(k))))),
      h('tbody', {}, page.items.map((x) => h('tr', { 'data-exchange': x.id },
        h('td', {}, h('a', { href: `#/exchange/${x.id}` }, x.caseRef || x.id), x.urgency === 'urgent' ? h('span', { class: 'muted' }, ` · ${t('urgency.urgent')}`) : ''),
        h('td', {}, t(`direction.${x.direction}`)),
        h('td', {}, agencyLabel(x.direction === 'outgoing' ? x.responder : x.requester)),
        h('td', {}, t(`status.${x.status}`)),
        h('td', {}, x.crimeAreas.map((c) => t(`crime.${c}`)).join(', ')),
        h('td', {}, formatDeadline(x.deadline)),
        h('td', {}, countdown(x)))))))
    if (page.nextCursor) body.append(h('p', { class: 'muted' }, t('exchanges.more')))
    tick()
  } catch (err) { body.replaceChildren(errorBox(err)) }
}

function readBodyForm (messageId) {
  const out = h('div', { 'aria-live': 'polite' })
  const text = h('textarea', { name: 'justification', required: true, minlength: 10, maxlength: 500 })
  const code = h('select', { name: 'code' }, CODES.map((c) => h('option', { value: c }, t(`code.${c}`))))
  const caseRef = h('input', { name: 'caseRef', type: 'text', pattern: '[A-Za-z0-9][A-Za-z0-9/._:\\-]{0,63}' })
  const form = h('form', { class: 'panel justification', 'aria-label': t('justify.title') },
    h('p', {}, h('strong', {}, t('justify.title')), ' ', t('justify.help')),
    h('label', {}, t('justify.reason'), text), h('label', {}, t('justify.code'), code), h('label', {}, t('justify.caseRef'), caseRef),
    h('p', {}, h('button', { type: 'submit' }, t('justify.submit'))), out)
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    try {
      const m = await api(`/v1/messages/${messageId}`, {
        headers: {
          // Non-ASCII text travels percent-encoded (the API decodes it).
          'leix-justification': encodeURIComponent(text.value),
          'leix-justification-code': code.value,
          ...(caseRef.value ? { 'leix-case-reference': caseRef.value } : {}),
        },
      })
      out.replaceChildren(h('p', { class: 'muted' }, t('justify.logged', { at: formatInstant(m.consultation?.at) })), h('pre', { class: 'message-body' }, JSON.stringify(m.message, null, 2)))
    } catch (err) { out.replaceChildren(errorBox(err)) }
  })
  return form
}

async function exchangeView (id) {
  show(h('p', {}, t('loading')))
  try {
    const x = await api(`/v1/exchanges/${encodeURIComponent(id)}`)
    show(
      h('p', {}, h('a', { href: '#/exchanges' }, t('back'))),
      h('h1', {}, `${t('exchange.title')} ${x.caseRef || x.id}`),
      h('dl', {},
        h('dt', {}, t('exchanges.status')), h('dd', {}, t(`status.${x.status}`)),
        h('dt', {}, t('exchange.requester')), h('dd', {}, agencyLabel(x.requester)),
        h('dt', {}, t('exchange.responder')), h('dd', {}, agencyLabel(x.responder)),
        h('dt', {}, t('exchanges.deadline')), h('dd', {}, formatDeadline(x.deadline), ' ', countdown(x), x.deadlineBasis ? h('span', { class: 'muted' }, ` · ${x.deadlineBasis}`) : ''),
        h('dt', {}, t('exchange.legalBasis')), h('dd', {}, x.legalBasis)),
      h('h2', {}, t('exchange.messages')),
      h('ul', {}, x.messages.map((m) => {
        const item = h('li', {}, `${formatInstant(m.receivedAt)} · ${m.kind} · ${m.from} → ${m.to} · ${t(`status.${m.status}`)} `)
        const button = h('button', { type: 'button', class: 'read-body', on: { click: () => { button.remove(); item.append(readBodyForm(m.id)); item.querySelector('textarea').focus() } } }, t('justify.open'))
        item.append(button)
        return item
      })),
      h('h2', {}, t('exchange.timeline')),
      h('ol', { class: 'timeline' }, x.timeline.map((e) => h('li', {}, `${formatInstant(e.at)} · ${e.event} · ${e.outcome}${e.actor ? ` · ${e.actor}` : ''}${e.reason ? ` · ${e.reason}` : ''}`))))
    tick()
  } catch (err) { show(errorBox(err)) }
}

async function listView (title, path, row) {
  show(h('h1', {}, t(title)), h('p', {}, t('loading')))
  try {
    const page = await api(path)
    show(h('h1', {}, t(title)), page.items.length === 0 ? h('p', {}, t('list.none')) : h('ul', {}, page.items.map(row)))
  } catch (err) { show(h('h1', {}, t(title)), errorBox(err)) }
}

const inboxView = () => listView('nav.inbox', '/v1/inbox', (m) => h('li', {}, `${formatInstant(m.receivedAt ?? m.createdAt)} · ${m.from ?? ''} · `, m.exchangeId ? h('a', { href: `#/exchange/${m.exchangeId}` }, m.exchangeId) : m.messageId ?? ''))

const notificationsView = () => listView('nav.notifications', '/v1/notifications?limit=100', (n) => h('li', {},
  h('strong', {}, t(`notification.${n.type}`)), ` · ${formatInstant(n.createdAt)} · `,
  n.exchangeId ? h('a', { href: `#/exchange/${n.exchangeId}` }, n.exchangeId) : ''))

async function reviewView () {
  show(h('h1', {}, t('nav.review')), h('p', {}, t('loading')))
  try {
    const { items } = await api('/v1/review/held')
    const rows = items.map((m) => {
      const out = h('div', { 'aria-live': 'polite' })
      const decision = h('select', { name: 'decision' }, h('option', { value: 'release' }, t('review.release')), h('option', { value: 'reject' }, t('review.reject')))
      const code = h('select', { name: 'code' }, CODES.map((c) => h('option', { value: c, selected: c === 'data-protection-review' }, t(`code.${c}`))))
      const reason = h('textarea', { name: 'reason', required: true, minlength: 3, maxlength: 2000 })
      const form = h('form', { class: 'inline' }, h('label', {}, t('review.decision'), decision), h('label', {}, t('justify.code'), code), h('label', {}, t('review.reason'), reason), h('button', { type: 'submit' }, t('review.submit')))
      form.addEventListener('submit', async (e) => {
        e.preventDefault()
        try {
          const r = await api(`/v1/messages/${m.messageId}/review`, { method: 'POST', body: { decision: decision.value, justification: reason.value, justificationCode: code.value } })
          out.replaceChildren(h('p', {}, t(`review.done.${r.decision ?? decision.value}`)))
          form.remove()
        } catch (err) { out.replaceChildren(errorBox(err)) }
      })
      return h('li', { class: 'panel' },
        h('p', {}, `${formatInstant(m.receivedAt)} · ${m.kind} → ${agencyLabel(m.to)} · ${m.officer} · `, h('a', { href: `#/exchange/${m.exchangeId}` }, m.exchangeId)),
        h('ul', {}, m.holds.map((hold) => h('li', {}, `${hold.rule}: ${hold.message}${hold.path ? ` (${hold.path})` : ''}`))),
        form, out)
    })
    show(h('h1', {}, t('nav.review')), rows.length === 0 ? h('p', {}, t('list.none')) : h('ul', {}, rows))
  } catch (err) { show(h('h1', {}, t('nav.review')), errorBox(err)) }
}

async function auditView (params) {
  const names = ['from', 'to', 'agency', 'exchange', 'message', 'type', 'actor']
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': t('audit.search') },
    names.map((n) => field(n, `audit.${n}`, h('input', { type: n === 'from' || n === 'to' ? 'datetime-local' : 'text', value: params.get(n) ?? '' }))),
    h('button', { type: 'submit' }, t('filter.apply')))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    location.hash = `#/audit${query(Object.fromEntries(new FormData(form)))}`
  })
  const body = h('div', { 'aria-live': 'polite' }, t('loading'))
  show(h('h1', {}, t('nav.audit')), form, body)
  try {
    const iso = (v) => (v ? new Date(v).toISOString() : undefined)
    const filters = Object.fromEntries(names.map((n) => [n, n === 'from' || n === 'to' ? iso(params.get(n)) : params.get(n) ?? undefined]))
    const page = await api(`/v1/audit/events${query({ ...filters, limit: 100 })}`)
    if (page.items.length === 0) { body.replaceChildren(h('p', {}, t('list.none'))); return }
    body.replaceChildren(h('table', { id: 'events' },
      h('thead', {}, h('tr', {}, ['audit.seq', 'audit.at', 'audit.type', 'audit.actor', 'audit.outcome', 'audit.proof'].map((k) => h('th', { scope: 'col' }, t(k))))),
      h('tbody', {}, page.items.map((e) => {
        const cell = h('td', { 'aria-live': 'polite' })
        const button = h('button', { type: 'button', class: 'verify', 'data-seq': e.seq, on: { click: () => verifyEvent(e.seq, cell) } }, t('audit.verify'))
        cell.append(button)
        const actor = typeof e.actor === 'object' && e.actor !== null ? [e.actor.agency, e.actor.sub].filter(Boolean).join('/') : e.actor
        return h('tr', {}, h('td', {}, String(e.seq)), h('td', {}, formatInstant(e.at)), h('td', {}, e.type), h('td', {}, actor ?? ''), h('td', {}, e.outcome ?? ''), cell)
      }))))
  } catch (err) { body.replaceChildren(errorBox(err)) }
}

async function verifyEvent (seq, cell) {
  cell.replaceChildren(t('loading'))
  try {
    const [proof, jwks] = await Promise.all([api(`/v1/audit/proofs/inclusion${query({ seq })}`), api('/.well-known/jwks.json', { anonymous: true })])
    const result = await verifyProof(proof, jwks, seq)
    cell.replaceChildren(
      h('div', { class: `result ${result.ok ? 'verified' : 'failed'}`, role: 'status' }, result.ok ? t('audit.verified') : t('audit.failed')),
      h('ul', { class: 'muted' }, result.steps.map((s) => h('li', {}, `${s.ok ? '✓' : '✗'} ${t(`audit.step.${s.step}`)} ${s.detail}`))),
      h('p', { class: 'muted' }, t('audit.checkpoint', { size: proof.checkpoint.treeSize, at: formatInstant(proof.checkpoint.timestamp) })))
  } catch (err) {
    cell.replaceChildren(h('div', { class: 'result failed', role: 'status' }, t('audit.failed')), errorBox(err))
  }
}

function reportView () {
  show(h('h1', {}, t('nav.report')), h('p', { class: 'panel', id: 'report-unavailable' }, t('report.unavailable')))
}

async function render () {
  nav()
  if (!token()) { signInView(); return }
  const [path, search = ''] = location.hash.replace(/^#/, '').split('?')
  const params = new URLSearchParams(search)
  const [, view, id] = path.split('/')
  document.title = `leix · ${t(`nav.${view || 'exchanges'}`)}`
  if (view === 'exchange' && id) await exchangeView(id)
  else if (view === 'inbox') await inboxView()
  else if (view === 'notifications') await notificationsView()
  else if (view === 'review') await reviewView()
  else if (view === 'audit') await auditView(params)
  else if (view === 'report') reportView()
  else await exchangesView(params)
}

async function start () {
  await setLanguage(localStorage.getItem('leix.language') ?? pickLanguage(navigator.languages ?? [navigator.language]))
  try {
    const list = await api('/v1/agencies', { anonymous: true })
    agencies = new Map((Array.isArray(list) ? list : list.items ?? list.agencies ?? []).map((a) => [a.id, a]))
  } catch {
    // names are a convenience: ids alone still identify the agencies
  }
  window.addEventListener('hashchange', () => { render() })
  setInterval(tick, 1000)
  await render()
  document.body.dataset.ready = '1'
}

start()
