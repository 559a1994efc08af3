import { ProtocolRegistry } from './adapter';
import { desk } from './desk';
import { workspace } from './workspace';
import { zavodchat } from './zavodchat';

/**
 * Every socket protocol this deployment speaks. A new protocol is a folder `lambdas/protocols/<name>/`
 * exporting a ProtocolAdapter, and one line here.
 */
export const PROTOCOLS = new ProtocolRegistry([
  zavodchat,
  workspace,
  desk,
]);
