/* global location, Node */
// The leix console: one page, views chosen by the URL fragment (#/exchanges, #/exchange/<id>,
// #/inbox, #/notifications, #/review, #/audit, #/report). DOM built with textContent only:
// nothing the API returns is ever parsed as HTML.
import { api, ApiError, claims, download as download$, query, signIn, signOut, token } from './api.js'
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

/** Goes to `hash`; the hashchange draws it, or, when the URL already says so, a render now. */
function go (hash) {
  if (location.hash === hash) render({ focus: true })
  else location.hash = hash
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

/** Kosovo* with its asterisk wherever the name appears in text the console shows (agency names come from the directory in English). */
const kosovoStar = (text) => String(text).replace(/\bKosovo\b(?!\*)/g, 'Kosovo*')

/** An agency id with its name; Kosovo* always with the asterisk (footnote in the page footer). */
function agencyLabel (id) {
  const a = agencies.get(id)
  const country = a?.country === 'XK' || id?.startsWith('XK-') ? t('country.XK') : undefined
  const name = a?.name ? kosovoStar(a.name) : ''
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
  // The audit search answers only these roles (GET /v1/audit/events): no link that can only fail.
  if (roles.some((r) => ['auditor', 'dpo', 'supervisor'].includes(r))) links.push(['#/audit', 'nav.audit'])
  if (roles.some((r) => ['officer', 'auditor', 'dpo', 'supervisor'].includes(r))) links.push(['#/report', 'nav.report'])
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
        h('button', { type: 'button', on: { click: () => { signOut(); go('#/') } } }, t('signout')))
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
        go('#/exchanges')
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
      from: dateOf(params.get('from')), to: dateOf(params.get('to')), cursor: params.get('cursor'), limit: params.get('limit'),
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
    if (page.nextCursor) {
      const next = new URLSearchParams(params)
      next.set('cursor', page.nextCursor)
      body.append(h('p', {}, h('a', { href: `#/exchanges?${next}`, rel: 'next' }, t('exchanges.more'))))
    }
    tick()
  } catch (err) { body.replaceChildren(errorBox(err)) }
}

/**
 * A modal dialog: focus moves into it, Tab and Shift+Tab stay inside it, Escape closes it, and
 * focus goes back to the element that opened it.
 */
function openDialog (title, content, opener) {
  const close = h('button', { type: 'button', class: 'close' }, t('dialog.close'))
  const dialog = h('dialog', { 'aria-labelledby': 'dialog-title' }, h('h2', { id: 'dialog-title' }, title), content, h('p', {}, close))
  close.addEventListener('click', () => dialog.close())
  dialog.addEventListener('close', () => { dialog.remove(); opener?.focus() })
  dialog.addEventListener('keydown', (e) => {
    if (e.key !== 'Tab') return
    const items = [...dialog.querySelectorAll('a[href], button:not([disabled]), textarea, input, select')]
    const first = items[0]
    const last = items[items.length - 1]
    if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus() } else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus() }
  })
  document.body.append(dialog)
  dialog.showModal()
  dialog.querySelector('textarea, input, select, button')?.focus()
  return dialog
}

/** The justification asked before a message body is shown (a logged consultation), in a dialog. */
function askJustification (messageId, opener, out, defaultCode = 'investigation') {
  const text = h('textarea', { id: 'justification', name: 'justification', required: true, minlength: 10, maxlength: 500 })
  const code = h('select', { id: 'justification-code', name: 'code' }, CODES.map((c) => h('option', { value: c, selected: c === defaultCode }, t(`code.${c}`))))
  const caseRef = h('input', { id: 'justification-case', name: 'caseRef', type: 'text', pattern: '[A-Za-z0-9][A-Za-z0-9/._:\\-]{0,63}' })
  const problem = h('div', { 'aria-live': 'assertive' })
  const form = h('form', { class: 'justification' },
    h('p', {}, t('justify.help')),
    h('label', { for: 'justification' }, t('justify.reason')), text,
    h('label', { for: 'justification-code' }, t('justify.code')), code,
    h('label', { for: 'justification-case' }, t('justify.caseRef')), caseRef,
    h('p', {}, h('button', { type: 'submit' }, t('justify.submit'))), problem)
  const dialog = openDialog(t('justify.title'), form, opener)
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
      out.replaceChildren(
        h('p', { class: 'logged', role: 'status' }, t('justify.logged', { at: formatInstant(m.consultation?.at) }), ' ', h('code', { class: 'event-id' }, m.consultation?.eventId ?? ''), ' ', t('justify.loggedAs', { code: t(`code.${code.value}`), reason: text.value })),
        h('pre', { class: 'message-body', tabindex: '0', 'aria-label': t('exchange.body') }, JSON.stringify(m.message, null, 2)))
      dialog.close()
    } catch (err) { problem.replaceChildren(errorBox(err)) }
  })
}

