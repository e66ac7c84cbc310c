import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bytesToStr,
  formatGoFloat,
  looksLikeTimestamp,
  normaliseGoTime,
  parseScalar,
  scalarToBytes,
  scalarToString,
  typeOf,
} from '../../src/crypto/scalars.js';
import { Comment, SopsTime, TreeBranch } from '../../src/document/tree.js';

test('formatGoFloat: never an exponent, shortest digits (strconv.FormatFloat f -1 64)', () => {
  const cases: [number, string][] = [
    [1e21, '1000000000000000000000'],
    [1e-7, '0.0000001'],
    [1.5e-7, '0.00000015'],
    [-1e-7, '-0.0000001'],
    [3.14, '3.14'],
    [30, '30'],
    [1234568000, '1234568000'],
    [0.1 + 0.2, '0.30000000000000004'],
    [123456789012345680000, '123456789012345680000'],
    [1e22, '10000000000000000000000'],
    [-2.5e25, '-25000000000000000000000000'],
    [5e-324, `0.${'0'.repeat(323)}5`],
    [0, '0'],
    [0.000001, '0.000001'],
  ];
  for (const [v, want] of cases) assert.equal(formatGoFloat(v), want, `formatGoFloat(${v})`);
});

test('formatGoFloat: 1.5e300 is 15 followed by 299 zeros', () => {
  const s = formatGoFloat(1.5e300);
  assert.equal(s, '15' + '0'.repeat(299));
  assert.equal(s.length, 301);
  assert.equal(Number(s), 1.5e300);
});

test('formatGoFloat: -0, NaN and infinities as Go prints them', () => {
  assert.equal(formatGoFloat(-0), '-0');
  assert.equal(formatGoFloat(NaN), 'NaN');
  assert.equal(formatGoFloat(Infinity), '+Inf');
  assert.equal(formatGoFloat(-Infinity), '-Inf');
});

test('scalarToString / scalarToBytes: Go serialisation of every type', () => {
  assert.equal(scalarToString('héllo'), 'héllo');
  assert.equal(scalarToString(42n), '42');
  assert.equal(scalarToString(-7n), '-7');
  assert.equal(scalarToString(9223372036854775807n), '9223372036854775807');
  assert.equal(scalarToString(1), '1');
  assert.equal(scalarToString(1e21), '1000000000000000000000');
  assert.equal(scalarToString(true), 'True');
  assert.equal(scalarToString(false), 'False');
  assert.equal(scalarToString(new SopsTime('2024-01-02T03:04:05Z')), '2024-01-02T03:04:05Z');
  assert.equal(scalarToString(new Comment(' note')), ' note');
  assert.deepEqual(scalarToBytes('é'), Buffer.from([0xc3, 0xa9]));
  const raw = new Uint8Array([0xff, 0x00, 0xfe]);
  assert.deepEqual(scalarToBytes(raw), Buffer.from([0xff, 0x00, 0xfe]));
  // A view into a larger buffer serialises only its own bytes.
  const view = new Uint8Array([1, 2, 3, 4]).subarray(1, 3);
  assert.deepEqual(scalarToBytes(view), Buffer.from([2, 3]));
});

test('typeOf: the type tag of each tree scalar', () => {
  assert.equal(typeOf('x'), 'str');
  assert.equal(typeOf(new Uint8Array([1])), 'str');
  assert.equal(typeOf(1n), 'int');
  assert.equal(typeOf(1.5), 'float');
  assert.equal(typeOf(false), 'bool');
  assert.equal(typeOf(new SopsTime('2024-01-02T00:00:00Z')), 'time');
  assert.equal(typeOf(new Comment('c')), 'comment');
  assert.throws(() => typeOf(null), TypeError);
  assert.throws(() => typeOf(new TreeBranch()), TypeError);
  assert.throws(() => typeOf([]), TypeError);
});

test('bytesToStr: valid UTF-8 is text, anything else stays bytes', () => {
  assert.equal(bytesToStr(Buffer.from('héllo', 'utf8')), 'héllo');
  const raw = bytesToStr(Buffer.from([0xff, 0xfe, 0x41]));
  assert.ok(raw instanceof Uint8Array);
  assert.deepEqual([...(raw as Uint8Array)], [0xff, 0xfe, 0x41]);
});

test('parseScalar: str and bytes are kept verbatim', () => {
  assert.equal(parseScalar(' spaced ', 'str'), ' spaced ');
  assert.equal(parseScalar('True', 'str'), 'True');
  assert.equal(parseScalar('raw', 'bytes'), 'raw');
});

test('parseScalar: int is a bigint (strconv.Atoi syntax)', () => {
  assert.equal(parseScalar('42', 'int'), 42n);
  assert.equal(parseScalar('-7', 'int'), -7n);
  assert.equal(parseScalar('+5', 'int'), 5n);
  assert.equal(parseScalar('9223372036854775807', 'int'), 9223372036854775807n);
  for (const bad of ['', '1.5', '1e3', '0x10', ' 1', 'one', '1_000']) assert.equal(parseScalar(bad, 'int'), undefined, bad);
});

test('parseScalar: float (strconv.ParseFloat) incl. Go specials', () => {
  assert.equal(parseScalar('3.14', 'float'), 3.14);
  assert.equal(parseScalar('1000000000000000000000', 'float'), 1e21);
  assert.equal(parseScalar('0.0000001', 'float'), 1e-7);
  assert.equal(parseScalar('1e3', 'float'), 1000);
  assert.equal(parseScalar('7', 'float'), 7);
  assert.ok(Object.is(parseScalar('-0', 'float'), -0));
  assert.ok(Number.isNaN(parseScalar('NaN', 'float') as number));
  assert.equal(parseScalar('+Inf', 'float'), Infinity);
  assert.equal(parseScalar('-Inf', 'float'), -Infinity);
  for (const bad of ['', 'abc', '1.2.3', '--1', '1e']) assert.equal(parseScalar(bad, 'float'), undefined, bad);
});

