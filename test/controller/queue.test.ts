/**
 * The work queue: dedup, one worker per key, the concurrency bound, backoff growth, cap
 * and reset by outcome, resync and shutdown. Backoff runs on a fake clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue, type Clock, type WorkOutcome } from '../../controller/queue.js';

/** Timers fire only when the test advances time. */
class FakeClock implements Clock {
  time = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.time + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Delays of the pending timers, for asserting the backoff scheduled. */
  pendingDelays(): number[] {
    return [...this.timers.values()].map((t) => t.at - this.time);
  }
  advance(ms: number): void {
    this.time += ms;
    for (const [id, timer] of [...this.timers].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at > this.time) continue;
      this.timers.delete(id);
      timer.fn();
    }
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('a key added several times while queued runs once', async () => {
  const runs: string[] = [];
  const slow = deferred();
  // One worker, busy on "a", so that "b" stays queued while it is added again.
  const queue = new WorkQueue({
    concurrency: 1,
    handler: async (key) => {
      runs.push(key);
      if (key === 'ns/a') await slow.promise;
    },
  });
  queue.add('ns/a');
  queue.add('ns/b');
  queue.add('ns/b');
  queue.add('ns/b');
  assert.equal(queue.depth, 1);
  slow.resolve();
  await queue.onIdle();
  assert.deepEqual(runs, ['ns/a', 'ns/b']);
  await queue.shutdown();
});

test('a paused queue takes keys in and runs none until resume(); then each runs once', async () => {
  const runs: string[] = [];
  const queue = new WorkQueue({ concurrency: 2, paused: true, handler: async (key) => void runs.push(key) });
  queue.add('ns/a');
  queue.add('ns/b');
  queue.add('ns/a');
  let idle = false;
  void queue.onIdle().then(() => (idle = true));
  await tick();
  await tick();
  assert.deepEqual(runs, []);
  assert.equal(queue.depth, 2);
  assert.equal(idle, false, 'queued keys keep a paused queue busy');
  queue.resume();
  await queue.onIdle();
  assert.deepEqual(runs, ['ns/a', 'ns/b']);
  assert.equal(queue.isPaused, false);
  queue.resume();
  await queue.shutdown();
});

test('one worker per key: a key added while running runs again afterwards, never concurrently', async () => {
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  const gates = [deferred(), deferred()];
  const queue = new WorkQueue({
    concurrency: 4,
    handler: async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await gates[runs++].promise;
      active--;
    },
  });
  queue.add('ns/a');
  await tick();
  queue.add('ns/a');
  queue.add('ns/a');
  await tick();
  assert.equal(queue.inFlight, 1);
  gates[0].resolve();
  await tick();
  await tick();
  assert.equal(runs, 2, 'the dirty key ran again');
  gates[1].resolve();
  await queue.onIdle();
  assert.equal(runs, 2, 'three adds while running collapse into one re-run');
  assert.equal(maxActive, 1);
  await queue.shutdown();
});

test('concurrency bound: never more than N keys at once, all keys done', async () => {
  let active = 0;
  let maxActive = 0;
  const done: string[] = [];
  const queue = new WorkQueue({
    concurrency: 3,
    handler: async (key) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 2));
      active--;
      done.push(key);
    },
  });
  for (let i = 0; i < 20; i++) queue.add(`ns/s${i}`);
  await queue.onIdle();
  assert.equal(maxActive, 3);
  assert.equal(done.length, 20);
  await queue.shutdown();
});

