/**
 * What another CDK app imports to deploy token-refresher inside its own stack (`import { TokenRefresher } from
 * 'token-refresher'`). The cdk-nag rule packs are `token-refresher/compliance`: cdk-nag is an optional peer dependency.
 */
export * from './token-refresher.ts';
export * from './token-refresher-stack.ts';
export * from '../lambdas/report/metric-names.ts';
export { parseSchedule, ScheduleError, type ParsedSchedule } from '../lambdas/config/schedule.ts';
// The configuration document, validated the way the function validates it (the construct takes a parsed Config).
export { loadConfig, parseConfig } from '../lambdas/config/load.ts';
export type { Config, Credential } from '../lambdas/config/schema.ts';
