import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { RotationSummary } from '../../lambdas/pipeline/rotate.ts';
import { runRotation, type RunResult } from '../../lambdas/pipeline/run.ts';
import { bool, str, strs } from '../args.ts';
import type { Command } from '../command.ts';
import type { Context } from '../context.ts';
import { CliError, Exit, exitCodeForSummary, usageError, worstExit, type ExitCode } from '../errors.ts';
import type { Io } from '../io.ts';
import { printSummary } from '../summary.ts';

export const rotateCommand: Command = {
  name: 'rotate',
  summary: 'rotate now (in this process, or by invoking the deployed function) and print the summary',
  options: {
    credential: { type: 'string', multiple: true },
    force: { type: 'boolean' },
    'push-now': { type: 'boolean' },
    deliver: { type: 'boolean' },
    remote: { type: 'boolean' },
    'function-name': { type: 'string' },
    region: { type: 'string' },
  },
  help: `Usage: token-refresher rotate [--credential ID]... [--force] [--push-now | --deliver] [--remote [--function-name NAME] [--region R]]

Runs the rotation pipeline now: redeem the stored refresh token, store the new one as pending, validate it, make it
current, then deliver it to the Cloud Manager targets whose delivery policy says so (a copy older than pushAfterDays,
in a maintenance window; a dead copy at once). Every push restarts that AEM environment. Without --force a token
younger than rotation.maxAgeDays is left alone.
  --credential ID       one credential (repeatable); default every configured credential
  --force               rotate even if the token is young
  --push-now            also push the current token to every target of these credentials now, outside any window
                        (each push restarts the environment)
  --deliver             only the delivery stage (follow-ups, AEM log checks, due pushes), as the 30-minute schedule does
  --remote              invoke the deployed function instead of running here (your AWS credentials need
                        lambda:InvokeFunction); payload {"action":"rotate","credential":ID,"force":bool,"source":"cli"}
  --function-name NAME  the function (stack output FunctionName; default $TOKEN_REFRESHER_FUNCTION_NAME)
  --region R            its region (default from the AWS environment)
Exit codes: 0 every credential fine, 1 a rotation failed, 2 usage or configuration, 3 a sign-in is needed
(run regenerate), 4 another run holds a lease.`,

  async run(ctx) {
    const ids = strs(ctx.values, 'credential');
    const force = bool(ctx.values, 'force');
    const pushNow = bool(ctx.values, 'push-now') ? ('all' as const) : undefined;
    const mode = bool(ctx.values, 'deliver') ? ('deliver' as const) : undefined;
    if (pushNow && mode) throw usageError('--push-now and --deliver exclude each other');
    if (bool(ctx.values, 'remote')) return remote(ctx, ids, force, pushNow !== undefined, mode);
    if (str(ctx.values, 'function-name')) throw usageError('--function-name needs --remote');
    // Unknown ids are a usage error before anything runs.
    for (const id of ids) ctx.credential(id);
    const deps = ctx.deps();
    ctx.ui.progress(
      'info',
      `rotating ${ids.length ? ids.join(', ') : `all ${ctx.config().credentials.length} credential(s)`}${force ? ' (forced)' : ''}`,
    );
    if (pushNow) ctx.ui.progress('warn', 'pushing to every target now: each push restarts its AEM environment');
    const result = await runRotation(deps, {
      credentials: ids.length ? ids : undefined,
      force,
      source: 'cli',
      pushNow,
      mode,
    });
    return report(ctx, result.results, result);
  },
};

function report(ctx: Context, results: RotationSummary[], doc: unknown): ExitCode {
  if (ctx.ui.json) ctx.ui.emit(doc);
  else for (const s of results) printSummary(ctx.ui, s);
  return worstExit(results.map(exitCodeForSummary));
}

