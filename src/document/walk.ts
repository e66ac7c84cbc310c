/**
 * The tree walk sops uses for encryption, decryption and the MAC: documents in order,
 * mapping items in order, depth first; the path holds mapping keys only (sequence
 * indices are not part of it); a stack of the comments seen since the last value at
 * each level feeds the comment-based selection rules.
 */
import { InvalidDocumentError } from '../errors.js';
import { Comment, TreeBranch, type TreeValue } from './tree.js';

/** Called for every leaf (scalar or comment); returns the replacement. Nulls are not visited. */
export type LeafVisitor = (value: TreeValue, path: readonly string[], comments: readonly string[][]) => TreeValue;

export function walkDocuments(documents: TreeBranch[], visit: LeafVisitor): TreeBranch[] {
  return documents.map((doc) => walkBranch(doc, [], [], visit));
}

function walkValue(value: TreeValue, path: string[], comments: string[][], visit: LeafVisitor): TreeValue {
  if (value === null) return null;
  if (value instanceof TreeBranch) return walkBranch(value, path, comments, visit);
  if (Array.isArray(value)) return walkSequence(value, path, comments, visit);
  return visit(value, path, comments);
}

function walkSequence(items: TreeValue[], path: string[], outer: string[][], visit: LeafVisitor): TreeValue[] {
  const comments = [...outer, []];
  const level = comments.length - 1;
  return items.map((item) => {
    if (item instanceof Comment) comments[level] = [...comments[level], item.value];
    const out = walkValue(item, path, comments, visit);
    if (!(item instanceof Comment)) comments[level] = [];
    return out;
  });
}

function walkBranch(branch: TreeBranch, path: string[], outer: string[][], visit: LeafVisitor): TreeBranch {
  const comments = [...outer, []];
  const level = comments.length - 1;
  const items = branch.items.map((item) => {
    if (item.key instanceof Comment) {
      comments[level] = [...comments[level], item.key.value];
      const out = visit(item.key, path, comments);
      return { key: out instanceof Comment ? out : new Comment(String(out), item.key.inline), value: item.value };
    }
    if (typeof item.key !== 'string') {
      throw new InvalidDocumentError(`the document contains a non-string key (${typeof item.key})`, 'only string keys are supported; quote the key');
    }
    const out = walkValue(item.value, [...path, item.key], comments, visit);
    comments[level] = [];
    return { key: item.key, value: out };
  });
  return new TreeBranch(items);
}

/** The AAD of a value at `path`: the keys joined by `:`, with a trailing `:`. */
export function pathToAad(path: readonly string[]): string {
  return path.join(':') + ':';
}

/** A readable path for messages: `stringData.password`. Keys only, never values. */
export function describePath(path: readonly string[]): string {
  return path.length === 0 ? '(document root)' : path.join('.');
}
