/**
 * Where things are in one file's text: line boundaries, line and column of an offset, and
 * every occurrence of a marker, each found in one pass on first use and then looked up by
 * binary search. The scan asks these questions once per hit or finding; searching the text
 * again each time would make a long minified line with many hits, or a file of many
 * BEGIN lines without an END, quadratic.
 *
 * Offsets are indices into the JavaScript string (UTF-16 code units). One index serves
 * every step that looks at the same text; it costs nothing until first asked.
 */
export class TextIndex {
  private markers: Map<string, number[]> | undefined;
  constructor(private readonly text: string) {}

  /** Every offset of `marker`, in order, occurrences not overlapping. */
  positions(marker: string): readonly number[] {
    this.markers ??= new Map();
    let found = this.markers.get(marker);
    if (!found) {
      found = [];
      for (let at = this.text.indexOf(marker); at >= 0; at = this.text.indexOf(marker, at + marker.length)) found.push(at);
      this.markers.set(marker, found);
    }
    return found;
  }

  /** The first offset of `marker` at or after `from`, or -1. */
  next(marker: string, from: number): number {
    const found = this.positions(marker);
    const i = firstAtOrAfter(found, from);
    return i < found.length ? found[i]! : -1;
  }

  /** 1-based line and column of `offset`. */
  position(offset: number): { line: number; column: number } {
    const line = firstAtOrAfter(this.positions('\n'), offset) + 1;
    return { line, column: offset - this.lineStart(offset) + 1 };
  }

  /** The offset where the line holding `offset` starts. */
  lineStart(offset: number): number {
    const newlines = this.positions('\n');
    const i = firstAtOrAfter(newlines, offset);
    return i === 0 ? 0 : newlines[i - 1]! + 1;
  }

  /** The offset just past the line holding `offset`: past its `\n`, or the end of the text. */
  lineEnd(offset: number): number {
    const newline = this.next('\n', offset);
    return newline < 0 ? this.text.length : newline + 1;
  }
}

/** The index of the first element of the sorted `positions` that is `>= offset`. */
function firstAtOrAfter(positions: readonly number[], offset: number): number {
  let lo = 0;
  let hi = positions.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (positions[mid]! < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
