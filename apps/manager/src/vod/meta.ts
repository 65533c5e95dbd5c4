import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isSafeFileName } from '@ocdn/protocol';

/** A line of a metadata file that was skipped, and why. */
export interface MetaIssue {
  file: string;
  line: number;
  message: string;
}

/** The file meta of the seed: each file's rank (1 = most popular) and size. */
export interface VodMeta {
  ranks: Map<string, number>;
  sizes: Map<string, number>;
  issues: MetaIssue[];
}

export const GRADE_FILE = '.grade.info';
export const HITCOUNT_FILE = '.hitcount.history';

/**
 * Reads records of tab-separated fields, one per line. A line whose first character is `#` is a comment, and so is
 * a field starting with `#` and everything after it. Blank lines are skipped.
 */
function* records(text: string): Generator<{ line: number; fields: string[] }> {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) continue;
    const fields = raw.split('\t');
    const comment = fields.findIndex((f, j) => j > 0 && f.trimStart().startsWith('#'));
    yield { line: i + 1, fields: (comment === -1 ? fields : fields.slice(0, comment)).map((f, j) => (j === 0 ? f : f.trim())) };
  }
}

const wholeNumber = (s: string | undefined) => (s !== undefined && /^\d{1,15}$/.test(s) ? Number(s) : null);

/** `.grade.info`: `<filename>\t<rank>`. Bad lines are reported and skipped; the first record of a name wins. */
export function parseGradeInfo(text: string, out: VodMeta): void {
  for (const { line, fields } of records(text)) {
    const [name, rankText] = fields;
    const rank = wholeNumber(rankText);
    const issue = (message: string) => out.issues.push({ file: GRADE_FILE, line, message });
    if (fields.length !== 2) issue(`expected 2 tab-separated fields (file, rank), got ${fields.length}`);
    else if (!isSafeFileName(name!)) issue(`"${name}" is not a plain file name`);
    else if (rank === null || rank < 1) issue(`rank "${rankText}" is not a whole number of at least 1`);
    else if (out.ranks.has(name!)) issue(`duplicate record for ${name}; the first one is kept`);
    else out.ranks.set(name!, rank);
  }
}

/** `.hitcount.history`: `<filename>\t<sizeBytes>\t<hits>`. */
export function parseHitcountHistory(text: string, out: VodMeta): void {
  for (const { line, fields } of records(text)) {
    const [name, sizeText, hitsText] = fields;
    const size = wholeNumber(sizeText);
    const issue = (message: string) => out.issues.push({ file: HITCOUNT_FILE, line, message });
    if (fields.length !== 3) issue(`expected 3 tab-separated fields (file, size, hits), got ${fields.length}`);
    else if (!isSafeFileName(name!)) issue(`"${name}" is not a plain file name`);
    else if (size === null) issue(`size "${sizeText}" is not a whole number of bytes`);
    else if (wholeNumber(hitsText) === null) issue(`hits "${hitsText}" is not a whole number`);
    else if (out.sizes.has(name!)) issue(`duplicate record for ${name}; the first one is kept`);
    else out.sizes.set(name!, size);
  }
}

export function emptyMeta(): VodMeta {
  return { ranks: new Map(), sizes: new Map(), issues: [] };
}

/**
 * Loads the meta folder. A missing or unreadable file is an issue, never fatal: placement goes on with what it has.
 * The result is cached until either file's modification time or size changes.
 */
export class MetaLoader {
  private cached: { key: string; meta: VodMeta } | null = null;
  constructor(private readonly dir: string) {}

  async load(): Promise<VodMeta> {
    const paths = [join(this.dir, GRADE_FILE), join(this.dir, HITCOUNT_FILE)];
    const stats = await Promise.all(paths.map((p) => stat(p).catch(() => null)));
    const key = stats.map((s) => (s ? `${s.mtimeMs}:${s.size}` : '-')).join('|');
    if (this.cached?.key === key) return this.cached.meta;
    const meta = emptyMeta();
    const [grade, hits] = await Promise.all(paths.map((p) => readFile(p, 'utf8').catch((err: NodeJS.ErrnoException) => err)));
    if (typeof grade === 'string') parseGradeInfo(grade, meta);
    else meta.issues.push({ file: GRADE_FILE, line: 0, message: `cannot read: ${grade!.code ?? grade!.message}` });
    if (typeof hits === 'string') parseHitcountHistory(hits, meta);
    else meta.issues.push({ file: HITCOUNT_FILE, line: 0, message: `cannot read: ${hits!.code ?? hits!.message}` });
    this.cached = { key, meta };
    return meta;
  }
}
