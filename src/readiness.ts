/**
 * One thing readiness depends on (PostgreSQL, Redis, the seal, the self-check…): `check` resolves
 * to undefined when it is fine, or to the reason it is not. Services expose these; the health
 * route (src/http/routes/health.ts) runs them.
 */
export interface ReadinessCheck {
  name: string
  check: () => Promise<string | undefined>
}
