import { RealProvider } from '../test/support/oidc-provider';

/**
 * `npx tsx local/desk-provider.ts`: the tests' OpenID provider (npm oidc-provider, test/support/) on a fixed
 * port, for trying the support desk by hand without a Keycloak (README, "Trying the support desk"). Prints
 * the settings to start the runtime with and access tokens of an admin, a curator and a customer (10 minutes
 * each; Enter prints fresh ones). Not for anything but this machine: logins are automatic.
 */
async function main(): Promise<void> {
  process.env.OIDC_PORT ||= '4480';
  const provider = await RealProvider.start();
  console.log(`OpenID provider at ${provider.issuer}; start the runtime with:`);
  console.log(`  DESK_OIDC_ISSUER=${provider.issuer} DESK_OIDC_AUDIENCE=${provider.audience} npm start`);
  const print = async () => {
    for (const [name, roles] of [
      ['admin', ['desk-admin']],
      ['curator', ['curator']],
      ['customer', []],
    ] as const) {
      // A fixed `sub` per name: the same desk user every time.
      console.log(`\n${name} (roles: ${roles.join(', ') || 'none'}):\n${await provider.token({ sub: `local-${name}`, name, roles: [...roles] })}`);
    }
    console.log('\nEnter: fresh tokens; Ctrl-C: stop.');
  };
  await print();
  process.stdin.on('data', () => void print().catch((error: Error) => console.error(error.message)));
  const stop = () => void provider.stop().finally(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: Error) => {
  console.error(`failed: ${error.message}`);
  process.exit(1);
});