/** An audit event type in words, with the type itself (what the API, the CLI and an export call it). */
function eventCell (type) {
  return h('td', {}, t(`event.${type}`), h('br'), h('code', { class: 'muted' }, type))
}

async function exchangeView (id) {
  // Drawn into a container of its own: a slow answer for a view the user has left changes nothing on screen.
  const view = h('div', {}, h('p', {}, t('loading')))
  show(view)
  try {
    const x = await api(`/v1/exchanges/${encodeURIComponent(id)}`)
    view.replaceChildren(
      h('p', {}, h('a', { href: '#/exchanges' }, t('back'))),
      h('h1', {}, `${t('exchange.title')} ${x.caseRef || x.id}`),
      h('dl', {},
        h('dt', {}, t('exchanges.status')), h('dd', {}, t(`status.${x.status}`)),
        h('dt', {}, t('exchange.requester')), h('dd', {}, agencyLabel(x.requester)),
        h('dt', {}, t('exchange.responder')), h('dd', {}, agencyLabel(x.responder)),
        h('dt', {}, t('exchanges.deadline')), h('dd', {}, formatDeadline(x.deadline), ' ', countdown(x), x.deadlineBasis ? h('span', { class: 'muted' }, ` · ${x.deadlineBasis}`) : ''),
        h('dt', {}, t('exchange.legalBasis')), h('dd', {}, x.legalBasis)),
      h('h2', {}, t('exchange.messages')),
      h('ul', { class: 'messages' }, x.messages.map((m) => {
        const out = h('div', { class: 'body-out' })
        const button = h('button', { type: 'button', class: 'read-body', 'aria-haspopup': 'dialog', on: { click: () => askJustification(m.id, button, out) } }, t('justify.open'))
        return h('li', { 'data-message': m.id }, `${formatInstant(m.receivedAt)} · ${t(`kind.${m.kind}`)} · ${m.from} → ${m.to} · ${t(`status.${m.status}`)} `, button, out)
      })),
      h('h2', {}, t('exchange.timeline')),
      h('table', { class: 'timeline', id: 'timeline' },
        h('thead', {}, h('tr', {}, ['timeline.at', 'timeline.event', 'timeline.outcome', 'timeline.actor', 'timeline.reason'].map((k) => h('th', { scope: 'col' }, t(k))))),
        h('tbody', {}, x.timeline.map((e) => h('tr', { class: e.outcome === 'ok' ? undefined : 'attention', 'data-event': e.event },
          h('td', {}, formatInstant(e.at)), eventCell(e.event), h('td', {}, t(`outcome.${e.outcome}`)), h('td', {}, e.actor ?? ''), h('td', {}, e.reason ?? ''))))))
    tick()
  } catch (err) { view.replaceChildren(errorBox(err)) }
}

// Exchange states in which the responder still owes an answer (src/exchanges/state.ts).
const AWAITING = ['accepted', 'delivered', 'acknowledged', 'clarification', 'delayed']

/**
 * The inbox of a liaison officer: requests to the agency still awaiting its answer, the soonest
 * deadline first. (GET /v1/inbox is the pull queue of the agency's own system: fetching it is a
 * logged disclosure and acknowledges nothing a person reads, so the console does not use it.)
 */
