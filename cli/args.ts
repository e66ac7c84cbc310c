/**
 * A small declarative layer over Node's built-in `util.parseArgs`: commands with
 * positional arguments, options, `--help` text and examples. It replaces a CLI framework
 * because loading one (and the modules it pulls in) cost a fifth of a cold `wax decrypt`.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../src/errors.js';

export interface OptionSpec {
  /** `-i, --in-place`, `--age <recipients>`, `--no-fifo` (commander's notation). */
  flags: string;
  description: string;
  /** Repeatable: the values are collected into a list. */
  multiple?: boolean;
  choices?: string[];
  default?: string;
}

export type CommandFunction = (...args: never[]) => Promise<number>;

export interface CommandSpec {
  name: string;
  /** `<file>` (required), `[value]` (optional), `[files...]` / `<files...>` (variadic). */
  args: string[];
  /** How the arguments read in the help, when `args` alone would not say it. */
  usage?: string;
  description: string;
  options: OptionSpec[];
  example: string;
  load: () => Promise<CommandFunction>;
  /** The exit code of every failure, a bad flag included, for commands whose codes are a fixed protocol. */
  failureExitCode?: number;
}

interface ParsedFlag {
  key: string;
  long: string;
  short?: string;
  takesValue: boolean;
  negated: boolean;
}

function parseFlags(flags: string): ParsedFlag {
  const m = /^(?:-(\w), )?--([\w-]+)(?: <[^>]+>)?$/.exec(flags);
  if (!m) throw new Error(`bad option spec ${flags}`);
  const long = m[2];
  const negated = long.startsWith('no-');
  const key = camelCase(negated ? long.slice(3) : long);
  return { key, long, short: m[1], takesValue: flags.includes('<'), negated };
}

function camelCase(text: string): string {
  return text.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
}

const HELP: OptionSpec = { flags: '-h, --help', description: 'show this help' };

/** Parses `argv` for one command: the positional values in order, then the options object. */
export function parseCommand(spec: CommandSpec, argv: string[]): { help: boolean; args: unknown[] } {
  const flags = [...spec.options, HELP].map((o) => ({ spec: o, flag: parseFlags(o.flags) }));
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const { spec: o, flag } of flags) {
    // parseArgs rejects properties that are present but undefined.
    options[flag.long] = { type: flag.takesValue ? 'string' : 'boolean' };
    if (flag.short) options[flag.long].short = flag.short;
    if (o.multiple) options[flag.long].multiple = true;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(describeParseError(error), `see \`wax ${spec.name} --help\``);
  }
  if (parsed.values.help) return { help: true, args: [] };
  const values: Record<string, unknown> = {};
  for (const { spec: o, flag } of flags) {
    if (flag.long === 'help') continue;
    const value = parsed.values[flag.long];
    if (flag.negated) values[flag.key] = value === undefined;
    else if (value !== undefined) values[flag.key] = value;
    else if (o.default !== undefined) values[flag.key] = o.default;
    if (o.choices && typeof value === 'string' && !o.choices.includes(value)) {
      throw new UsageError(`--${flag.long} must be one of ${o.choices.join(', ')}`, `see \`wax ${spec.name} --help\``);
    }
  }
  return { help: false, args: [...positionals(spec, parsed.positionals), values] };
}

function describeParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // parseArgs' messages name the option only; keep their first sentence.
  return message.split('. ')[0].replace(/^Unknown option/, 'unknown option').replace(/^Option/, 'option');
}

function positionals(spec: CommandSpec, given: string[]): unknown[] {
  const out: unknown[] = [];
  let index = 0;
  for (const arg of spec.args) {
    const name = arg.slice(1, -1).replace('...', '');
    if (arg.endsWith('...>') || arg.endsWith('...]')) {
      const rest = given.slice(index);
      if (arg.startsWith('<') && rest.length === 0) throw new UsageError(`missing argument ${name}`, `see \`wax ${spec.name} --help\``);
      out.push(rest);
      index = given.length;
      continue;
    }
    if (index >= given.length) {
      if (arg.startsWith('<')) throw new UsageError(`missing argument ${name}`, `see \`wax ${spec.name} --help\``);
      out.push(undefined);
      continue;
    }
    out.push(given[index++]);
  }
  if (index < given.length) throw new UsageError(`too many arguments for ${spec.name}`, `see \`wax ${spec.name} --help\``);
  return out;
}

export function commandHelp(spec: CommandSpec): string {
  const rows = [...spec.options, HELP].map((o) => {
    const extra = o.choices ? ` (${o.choices.join(', ')})` : o.default !== undefined ? ` (default ${o.default})` : '';
    return [`  ${o.flags.startsWith('--') ? '    ' : ''}${o.flags}`, `${o.description}${extra}`];
  });
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return [
    `Usage: wax ${spec.name} [options] ${spec.usage ?? spec.args.join(' ')}`.trimEnd(),
    '',
    spec.description,
    '',
    'Options:',
    ...rows.map(([f, d]) => f.padEnd(width) + d),
    '',
    'Example:',
    spec.example,
    '',
  ].join('\n');
}

export function programHelp(commands: CommandSpec[], summary: string): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 4;
  return [
    'Usage: wax <command> [options]',
    '',
    summary,
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.description}`),
    '',
    'Run `wax <command> --help` for the options of a command, with an example.',
    '',
  ].join('\n');
}

/** The closest command name, for "did you mean". */
export function suggest(name: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of names) {
    const d = distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}
