import { type WorkspaceContext, workspaceContext } from '../protocols/workspace/context';
import { deliverOpenPacket } from '../protocols/workspace/session';

/** The workspace socket's handler context (lambdas/protocols/workspace/context.ts), wired with its open step. */
export function context(): WorkspaceContext {
  return workspaceContext(deliverOpenPacket);
}