test('parseScalar: float text round-trips formatGoFloat', () => {
  for (const v of [0.1, 1e21, 1e-7, 1.5e300, -123.456, 5e-324, 2 ** 53 + 2]) {
    assert.equal(parseScalar(formatGoFloat(v), 'float'), v);
  }
});

test('parseScalar: bool accepts exactly what strconv.ParseBool accepts', () => {
  for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) assert.equal(parseScalar(t, 'bool'), true, t);
  for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) assert.equal(parseScalar(f, 'bool'), false, f);
  for (const bad of ['', 'yes', 'no', 'tRUE', 'True ', 'on', '2', 'y']) assert.equal(parseScalar(bad, 'bool'), undefined, bad);
});

test('parseScalar: time is normalised to MarshalText form', () => {
  const t = parseScalar('2024-01-02T03:04:05Z', 'time');
  assert.ok(t instanceof SopsTime);
  assert.equal(t.text, '2024-01-02T03:04:05Z');
  const withOffset = parseScalar('2006-01-02T15:04:05.500+07:06', 'time');
  assert.ok(withOffset instanceof SopsTime);
  assert.equal(withOffset.text, '2006-01-02T15:04:05.5+07:06');
  assert.equal(parseScalar('not a time', 'time'), undefined);
  assert.equal(parseScalar('2024-13-01T00:00:00Z', 'time'), undefined);
});

test('parseScalar: comment and unknown types', () => {
  const c = parseScalar(' hello', 'comment');
  assert.ok(c instanceof Comment);
  assert.equal(c.value, ' hello');
  assert.equal(parseScalar('x', 'unknown'), undefined);
  assert.equal(parseScalar('x', ''), undefined);
  assert.equal(parseScalar('x', 'STR'), undefined);
});

test('normaliseGoTime: date only is midnight UTC', () => {
  assert.equal(normaliseGoTime('2024-01-02'), '2024-01-02T00:00:00Z');
  // go-yaml's layout 2006-1-2 takes one-digit month and day.
  assert.equal(normaliseGoTime('2024-1-2'), '2024-01-02T00:00:00Z');
});

test('normaliseGoTime: offsets are kept, a zero offset is Z', () => {
  assert.equal(normaliseGoTime('2006-01-02T15:04:05+07:06'), '2006-01-02T15:04:05+07:06');
  assert.equal(normaliseGoTime('2006-01-02T15:04:05-05:00'), '2006-01-02T15:04:05-05:00');
  assert.equal(normaliseGoTime('2006-01-02T15:04:05+00:00'), '2006-01-02T15:04:05Z');
  assert.equal(normaliseGoTime('2006-01-02T15:04:05-00:00'), '2006-01-02T15:04:05Z');
  assert.equal(normaliseGoTime('2006-01-02T15:04:05Z'), '2006-01-02T15:04:05Z');
  assert.equal(normaliseGoTime('2001-12-14t21:59:43.10-05:00'), '2001-12-14T21:59:43.1-05:00');
});

test('normaliseGoTime: fraction trimmed of trailing zeros, cut at nanoseconds', () => {
  assert.equal(normaliseGoTime('2006-01-02T15:04:05.000Z'), '2006-01-02T15:04:05Z');
  assert.equal(normaliseGoTime('2006-01-02T15:04:05.120Z'), '2006-01-02T15:04:05.12Z');
  assert.equal(normaliseGoTime('2006-01-02T15:04:05.123456789Z'), '2006-01-02T15:04:05.123456789Z');
  assert.equal(normaliseGoTime('2006-01-02T15:04:05.1234567891Z'), '2006-01-02T15:04:05.123456789Z');
});

test('normaliseGoTime: the space form has no zone and is UTC', () => {
  assert.equal(normaliseGoTime('2006-01-02 15:04:05'), '2006-01-02T15:04:05Z');
  assert.equal(normaliseGoTime('2006-01-02 15:04:05.5'), '2006-01-02T15:04:05.5Z');
  assert.equal(normaliseGoTime('2006-1-2 1:4:5'), '2006-01-02T01:04:05Z');
});

test('normaliseGoTime: what go-yaml does not read as a timestamp is undefined', () => {
  const notTimes = [
    '2001-12-14T21:59:43', // T form needs a zone
    '2001-12-14 21:59:43.10 -5', // the space form takes no zone
    '2006-01-02T15:04:05+0700', // offset needs a colon
    '2024-13-01', // month out of range
    '2023-02-29', // not a leap year
    '2024-04-31',
    '2006-01-02T24:00:00Z',
    '2006-01-02T15:60:00Z',
    '2006-01-02T15:04:60Z',
    '12024-01-01',
    '24-01-01',
    '2024-01-02x',
    '2024-01-02T',
    'x2024-01-02',
    '2024/01/02',
    '',
  ];
  for (const text of notTimes) {
    assert.equal(normaliseGoTime(text), undefined, text);
    assert.equal(looksLikeTimestamp(text), false, text);
  }
  assert.equal(normaliseGoTime('2024-02-29'), '2024-02-29T00:00:00Z');
});

test('looksLikeTimestamp: true exactly for go-yaml timestamps', () => {
  for (const text of ['2024-01-02', '2006-01-02T15:04:05Z', '2006-01-02t15:04:05+01:00', '2006-01-02 15:04:05']) {
    assert.equal(looksLikeTimestamp(text), true, text);
  }
  for (const text of ['hello', '2024', '1.0', '2024-01-02 ', ' 2024-01-02']) assert.equal(looksLikeTimestamp(text), false, JSON.stringify(text));
});
