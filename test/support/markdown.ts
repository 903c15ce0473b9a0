/**
 * Just enough Markdown reading for the tests that hold the docs to the code: headings, links and
 * tables, outside fenced code blocks (a `# comment` in a shell block is not a heading).
 */

/** The lines of `text` outside fenced code blocks (``` or ~~~), with their 1-based line numbers. */
export function proseLines(text: string): { line: number; text: string }[] {
  const lines: { line: number; text: string }[] = [];
  let fence: string | undefined;
  text.split('\n').forEach((content, index) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(content)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      return;
    }
    if (fence === undefined) lines.push({ line: index + 1, text: content });
  });
  return lines;
}

/**
 * The anchor GitHub gives a heading: lowercase, Markdown punctuation and every character that is not a
 * letter, digit, space, `-` or `_` dropped, spaces turned into `-`. Link targets keep their text.
 */
export function githubSlug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor the headings of `text` define; a repeated heading gets `-1`, `-2`, … as on GitHub. */
export function headingAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text: line } of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = githubSlug(heading);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** The targets of the inline links (`[text](target)`, images too) outside code, with their lines. */
export function linkTargets(text: string): { line: number; target: string }[] {
  return proseLines(text).flatMap(({ line, text: content }) =>
    [...content.replace(/`[^`]*`/g, '').matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map(
      (match) => ({
        line,
        target: match[1]!,
      }),
    ),
  );
}

/**
 * The body rows of the table whose header row's first cell is `firstHeader`, each as its cells
 * (trimmed, `\|` kept as `|`).
 */
export function tableRows(text: string, firstHeader: string): string[][] {
  const cells = (row: string) =>
    row
      .trim()
      .replace(/^\||\|$/g, '')
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim().replace(/\\\|/g, '|'));
  const lines = proseLines(text).map((entry) => entry.text);
  const start = lines.findIndex((line) => line.startsWith('|') && cells(line)[0] === firstHeader);
  if (start < 0) throw new Error(`no table whose first column is headed "${firstHeader}"`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(cells(line));
  }
  return rows;
}
