import { AsyncLocalStorage } from 'node:async_hooks';
import type { AppContext } from './runtime';

/**
 * The context of the invocation under way where a process hosts the handlers next to contexts of its own
 * (the local runtime, several at once in a test process): each runtime runs its handlers inside its context.
 * A Lambda never enters it: there the process has one context, built from its environment (runtime.ts).
 * A module of its own, without the runtime's imports, so the `ping` handler reads its settings and stays light.
 */
export const invocationScope = new AsyncLocalStorage<AppContext>();
