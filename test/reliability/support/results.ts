import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Where the reliability tests leave what they observed: one JSON file per test file (matrix rows) or per figure set.
 * `scripts/reliability-report.ts` points RELIABILITY_OUT at a fresh directory, runs the suite and the load script, and
 * generates docs/RELIABILITY.md from these files; a plain `npm test` writes them to the temporary directory, harmlessly.
 */
export const RESULTS_DIR = process.env.RELIABILITY_OUT ?? join(tmpdir(), 'token-refresher-reliability');

export interface MatrixRow {
  /** Position in its test file (rows may finish in any order when they run concurrently). */
  order: number;
  /** The peer, e.g. "Entra ID". */
  group: string;
  fault: string;
  stage: string;
  expected: string;
  observed: string;
  /** Invariant 1 (newest token in the store, or the documented window) and 2 (targets converge) held. */
  nothingLost: boolean;
  /** Every check of the row held (classification, alerts, secrets, convergence). */
  passed: boolean;
  /** The checks that did not hold, empty when passed. */
  problems: string[];
}

export interface ResultFile {
  kind: 'matrix' | 'figures';
  name: string;
  writtenAt: string;
  rows?: MatrixRow[];
  figures?: Record<string, unknown>;
}

export function writeResult(file: ResultFile): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${file.kind}-${file.name}.json`), `${JSON.stringify(file, null, 2)}\n`);
}

/** Collects the rows of one test file; call `flush` from afterAll. */
export class MatrixSink {
  readonly rows: MatrixRow[] = [];
  constructor(readonly name: string) {}
  add(row: MatrixRow): void {
    this.rows.push(row);
  }
  flush(): void {
    this.rows.sort((a, b) => a.order - b.order);
    if (this.rows.length > 0)
      writeResult({ kind: 'matrix', name: this.name, writtenAt: new Date().toISOString(), rows: this.rows });
  }
}

export function writeFigures(name: string, figures: Record<string, unknown>): void {
  writeResult({ kind: 'figures', name, writtenAt: new Date().toISOString(), figures });
}
