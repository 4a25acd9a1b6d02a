import { z } from 'zod';

/**
 * Response shapes of the Cloud Manager reads, after contracts/cloudmanager-api.yaml (Swagger 2.0). Only the fields the
 * refresher acts on are required; everything else Cloud Manager adds is ignored, so a new field cannot break a run.
 */

export const idLike = z.union([z.string().min(1), z.number()]).transform(String);

export const environmentSchema = z.object({
  id: idLike,
  programId: idLike.optional(),
  name: z.string().optional(),
  type: z.string().optional(),
  status: z.string().optional(),
});

export const variableSchema = z.object({
  name: z.string().min(1),
  // The spec: "Default `string` if missing".
  type: z.string().default('string'),
  service: z.string().optional(),
  status: z.string().optional(),
});

export const variableListSchema = z.object({
  // An environment without variables may come without _embedded; anything present must have the documented shape.
  _embedded: z.object({ variables: z.array(variableSchema).default([]) }).optional(),
});

/** PipelinePhase: a DEPLOY phase names the environment it deploys to. */
const phaseSchema = z.object({
  name: z.string().optional(),
  type: z.string(),
  environmentId: idLike.optional(),
  environmentType: z.string().optional(),
});

const pipelineSchema = z.object({
  id: idLike,
  name: z.string().optional(),
  /** IDLE, BUSY, WAITING */
  status: z.string().optional(),
  type: z.string().optional(),
  phases: z.array(phaseSchema).default([]),
});

export const pipelineListSchema = z.object({
  _totalNumberOfItems: z.number().int().nonnegative().optional(),
  _embedded: z.object({ pipelines: z.array(pipelineSchema).default([]) }).optional(),
});

/** PipelineExecutionStepState: each step of a running execution names its target environment, when it has one. */
const stepStateSchema = z.object({
  action: z.string().optional(),
  environmentId: idLike.optional(),
  status: z.string().optional(),
});

export const executionSchema = z.object({
  id: idLike,
  pipelineId: idLike.optional(),
  status: z.string(),
  createdAt: z.string().optional(),
  finishedAt: z.string().optional(),
  _embedded: z.object({ stepStates: z.array(stepStateSchema).default([]) }).optional(),
});

export const executionListSchema = z.object({
  _embedded: z.object({ executions: z.array(executionSchema).default([]) }).optional(),
});

/** HAL allows one link object or an array of them under a relation. */
const halLinks = z
  .union([z.object({ href: z.string().min(1) }), z.array(z.object({ href: z.string().min(1) }))])
  .transform((l) => (Array.isArray(l) ? l : [l]).map((x) => x.href));

export const REL_LOGS_DOWNLOAD = 'http://ns.adobe.com/adobecloud/rel/logs/download';
export const REL_LOGS_TAIL = 'http://ns.adobe.com/adobecloud/rel/logs/tail';

const environmentLogSchema = z.object({
  service: z.string(),
  name: z.string(),
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  _links: z.object({ [REL_LOGS_DOWNLOAD]: halLinks.optional(), [REL_LOGS_TAIL]: halLinks.optional() }).optional(),
});

export const environmentLogsSchema = z.object({
  _embedded: z.object({ downloads: z.array(environmentLogSchema).default([]) }).optional(),
});

/** The JSON answer of logs/download with Accept: application/json. */
export const redirectSchema = z.object({ redirect: z.string().min(1) });

export type CmPipeline = z.infer<typeof pipelineSchema>;
export type CmExecution = z.infer<typeof executionSchema>;
