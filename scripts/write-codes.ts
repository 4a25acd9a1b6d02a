// Writes the README's troubleshooting table from the code catalogue (lambdas/core/codes.ts), between its markers.
import { readFileSync, writeFileSync } from 'node:fs';
import { codesMarkdownTable } from '../lambdas/core/codes.ts';

export const BEGIN = '<!-- codes:begin (generated from lambdas/core/codes.ts by `npm run codes`; do not edit here) -->';
export const END = '<!-- codes:end -->';

/** The README with the table between the markers replaced by the catalogue's; throws if the markers are missing. */
export function withCodesTable(readme: string): string {
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the markers ${BEGIN} ... ${END}`);
  return `${readme.slice(0, start + BEGIN.length)}\n${codesMarkdownTable()}\n${readme.slice(end)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = new URL('../README.md', import.meta.url);
  writeFileSync(file, withCodesTable(readFileSync(file, 'utf8')));
  console.log('wrote the code table into README.md');
}
