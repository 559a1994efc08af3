/** One line of JSON per log record; never pass tokens, passwords or cookies here. */
export function logError(where: string, error: unknown): void {
  const detail = error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : { error: String(error) };
  console.error(JSON.stringify({ level: 'error', where, ...detail }));
}
