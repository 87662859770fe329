/** `leix audit ...`: the auditor's offline tools. */
export async function auditCommand(_args: string[]): Promise<number> {
  process.stderr.write('leix audit: not available in this build\n')
  return 2
}
