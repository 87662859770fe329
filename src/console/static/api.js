// The console is a client of the public JSON API, nothing more: the user's bearer token, kept in
// sessionStorage (gone when the tab closes), goes with every request.

const TOKEN = 'leix.token'

export function token () { return sessionStorage.getItem(TOKEN) }
export function signIn (value) { sessionStorage.setItem(TOKEN, value.trim()) }
export function signOut () { sessionStorage.removeItem(TOKEN) }

/** The token's claims, for display only (the API checks the token, not the console). */
export function claims () {
  const value = token()
  try {
    const part = value.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    const json = new TextDecoder().decode(Uint8Array.from(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '=')), (c) => c.charCodeAt(0)))
    return JSON.parse(json)
  } catch {
    return undefined
  }
}

export class ApiError extends Error {
  constructor (status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`)
    this.status = status
    this.problem = problem
  }
}

/** JSON from the API; throws ApiError with the problem+json answer otherwise. */
export async function api (path, { method = 'GET', body, headers = {}, anonymous = false } = {}) {
  const res = await fetch(path, {
    method,
    headers: {
      accept: 'application/json',
      ...(anonymous ? {} : { authorization: `Bearer ${token()}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    cache: 'no-store',
  })
  const type = res.headers.get('content-type') ?? ''
  const data = type.includes('json') ? await res.json() : undefined
  if (!res.ok) throw new ApiError(res.status, data)
  return data
}

/** A query string from the non-empty values. */
export function query (values) {
  const q = new URLSearchParams(Object.entries(values).filter(([, v]) => v !== undefined && v !== null && v !== ''))
  const s = q.toString()
  return s ? `?${s}` : ''
}

/**
 * Saves what the API answers at `path` as a file named `name` (a link cannot carry the bearer
 * token, so the console fetches it and hands the browser the bytes).
 */
export async function download (path, name, type) {
  const res = await fetch(path, { headers: { accept: type, authorization: `Bearer ${token()}` }, cache: 'no-store' })
  if (!res.ok) throw new ApiError(res.status, (res.headers.get('content-type') ?? '').includes('json') ? await res.json() : undefined)
  const url = URL.createObjectURL(await res.blob())
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}