test('transient failures back off exponentially to the cap; success resets; adds during backoff are ignored', async () => {
  const clock = new FakeClock();
  const outcomes: WorkOutcome[] = ['transient', 'transient', 'transient', 'transient', 'transient', 'success', 'transient'];
  let runs = 0;
  const queue = new WorkQueue({ clock, random: () => 0, backoff: { baseMs: 1000, maxMs: 5000, jitter: 0.2 }, handler: async () => outcomes[runs++] });
  queue.add('ns/a');
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    await queue.onIdle();
    assert.equal(queue.failureCount('ns/a'), i + 1);
    delays.push(...clock.pendingDelays());
    queue.add('ns/a'); // a watch event (our own status write): must not bypass the backoff
    await tick();
    assert.equal(runs, i + 1);
    clock.advance(clock.pendingDelays()[0]);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 5000, 5000]);
  await queue.onIdle();
  assert.equal(runs, 6);
  assert.equal(queue.failureCount('ns/a'), 0, 'success resets the backoff');
  assert.deepEqual(clock.pendingDelays(), []);
  queue.add('ns/a');
  await queue.onIdle();
  assert.deepEqual(clock.pendingDelays(), [1000], 'after a reset the backoff starts again from the base');
  await queue.shutdown();
});

test('jitter shortens the delay by at most the jitter fraction, never beyond the cap', () => {
  const low = new WorkQueue({ random: () => 0.999, backoff: { baseMs: 1000, maxMs: 300_000, jitter: 0.2 }, handler: async () => {} });
  const high = new WorkQueue({ random: () => 0, backoff: { baseMs: 1000, maxMs: 300_000, jitter: 0.2 }, handler: async () => {} });
  assert.equal(high.delayFor(1), 1000);
  assert.equal(low.delayFor(1), 800);
  assert.equal(high.delayFor(30), 300_000);
  assert.equal(high.delayFor(10_000), 300_000);
});

test('permanent outcome and classified throws: permanent is not retried, a thrown API error backs off', async () => {
  const clock = new FakeClock();
  const errors: string[] = [];
  const queue = new WorkQueue({
    clock,
    random: () => 0,
    classify: (error) => ((error as { code?: number }).code === 422 ? 'permanent' : 'transient'),
    onError: (key) => errors.push(key),
    handler: async (key) => {
      if (key === 'ns/perm') return 'permanent';
      throw Object.assign(new Error('api'), { code: key === 'ns/invalid' ? 422 : 409 });
    },
  });
  queue.add('ns/perm');
  queue.add('ns/invalid');
  queue.add('ns/conflict');
  await queue.onIdle();
  assert.deepEqual(errors.sort(), ['ns/conflict', 'ns/invalid']);
  assert.equal(queue.failureCount('ns/perm'), 0);
  assert.equal(queue.failureCount('ns/invalid'), 0);
  assert.equal(queue.failureCount('ns/conflict'), 1);
  assert.deepEqual(clock.pendingDelays(), [1000], 'only the transient key waits for a retry');
  // The object changed: forget cancels the wait and the key runs at once.
  queue.forget('ns/conflict');
  assert.deepEqual(clock.pendingDelays(), []);
  await queue.shutdown();
});

test('resync hook runs periodically and stops at shutdown', async () => {
  const clock = new FakeClock();
  let resyncs = 0;
  const queue = new WorkQueue({ clock, resyncMs: 60_000, onResync: () => resyncs++, handler: async () => {} });
  clock.advance(60_000);
  clock.advance(60_000);
  assert.equal(resyncs, 2);
  await queue.shutdown();
  clock.advance(60_000);
  assert.equal(resyncs, 2);
});

test('shutdown waits for in-flight work, drops queued keys, cancels retries, refuses new keys', async () => {
  const clock = new FakeClock();
  const gate = deferred();
  const runs: string[] = [];
  let finished = false;
  const queue = new WorkQueue({
    clock,
    concurrency: 1,
    handler: async (key) => {
      runs.push(key);
      if (key === 'ns/a') {
        await gate.promise;
        finished = true;
        return 'transient';
      }
    },
  });
  queue.add('ns/a');
  queue.add('ns/b');
  await tick();
  let stopped = false;
  const stopping = queue.shutdown().then(() => (stopped = true));
  await tick();
  assert.equal(stopped, false, 'shutdown returned before in-flight work finished');
  gate.resolve();
  await stopping;
  assert.equal(finished, true);
  assert.deepEqual(runs, ['ns/a'], 'queued keys are dropped at shutdown');
  assert.deepEqual(clock.pendingDelays(), [], 'no retry is scheduled after shutdown');
  queue.add('ns/c');
  await tick();
  assert.deepEqual(runs, ['ns/a']);
});