async function inboxView () {
  const body = h('div', { 'aria-live': 'polite' }, t('loading'))
  show(h('h1', { tabindex: '-1' }, t('nav.inbox')), h('p', { class: 'muted' }, t('inbox.help')), body)
  try {
    const page = await api('/v1/exchanges?direction=incoming&limit=200')
    const due = (x) => (x.deadline ? new Date(x.deadline).getTime() : Infinity)
    const items = page.items.filter((x) => AWAITING.includes(x.status)).sort((a, b) => due(a) - due(b))
    if (items.length === 0) { body.replaceChildren(h('p', {}, t('inbox.none'))); return }
    body.replaceChildren(h('table', { id: 'inbox' },
      h('caption', { class: 'muted' }, t('inbox.caption', { count: items.length })),
      h('thead', {}, h('tr', {}, ['exchanges.case', 'exchange.requester', 'exchanges.status', 'exchanges.crime', 'exchanges.deadline', 'exchanges.left'].map((k) => h('th', { scope: 'col' }, t(k))))),
      h('tbody', {}, items.map((x) => h('tr', { 'data-exchange': x.id },
        h('td', {}, h('a', { href: `#/exchange/${x.id}` }, x.caseRef || x.id), x.urgency === 'urgent' ? h('span', { class: 'muted' }, ` · ${t('urgency.urgent')}`) : ''),
        h('td', {}, agencyLabel(x.requester)),
        h('td', {}, t(`status.${x.status}`)),
        h('td', {}, x.crimeAreas.map((c) => t(`crime.${c}`)).join(', ')),
        h('td', {}, formatDeadline(x.deadline)),
        h('td', {}, countdown(x)))))))
    tick()
  } catch (err) { body.replaceChildren(errorBox(err)) }
}

// How urgent each notification type is for the person on shift (the row's colour and word).
const SEVERITY = { 'exchange.overdue': 'overdue', 'message.non-delivery': 'overdue', 'delivery.undeliverable': 'overdue', 'exchange.deadline-warning': 'near', 'retention.review-due': 'ok' }

/** What a notification's details say, in words (ids and metadata only: notifications carry no personal data). */
function notificationDetail (n) {
  const d = n.details ?? {}
  switch (n.type) {
    case 'exchange.deadline-warning': return t('notification.detail.warning', { deadline: formatDeadline(d.deadline) })
    case 'exchange.overdue': return t('notification.detail.overdue', { deadline: formatDeadline(d.deadline) })
    case 'message.non-delivery': return t('notification.detail.non-delivery', { kind: t(`kind.${d.kind}`), attempts: d.attempts ?? 0, limit: formatDuration(d.limitSeconds ?? 0) })
    case 'delivery.undeliverable': return t('notification.detail.undeliverable', { kind: t(`kind.${d.kind}`), attempts: d.attempts ?? 0 })
    case 'retention.review-due': return t('notification.detail.review-due', { at: formatInstant(d.reviewBy) })
    default: return ''
  }
}

/** The agency's notifications, newest first: deadline warnings, overdue exchanges, non-delivery (T2, T5). */
async function notificationsView () {
  const body = h('div', { 'aria-live': 'polite' }, t('loading'))
  show(h('h1', { tabindex: '-1' }, t('nav.notifications')), body)
  try {
    // The API pages oldest first from a cursor: walk to the end, show the newest first.
    const all = []
    let after = 0
    for (let i = 0; i < 20; i++) {
      const page = await api(`/v1/notifications${query({ after, limit: 200 })}`)
      all.push(...page.items)
      if (page.items.length < 200 || page.nextCursor === null) break
      after = page.nextCursor
    }
    if (all.length === 0) { body.replaceChildren(h('p', {}, t('notifications.none'))); return }
    // Notifications carry ids only: the case reference, as the officer knows the exchange, from the list.
    const cases = new Map()
    try {
      for (const x of (await api('/v1/exchanges?limit=200')).items) cases.set(x.id, x.caseRef)
    } catch {
      // the ids alone still lead to the exchange
    }
    body.replaceChildren(h('table', { id: 'notifications' },
      h('thead', {}, h('tr', {}, ['notifications.type', 'notifications.at', 'notifications.exchange', 'notifications.detail'].map((k) => h('th', { scope: 'col' }, t(k))))),
      h('tbody', {}, all.reverse().map((n) => h('tr', { 'data-type': n.type, class: `severity-${SEVERITY[n.type] ?? 'ok'}` },
        h('td', {}, h('strong', {}, t(`notification.${n.type}`))),
        h('td', {}, formatInstant(n.createdAt)),
        h('td', {}, n.exchangeId ? h('a', { href: `#/exchange/${n.exchangeId}` }, cases.get(n.exchangeId) || n.exchangeId) : '—'),
        h('td', {}, notificationDetail(n)))))))
  } catch (err) { body.replaceChildren(errorBox(err)) }
}

