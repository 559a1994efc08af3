import type { AppContext } from './runtime';

/**
 * The context a process that hosts the handlers next to its own servers installed (the local runtime), so
 * the handlers' appContext() is that one instead of a Lambda's built from the environment. One at a time:
 * the handlers are modules, so two runtimes in one process would share them. (AsyncLocalStorage could scope
 * a context per invocation, but on Node 20 it slows every promise of the process, and the local runtime is
 * what the benchmarks measure.) A module of its own, without the runtime's imports, so the `ping` handler
 * reads its settings and stays light.
 */
let installed: AppContext | undefined;

export function installedContext(): AppContext | undefined {
  return installed;
}

/** Makes `context` the handlers' context until the returned function is called. */
export function installAppContext(context: AppContext): () => void {
  if (installed) throw new Error('a local runtime already runs in this process: stop it before starting another (they would share the handlers)');
  installed = context;
  return () => {
    if (installed === context) installed = undefined;
  };
}
