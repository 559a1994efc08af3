import { InMemoryAdmission, RecordingPresence } from './in-memory-ports';
import type { VoiceAdmission, VoicePresence } from './ports';

export interface VoicePorts {
  admission: VoiceAdmission;
  presence: VoicePresence;
  /** One line for the start-up banner. */
  description: string;
}

export class NotWiredError extends Error {}

/**
 * The admission and presence `main.ts` runs with. The DynamoDB-backed ports (lambdas/domain) are not wired
 * yet, so the only choice is the demo: VOICE_DEMO=1 admits token `demo-<user id>` to any channel id as a
 * server voice channel (server 1) and prints presence calls. It checks nothing; never expose it.
 */
export function createVoicePorts(env: NodeJS.ProcessEnv = process.env): VoicePorts {
  if (env.VOICE_DEMO !== '1') {
    throw new NotWiredError(
      'the media node has no admission/presence implementation wired yet; set VOICE_DEMO=1 for the insecure demo ports ' +
        'or start it in-process with startMediaNode({ admission, presence, ... })',
    );
  }
  const tokens = new Map<string, number>();
  const admission = new InMemoryAdmission(tokens, new Map());
  const open = {
    async admit(request: Parameters<VoiceAdmission['admit']>[0]) {
      const user = /^demo-(\d{1,9})$/.exec(request.token ?? '');
      if (user) tokens.set(request.token!, Number(user[1]));
      const channelId = Number(request.channel);
      if (/^\d{1,9}$/.test(request.channel) && !admission.channels.has(channelId)) admission.channels.set(channelId, { serverId: 1 });
      return admission.admit(request);
    },
  };
  const presence = new RecordingPresence((call) => console.log(JSON.stringify(call)));
  return { admission: open, presence, description: 'DEMO ports (VOICE_DEMO=1): anyone with a token demo-<id> joins any channel' };
}