async function reviewView () {
  const body = h('div', {}, t('loading'))
  show(h('h1', {}, t('nav.review')), body)
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
      // The DPO decides on the content: reading it is a consultation like any other, justified and logged.
      const bodyOut = h('div', { class: 'body-out' })
      const read = h('button', { type: 'button', class: 'read-body', 'aria-haspopup': 'dialog', on: { click: () => askJustification(m.messageId, read, bodyOut, 'data-protection-review') } }, t('justify.open'))
      return h('li', { class: 'panel' },
        h('p', {}, `${formatInstant(m.receivedAt)} · ${t(`kind.${m.kind}`)} → ${agencyLabel(m.to)} · ${m.officer} · `, h('a', { href: `#/exchange/${m.exchangeId}` }, m.exchangeId)),
        h('ul', {}, m.holds.map((hold) => h('li', {}, `${hold.rule}: ${hold.message}${hold.path ? ` (${hold.path})` : ''}`))),
        h('p', {}, read), bodyOut,
        form, out)
    })
    body.replaceChildren(rows.length === 0 ? h('p', {}, t('list.none')) : h('ul', {}, rows))
  } catch (err) { body.replaceChildren(errorBox(err)) }
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
        return h('tr', { 'data-event': e.type }, h('td', {}, String(e.seq)), h('td', {}, formatInstant(e.at)), eventCell(e.type), h('td', {}, actor ?? ''), h('td', {}, e.outcome ? t(`outcome.${e.outcome}`) : ''), cell)
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

const SVG = 'http://www.w3.org/2000/svg'

/** An SVG element (attributes only: the CSP allows no inline style, colours come from console.css). */
function svg (tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  return el
}

let chartCount = 0

/**
 * A horizontal bar chart drawn in the page: one bar per row, its count written beside it, a
 * suppressed count written as such (no bar). role="img" with a title and a description that
 * names every value; the table beside it holds the same figures.
 */
function barChart (title, rows) {
  const id = `chart-${++chartCount}`
  const max = Math.max(1, ...rows.map((r) => r.value ?? 0))
  const labelWidth = 230
  const barWidth = 360
  const row = 24
  const height = rows.length * row + 8
  const number = new Intl.NumberFormat(document.documentElement.lang === 'cnr' ? 'sr-Latn-ME' : document.documentElement.lang)
  const said = (r) => (r.value === null ? t('report.suppressed') : number.format(r.value))
  const chart = svg('svg', { class: 'chart', role: 'img', 'aria-labelledby': `${id}-title ${id}-desc`, viewBox: `0 0 ${labelWidth + barWidth + 90} ${height}`, width: '100%' },
    svg('title', { id: `${id}-title` }, title),
    svg('desc', { id: `${id}-desc` }, rows.map((r) => `${r.label}: ${said(r)}`).join('; ')),
    rows.map((r, i) => {
      const y = i * row + 4
      const w = r.value === null ? 0 : Math.max(r.value > 0 ? 2 : 0, Math.round((r.value / max) * barWidth))
      return svg('g', { class: r.value === null ? 'suppressed' : 'bar' },
        svg('text', { x: labelWidth - 8, y: y + 15, 'text-anchor': 'end' }, r.label),
        svg('rect', { x: labelWidth, y, width: w, height: row - 6 }),
        svg('text', { x: labelWidth + w + 6, y: y + 15 }, said(r)))
    }))
  return h('figure', { class: 'chart' }, h('figcaption', { 'aria-hidden': 'true' }, title), chart)
}

/** A table of report rows; a null count (a small cell, suppressed by the API) says so and points to why. */
function reportTable (id, caption, columns, rows) {
  const number = new Intl.NumberFormat(document.documentElement.lang === 'cnr' ? 'sr-Latn-ME' : document.documentElement.lang, { maximumFractionDigits: 1 })
  const cell = (v, numeric) => {
    if (v === null) return h('td', { class: `suppressed${numeric ? ' num' : ''}`, 'aria-describedby': 'suppressed-help' }, `${t('report.suppressed')}*`)
    return h('td', { class: numeric ? 'num' : undefined }, numeric && typeof v === 'number' ? number.format(v) : String(v ?? '—'))
  }
  return h('table', { id, class: 'report' },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.numeric ? 'num' : undefined }, t(c.label))))),
    h('tbody', {}, rows.length === 0
      ? h('tr', {}, h('td', { colspan: columns.length }, t('report.empty')))
      : rows.map((r) => h('tr', {}, columns.map((c) => cell(c.value(r), c.numeric))))))
}

