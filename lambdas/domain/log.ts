import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The logger port (docs/pipeline.md). Records are structured, with the fields of
 * Powertools for AWS Lambda's Logger: `level`, `message`, `timestamp`, `service`, plus whatever the current
 * request, connection or user adds (`requestId`, `connectionId`, `userId`). Never pass tokens, passwords or
 * cookies: fields named like them are redacted anyway (`redact`).
 */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface LogFields {
  requestId?: string;
  connectionId?: string;
  userId?: number;
  [key: string]: unknown;
}

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  /** `error` is what was caught: its name, message and stack go into the record's `error`. */
  error(message: string, error?: unknown, fields?: LogFields): void;
}

/**
 * The fields of the request or socket event being handled: set by the edge (REST middleware, socket
 * handlers), carried through every await to whatever logs below it, domain code included, so a record
 * names its request without each function passing it on (the local runtime serves requests concurrently).
 */
const scope = new AsyncLocalStorage<LogFields>();

/** Runs `work` with `fields` added to every record logged within it. */
export function withLogFields<T>(fields: LogFields, work: () => T): T {
  return scope.run({ ...scope.getStore(), ...fields }, work);
}

/** Adds fields to the current scope (e.g. the user id once the session is read); none outside a scope. */
export function appendLogFields(fields: LogFields): void {
  const current = scope.getStore();
  if (current) Object.assign(current, fields);
}

const LEVELS: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARN: 30, ERROR: 40 };

export function parseLogLevel(raw: string | undefined): LogLevel {
  const level = (raw?.trim() || 'INFO').toUpperCase();
  if (level in LEVELS) return level as LogLevel;
  throw new Error(`LOG_LEVEL must be DEBUG, INFO, WARN or ERROR, got '${raw}'`);
}

const SECRET_KEY = /token|password|cookie|authorization|secret/i;

/** Field values under a secret-looking name are replaced, at any depth. */
function redact(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null || depth > 5) return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, SECRET_KEY.test(key) ? '[redacted]' : redact(inner, depth + 1)]));
}

function describeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}), stack: error.stack };
}

/** Where a line goes: stdout for DEBUG and INFO, stderr for WARN and ERROR (CloudWatch takes both). */
export type LogSink = (level: LogLevel, line: string) => void;

const consoleSink: LogSink = (level, line) => (LEVELS[level] >= LEVELS.WARN ? console.error(line) : console.log(line));

/** One JSON object per line: what Lambda's CloudWatch Logs, Logs Insights and `jq` read as is. */
export class JsonLinesLogger implements Logger {
  private readonly threshold: number;

  constructor(
    private readonly options: { service: string; level?: LogLevel; sink?: LogSink; fields?: LogFields; now?: () => Date } = { service: 'zavodchat' },
  ) {
    this.threshold = LEVELS[options.level ?? 'INFO'];
  }

  debug(message: string, fields?: LogFields): void {
    this.write('DEBUG', message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.write('INFO', message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.write('WARN', message, fields);
  }

  error(message: string, error?: unknown, fields?: LogFields): void {
    this.write('ERROR', message, { ...fields, ...(error === undefined ? {} : { error: describeError(error) }) });
  }

  private write(level: LogLevel, message: string, fields: LogFields | undefined): void {
    if (LEVELS[level] < this.threshold) return;
    const record = {
      level,
      message,
      timestamp: (this.options.now?.() ?? new Date()).toISOString(),
      service: this.options.service,
      ...(redact({ ...this.options.fields, ...scope.getStore(), ...fields }) as object),
    };
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch {
      // A cycle or a BigInt in the fields: the record without them rather than no record.
      line = JSON.stringify({ level, message, timestamp: record.timestamp, service: record.service });
    }
    (this.options.sink ?? consoleSink)(level, line);
  }
}

let current: Logger = new JsonLinesLogger({ service: 'zavodchat' });

/** Installs the process's logger: each composition root (Lambda, local runtime, media node) calls this once. */
export function useLogger(logger: Logger): void {
  current = logger;
}

/** The process's logger. */
export function log(): Logger {
  return current;
}