async function invokeWithSdk(p: {
  functionName: string;
  region?: string;
  payload: unknown;
}): Promise<{ payload: unknown; functionError?: string }> {
  // A rotation of many credentials can take minutes: the socket must outlive the function's own timeout, and then end
  // (throwOnRequestTimeout: without it the SDK's HTTP handler only warns when requestTimeout passes).
  const client = new LambdaClient({
    region: p.region,
    requestHandler: { requestTimeout: 16 * 60_000, connectionTimeout: 10_000, throwOnRequestTimeout: true },
  });
  try {
    const r = await client.send(
      new InvokeCommand({
        FunctionName: p.functionName,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(p.payload)),
      }),
    );
    const text = r.Payload ? new TextDecoder().decode(r.Payload) : '';
    let payload: unknown = text;
    try {
      payload = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { payload, functionError: r.FunctionError };
  } catch (e) {
    const name = (e as { name?: string }).name ?? 'Error';
    const denied =
      name === 'AccessDeniedException' || name === 'UnrecognizedClientException' || name === 'CredentialsProviderError';
    throw new CliError(
      `could not invoke ${p.functionName}: ${name}${(e as Error).message ? `: ${(e as Error).message.slice(0, 200)}` : ''}`,
      name === 'ResourceNotFoundException' || denied ? Exit.usage : Exit.failure,
      name === 'ResourceNotFoundException'
        ? 'Check --function-name (stack output FunctionName) and --region.'
        : 'Check your AWS credentials and region, and that they allow lambda:InvokeFunction on the function.',
      `LAMBDA_${name}`,
    );
  } finally {
    client.destroy();
  }
}

async function remote(
  ctx: Context,
  ids: string[],
  force: boolean,
  pushNow: boolean,
  mode: 'deliver' | undefined,
): Promise<ExitCode> {
  const functionName = str(ctx.values, 'function-name') ?? ctx.io.env.TOKEN_REFRESHER_FUNCTION_NAME;
  if (!functionName) {
    throw usageError(
      '--remote needs the function name',
      'Pass --function-name (the stack output FunctionName: `aws cloudformation describe-stacks --stack-name TokenRefresher`) or set TOKEN_REFRESHER_FUNCTION_NAME.',
    );
  }
  const payload = {
    action: mode ?? 'rotate',
    ...(ids.length === 1 ? { credential: ids[0] } : ids.length ? { credential: ids } : {}),
    force,
    ...(pushNow ? { pushNow: true } : {}),
    source: 'cli',
  };
  const invoke: NonNullable<Io['invokeLambda']> = ctx.io.invokeLambda ?? invokeWithSdk;
  const waiting = ctx.ui.wait(
    `invoking ${functionName} (${ids.length ? ids.join(', ') : 'all credentials'}${force ? ', forced' : ''}); this waits for the run to end`,
  );
  let r: Awaited<ReturnType<typeof invoke>>;
  try {
    r = await invoke({ functionName, region: str(ctx.values, 'region'), payload });
  } finally {
    waiting.stop();
  }
  if (r.functionError) {
    const body = r.payload as { errorMessage?: unknown; errorType?: unknown } | undefined;
    const message = typeof body?.errorMessage === 'string' ? body.errorMessage : JSON.stringify(r.payload);
    const type = typeof body?.errorType === 'string' ? body.errorType : r.functionError;
    // The handler's own refusals (bad event, bad configuration) say what to do in the message: "CODE: message -- fix".
    const [what, fix] = message.split(' -- ');
    throw new CliError(
      `the function refused the run (${type}): ${what ?? message}`,
      /^(EVENT_INVALID|CONFIG_)/.test(type) ? Exit.usage : Exit.failure,
      fix,
      type,
    );
  }
  const result = r.payload as Partial<RunResult> | undefined;
  if (!result || !Array.isArray(result.results))
    throw new CliError(
      `the function answered something that is not a run result`,
      Exit.failure,
      'Check that --function-name names the token-refresher function.',
    );
  return report(ctx, result.results, result);
}