/** An agency id as short as a chart label allows, Kosovo* still with its asterisk. */
const shortAgency = (id) => (id?.startsWith('XK-') || agencies.get(id)?.country === 'XK' ? `${id} (${t('country.XK')})` : id)
const pairLabel = (r) => `${shortAgency(r.from)} → ${shortAgency(r.to)}`
const count = { label: 'report.count', value: (r) => r.count, numeric: true }
const pair = [{ label: 'report.from', value: (r) => agencyLabel(r.from) }, { label: 'report.to', value: (r) => agencyLabel(r.to) }]

/** The first day of the previous calendar month and of this one (the usual reporting period), as yyyy-mm-dd. */
function lastMonth () {
  const now = new Date()
  const iso = (d) => d.toISOString().slice(0, 10)
  return [iso(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1))), iso(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)))]
}

/** The Steering Group report (R1): aggregates for a period, no content, no personal data, small cells suppressed. */
async function reportView (params) {
  const [defaultFrom, defaultTo] = lastMonth()
  const from = params.get('from') || defaultFrom
  const to = params.get('to') || defaultTo
  const agency = params.get('agency') ?? ''
  const form = h('form', { class: 'filters', 'aria-label': t('report.period') },
    field('from', 'report.periodFrom', h('input', { type: 'date', value: from, required: true })),
    field('to', 'report.periodTo', h('input', { type: 'date', value: to, required: true })),
    // Only a supervisor may ask for another agency's figures; everyone else gets their own agency's.
    (claims()?.roles ?? []).includes('supervisor') ? field('agency', 'report.agency', h('input', { type: 'text', value: agency, pattern: '[A-Z]{2}-[A-Z0-9]+', placeholder: 'AL-ASP' })) : '',
    h('button', { type: 'submit' }, t('report.show')))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    location.hash = `#/report${query(Object.fromEntries(new FormData(form)))}`
  })
  const body = h('div', { 'aria-live': 'polite' }, t('loading'))
  show(h('h1', { tabindex: '-1' }, t('nav.report')), h('p', { class: 'muted' }, t('report.help')), form, body)
  // The period: from the start of the first day to the start of the day after the last (UTC, as the broker counts).
  const instant = (d) => new Date(`${d}T00:00:00Z`).toISOString()
  const base = { from: instant(from), to: instant(to), agency: agency || undefined }
  try {
    const r = await api(`/v1/reports/exchanges${query({ ...base, format: 'json' })}`)
    const download = (format, type) => h('button', {
      type: 'button',
      class: `download-${format}`,
      on: {
        click: async () => {
          try { await download$(`/v1/reports/exchanges${query({ ...base, format })}`, `leix-report-${from}-${to}.${format}`, type) } catch (err) { downloadStatus.replaceChildren(errorBox(err)) }
        },
      },
    }, t(`report.download.${format}`))
    const v = r.volumes
    const downloadStatus = h('span', { 'aria-live': 'polite' })
    body.replaceChildren(
      h('p', {}, t('report.scope', { from: formatInstant(r.period.from), to: formatInstant(r.period.to), agency: r.scope.agency ? agencyLabel(r.scope.agency) : t('report.allAgencies') })),
      h('p', { id: 'suppressed-help', class: 'muted' }, `*${t('report.suppressedHelp', { min: r.minCount })}`, r.suppressedCells ? ` ${t('report.suppressedCells', { count: r.suppressedCells })}` : ''),
      h('p', {}, download('csv', 'text/csv'), ' ', download('svg', 'image/svg+xml'), ' ', downloadStatus),
      h('h2', {}, t('report.volumes')),
      barChart(t('report.chart.byPair'), v.byPair.map((x) => ({ label: pairLabel(x), value: x.count }))),
      reportTable('report-pairs', t('report.byPair'), [...pair, count], v.byPair),
      reportTable('report-instruments', t('report.byInstrument'), [{ label: 'report.instrument', value: (x) => x.instrument }, count], v.byInstrument),
      reportTable('report-kinds', t('report.byKind'), [{ label: 'report.kind', value: (x) => t(`kind.${x.kind}`) }, count], v.byKind),
      barChart(t('report.chart.byCrimeArea'), v.byCrimeArea.map((x) => ({ label: t(`crime.${x.crimeArea}`), value: x.count }))),
      reportTable('report-crime', t('report.byCrimeArea'), [{ label: 'report.crimeArea', value: (x) => t(`crime.${x.crimeArea}`) }, count], v.byCrimeArea),
      h('h2', {}, t('report.timeliness')),
      reportTable('report-timeliness', t('report.timelinessCaption'), [...pair,
        { label: 'report.requests', value: (x) => x.requests, numeric: true },
        { label: 'report.withinDeadline', value: (x) => x.withinDeadline, numeric: true },
        { label: 'report.missed', value: (x) => x.missed, numeric: true },
        { label: 'report.open', value: (x) => x.open, numeric: true },
        { label: 'report.medianHours', value: (x) => x.medianHoursToAnswer, numeric: true }], r.timeliness),
      h('h2', {}, t('report.refusals')),
      reportTable('report-refusals', t('report.refusalsCaption'), [{ label: 'report.ground', value: (x) => `(${x.ground})` }, count], r.refusals),
      h('h2', {}, t('report.holds')),
      reportTable('report-holds', t('report.holdsCaption'), [{ label: 'report.rule', value: (x) => x.rule },
        { label: 'report.held', value: (x) => x.held, numeric: true },
        { label: 'report.released', value: (x) => x.released, numeric: true },
        { label: 'report.rejected', value: (x) => x.rejected, numeric: true },
        { label: 'report.pending', value: (x) => x.pending, numeric: true }], r.holds),
      h('h2', {}, t('report.undeliverable')),
      reportTable('report-undeliverable', t('report.undeliverableCaption'), [...pair, count], r.undeliverable),
      h('p', { class: 'muted' }, t('report.generated', { at: formatInstant(r.generatedAt) })))
  } catch (err) { body.replaceChildren(errorBox(err)) }
}

