import { availableParallelism, cpus, loadavg, release, totalmem, type } from 'node:os';
import { spawnNode } from './child.ts';

export interface Machine {
  cpuModel: string;
  nproc: number;
  memoryGiB: number;
  os: string;
  /** Node of the measured processes (node_modules/.bin/node, the `node` devDependency). */
  nodeVersion: string;
  /** Node running this orchestrating process (under tsx). */
  orchestratorNodeVersion: string;
  loadAverage: number[];
}

export async function describeMachine(): Promise<Machine> {
  const nodeVersion = (await spawnNode(['--version'], { timeoutMs: 30_000 })).trim();
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    nproc: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${type()} ${release()}`,
    nodeVersion,
    orchestratorNodeVersion: process.version,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
