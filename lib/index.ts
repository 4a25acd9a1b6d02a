/** What another CDK app imports to deploy token-refresher inside its own stack. */
export * from './token-refresher.ts';
export * from './token-refresher-stack.ts';
export * from '../lambdas/report/metric-names.ts';
export { parseSchedule, ScheduleError, type ParsedSchedule } from '../lambdas/config/schedule.ts';
export { addComplianceChecks } from './compliance.ts';