/**
 * Draws the view the URL names. After a navigation (not the first load) focus goes to the new
 * view's heading, so that a keyboard or screen-reader user starts reading there.
 */
let renders = 0

async function render ({ focus = false } = {}) {
  const mine = ++renders
  // Says which URL is fully drawn (the tests and any automation wait for it).
  delete document.body.dataset.rendered
  nav()
  if (!token()) { signInView(); document.body.dataset.rendered = location.hash; return }
  const [path, search = ''] = location.hash.replace(/^#/, '').split('?')
  const params = new URLSearchParams(search)
  const [, view, id] = path.split('/')
  document.title = `leix · ${t(`nav.${view || 'exchanges'}`)}`
  if (view === 'exchange' && id) await exchangeView(id)
  else if (view === 'inbox') await inboxView()
  else if (view === 'notifications') await notificationsView()
  else if (view === 'review') await reviewView()
  else if (view === 'audit') await auditView(params)
  else if (view === 'report') await reportView(params)
  else await exchangesView(params)
  if (mine !== renders) return // a later navigation is drawing
  if (focus) {
    const heading = document.querySelector('#main h1')
    heading?.setAttribute('tabindex', '-1')
    heading?.focus()
  }
  document.body.dataset.rendered = location.hash
}

async function start () {
  await setLanguage(localStorage.getItem('leix.language') ?? pickLanguage(navigator.languages ?? [navigator.language]))
  try {
    const list = await api('/v1/agencies', { anonymous: true })
    agencies = new Map((Array.isArray(list) ? list : list.items ?? list.agencies ?? []).map((a) => [a.id, a]))
  } catch {
    // names are a convenience: ids alone still identify the agencies
  }
  window.addEventListener('hashchange', () => { render({ focus: true }) })
  // The skip link moves the focus to the content and stays on the view: as a plain `#main` link it
  // would change the hash, which is this console's router.
  document.querySelector('a.skip')?.addEventListener('click', (e) => {
    e.preventDefault()
    const main = document.getElementById('main')
    main?.setAttribute('tabindex', '-1')
    main?.focus()
  })
  setInterval(tick, 1000)
  await render()
  document.body.dataset.ready = '1'
}

start()
