import { appendLogFields, JsonLinesLogger, type LogLevel, parseLogLevel, withLogFields } from '../../lambdas/domain/log';

/** The JSON-lines logger (docs/pipeline.md, "Logs"), writing into an array. */
function capture(level?: LogLevel) {
  const lines: Array<{ level: LogLevel; record: Record<string, unknown> }> = [];
  const logger = new JsonLinesLogger({
    service: 'test',
    level,
    now: () => new Date('2026-12-07T12:00:00.000Z'),
    sink: (at, line) => void lines.push({ level: at, record: JSON.parse(line) as Record<string, unknown> }),
  });
  return { logger, lines };
}

describe('JSON-lines logger', () => {
  test("a record has Powertools' fields, the scope's ids and the error", async () => {
    const { logger, lines } = capture();
    await withLogFields({ requestId: 'r-1', connectionId: 'c-1' }, async () => {
      await Promise.resolve();
      appendLogFields({ userId: 7 });
      logger.error('publish failed', Object.assign(new Error('boom'), { code: 'ECONNRESET' }), { event: 'user_changed' });
    });
    logger.info('outside');
    expect(lines.map(({ record }) => ({ ...record, error: record.error && { ...(record.error as object), stack: undefined } }))).toEqual([
      {
        level: 'ERROR',
        message: 'publish failed',
        timestamp: '2026-12-07T12:00:00.000Z',
        service: 'test',
        requestId: 'r-1',
        connectionId: 'c-1',
        userId: 7,
        event: 'user_changed',
        error: { name: 'Error', message: 'boom', code: 'ECONNRESET', stack: undefined },
      },
      { level: 'INFO', message: 'outside', timestamp: '2026-12-07T12:00:00.000Z', service: 'test', error: undefined },
    ]);
  });

  test('fields named like secrets are redacted at any depth', () => {
    const { logger, lines } = capture();
    logger.warn('login', { token: 'tok-1', request: { headers: { Cookie: 'zavodchat_token=tok-2', Authorization: 'Bearer tok-3' }, password: 'pw' } });
    const line = JSON.stringify(lines[0].record);
    for (const secret of ['tok-1', 'tok-2', 'tok-3', '"pw"']) expect(line).not.toContain(secret);
    expect(lines[0].record).toMatchObject({ token: '[redacted]', request: { headers: { Cookie: '[redacted]' }, password: '[redacted]' } });
  });

  test('LOG_LEVEL sets the threshold; an unknown level is a configuration error', () => {
    const { logger, lines } = capture(parseLogLevel('warn'));
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(lines.map(({ level }) => level)).toEqual(['WARN', 'ERROR']);
    expect(parseLogLevel(undefined)).toBe('INFO');
    expect(() => parseLogLevel('verbose')).toThrow(/LOG_LEVEL/);
  });
});
