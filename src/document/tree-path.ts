/**
 * sops tree paths, `["key"]["nested"][0]`, used by `--extract`, `set` and `unset`.
 */
import { TreePathError } from '../errors.js';
import { Comment, TreeBranch, type TreeValue } from './tree.js';

export type PathComponent = string | number;

const COMPONENT = /^\[\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\d+))\s*\]/;

export function parseTreePath(text: string): PathComponent[] {
  const out: PathComponent[] = [];
  let rest = text.trim();
  while (rest.length > 0) {
    const m = COMPONENT.exec(rest);
    if (!m) throw new TreePathError(`invalid tree path ${JSON.stringify(text)}`);
    if (m[3] !== undefined) out.push(Number(m[3]));
    else out.push(unescape(m[1] ?? m[2]));
    rest = rest.slice(m[0].length).trimStart();
  }
  if (out.length === 0) throw new TreePathError('the tree path is empty');
  return out;
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}

export function formatTreePath(path: PathComponent[]): string {
  return path.map((c) => (typeof c === 'number' ? `[${c}]` : `[${JSON.stringify(c)}]`)).join('');
}

/** Values of a sequence without the comments standing between them. */
function elements(list: TreeValue[]): number[] {
  return list.map((v, i) => (v instanceof Comment ? -1 : i)).filter((i) => i >= 0);
}

/** The value at `path`; throws TreePathError naming the missing component. */
export function getAtPath(root: TreeValue, path: PathComponent[]): TreeValue {
  let current = root;
  path.forEach((component, depth) => {
    const where = formatTreePath(path.slice(0, depth + 1));
    if (typeof component === 'string') {
      if (!(current instanceof TreeBranch) || !current.has(component)) throw new TreePathError(`${where} not found`);
      current = current.get(component)!;
    } else {
      if (!Array.isArray(current)) throw new TreePathError(`${where}: not a list`);
      const index = elements(current)[component];
      if (index === undefined) throw new TreePathError(`${where} is out of range`);
      current = current[index];
    }
  });
  return current;
}

/**
 * Sets the value at `path`, creating missing mappings on the way (as sops does); a list
 * index may address an existing element or the next one (append). Returns whether the
 * tree changed.
 */
export function setAtPath(root: TreeBranch, path: PathComponent[], value: TreeValue): void {
  let current: TreeValue = root;
  for (let depth = 0; depth < path.length; depth++) {
    const component = path[depth];
    const last = depth === path.length - 1;
    const where = formatTreePath(path.slice(0, depth + 1));
    if (typeof component === 'string') {
      if (!(current instanceof TreeBranch)) throw new TreePathError(`${where}: the parent is not a mapping`);
      if (last) {
        current.set(component, value);
        return;
      }
      if (!current.has(component) || current.get(component) === null) current.set(component, typeof path[depth + 1] === 'number' ? [] : new TreeBranch());
      current = current.get(component)!;
    } else {
      if (!Array.isArray(current)) throw new TreePathError(`${where}: the parent is not a list`);
      const indexes = elements(current);
      if (component > indexes.length) throw new TreePathError(`${where} is out of range`);
      if (component === indexes.length) {
        current.push(last ? value : typeof path[depth + 1] === 'number' ? [] : new TreeBranch());
        if (last) return;
        current = current[current.length - 1];
        continue;
      }
      if (last) {
        current[indexes[component]] = value;
        return;
      }
      current = current[indexes[component]];
    }
  }
}

/** Removes the key or element at `path`; returns false if it was not there. */
export function unsetAtPath(root: TreeBranch, path: PathComponent[]): boolean {
  let parent: TreeValue;
  try {
    parent = path.length === 1 ? root : getAtPath(root, path.slice(0, -1));
  } catch (error) {
    if (error instanceof TreePathError) return false;
    throw error;
  }
  const last = path[path.length - 1];
  if (typeof last === 'string') return parent instanceof TreeBranch ? parent.delete(last) : false;
  if (!Array.isArray(parent)) return false;
  const index = elements(parent)[last];
  if (index === undefined) return false;
  parent.splice(index, 1);
  return true;
}
