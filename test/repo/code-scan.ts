/**
 * Finds the error codes the source uses: string literals (and `PREFIX_${...}` templates) in a `code:` property, in the
 * arguments of a call that builds an error (`new RefresherError(...)`, `new CliError(...)`, `imsError(...)`,
 * `this.fail(...)`, `make(...)`, ...), and in `const code = ...`. Read as text: no code of the repository runs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface CodeUse {
  /** The code, or for a template its literal start followed by `*` (e.g. `SMTP_*`). */
  code: string;
  file: string;
  line: number;
}

/** Upper-case words with digits, `_` and `.`: what the codes look like (lower-case strings are prose or field names). */
const CODE_LITERAL = /'([A-Z][A-Z0-9]*(?:[_.][A-Z0-9]+)*)'/g;
const TEMPLATE_PREFIX = /`([A-Z][A-Z0-9]*_?)\$\{/g;
/** Calls whose arguments name a code. `Error(` alone (a plain Error) is not one. */
const ERROR_CALL = /(?:\bnew\s+)?\b(\w+(?:Error|error)|fail|failure|deferral|make)\(/g;

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

/** The text of a call's arguments: from after "(" to the matching ")", skipping over strings. */
function callArguments(text: string, open: number): string {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return text.slice(open + 1, i);
  }
  return text.slice(open + 1);
}

function lineOf(text: string, index: number): number {
  let n = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

export function scanCodes(root: string, dirs: readonly string[]): CodeUse[] {
  const uses: CodeUse[] = [];
  for (const dir of dirs) {
    for (const file of sourcesUnder(path.join(root, dir))) {
      const text = readFileSync(file, 'utf8');
      const rel = path.relative(root, file);
      const collect = (fragment: string, at: number) => {
        for (const m of fragment.matchAll(CODE_LITERAL)) uses.push({ code: m[1]!, file: rel, line: lineOf(text, at) });
        for (const m of fragment.matchAll(TEMPLATE_PREFIX))
          uses.push({ code: `${m[1]!}*`, file: rel, line: lineOf(text, at) });
      };
      for (const m of text.matchAll(/\bcode:\s*([^\n]*)|\b(?:const|let)\s+code\s*=\s*([^\n]*)/g))
        collect(m[1] ?? m[2] ?? '', m.index);
      for (const m of text.matchAll(ERROR_CALL)) {
        if (m[1] === 'isRefresherError' || m[1] === 'asRefresherError') continue;
        collect(callArguments(text, m.index + m[0].length - 1), m.index);
      }
    }
  }
  return uses;
}
