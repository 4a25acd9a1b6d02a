/**
 * No file of the repository cites a document that is not part of it. The protocol facts the code relies on are stated
 * in docs/PROTOCOLS.md with their public sources; a comment cites that file or the public source itself.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** The name of the project-external facts document, assembled so that this file does not mention it itself. */
const OUTSIDE = ['FA', 'CTS'].join('');

/** Every file git tracks or would add (untracked, not ignored): node_modules, dist and cdk.out are ignored. */
function repoFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return out.split('\0').filter((f) => f && existsSync(path.join(REPO, f)));
}

describe('no reference to documents outside the repository', () => {
  it(`no file mentions ${OUTSIDE.toLowerCase()} (upper-case) or a path outside the repository to it`, () => {
    const files = repoFiles();
    expect(files.length).toBeGreaterThan(200);
    const hits: string[] = [];
    for (const f of files) {
      const text = readFileSync(path.join(REPO, f));
      if (text.includes(0)) continue; // binary
      const lines = text.toString('utf8').split('\n');
      lines.forEach((line, i) => {
        if (line.includes(OUTSIDE) || line.includes(`shared/${OUTSIDE}`))
          hits.push(`${f}:${i + 1}: ${line.trim().slice(0, 160)}`);
      });
    }
    expect(hits, 'state the fact in your own words with its public source, or cite docs/PROTOCOLS.md').toEqual([]);
  });

  it('docs/PROTOCOLS.md exists and gives a public source for every section', () => {
    const doc = readFileSync(path.join(REPO, 'docs/PROTOCOLS.md'), 'utf8');
    const sections = doc.split(/^## /m).slice(1);
    expect(sections.length).toBeGreaterThanOrEqual(6);
    for (const s of sections) expect(s, s.split('\n')[0]).toMatch(/Sources?: .*\]\(https:\/\//s);
  });
});
