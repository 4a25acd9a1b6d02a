// A credential without Cloud Manager targets, in a configuration without "adobe": the schema allows it (adobe is
// needed only with targets), so the function and every CLI command must work without it too.
import { describe, expect, it } from 'vitest';
import { checkAndCloseAfterEach, type CliEnv, startCliEnv } from './support.ts';

let env: CliEnv | undefined;
checkAndCloseAfterEach(
  () => env,
  () => (env = undefined),
);

async function world(): Promise<CliEnv> {
  env = await startCliEnv({
    targetsPerCredential: 0,
    configure: (doc) => {
      delete doc.adobe;
    },
  });
  await env.seed();
  return env;
}

describe('a credential without targets needs no "adobe" section', () => {
  it('rotate rotates, validates and promotes with no Cloud Manager failure or alert', async () => {
    const e = await world();
    expect(e.config.adobe).toBeUndefined();
    expect(e.config.credentials[0]!.targets).toEqual([]);
    const r = await e.run(['rotate', '--credential', 'aem-mail', '--force', '--json']);
    expect(r.stderr).not.toMatch(/CM_NOT_CONFIGURED/);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { results: Array<{ outcome: string; failure?: unknown; alert: string }> };
    expect(out.results[0]).toMatchObject({ outcome: 'rotated', alert: 'none' });
    expect(out.results[0]!.failure).toBeUndefined();
  });

  it('status and doctor do not ask for the adobe section', async () => {
    const e = await world();
    await e.run(['rotate', '--credential', 'aem-mail', '--force']);
    const status = await e.run(['status']);
    expect(status.stdout + status.stderr).not.toMatch(/CM_NOT_CONFIGURED|"adobe" section/);
    const doctor = await e.run(['doctor', '--json']);
    expect(doctor.stdout + doctor.stderr).not.toMatch(/CM_NOT_CONFIGURED|"adobe" section is missing/);
  });
});
