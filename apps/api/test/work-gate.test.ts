import { describe, expect, it } from 'vitest';
import { ServiceError } from '../src/service-error';
import { WorkGate } from '../src/work-gate';

/** A piece of work that runs until `finish` is called. */
function held() {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return { work: () => done, finish };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('WorkGate: heavy work takes turns, and the queue for a turn is bounded', () => {
  it('runs `slots` at once; the next waiter starts when one ends, in arrival order', async () => {
    const gate = new WorkGate(2, 4, 'tests');
    const started: number[] = [];
    const jobs = [held(), held(), held(), held()];
    const runs = jobs.map((job, i) =>
      gate.run(async () => {
        started.push(i);
        await job.work();
        return i;
      }),
    );
    await turn();
    expect(started).toEqual([0, 1]);
    jobs[1]?.finish();
    await turn();
    expect(started).toEqual([0, 1, 2]);
    jobs[0]?.finish();
    jobs[2]?.finish();
    jobs[3]?.finish();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
    expect(started).toEqual([0, 1, 2, 3]);
  });

  it('refuses at once (503, Retry-After) when its waiting line is full', async () => {
    const gate = new WorkGate(1, 1, 'tests');
    const first = held();
    const running = gate.run(first.work);
    const waiting = gate.run(async () => 'waited');
    const refused = await gate.run(async () => 'never').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ServiceError);
    expect(refused).toMatchObject({ code: 'service_unavailable', retryAfterSeconds: 1 });
    first.finish();
    await running;
    expect(await waiting).toBe('waited');
  });

  it('a waiter whose deadline passes leaves the line and never runs; a failed work frees its slot', async () => {
    const gate = new WorkGate(1, 4, 'tests');
    const first = held();
    const running = gate.run(first.work);
    const deadline = new AbortController();
    let ran = false;
    const late = gate.run(async () => {
      ran = true;
    }, deadline.signal);
    deadline.abort();
    await expect(late).rejects.toMatchObject({ code: 'service_unavailable' });
    first.finish();
    await running;
    await expect(gate.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await gate.run(async () => 'free')).toBe('free');
    expect(ran).toBe(false);
    // Already past its deadline: refused without waiting.
    await expect(gate.run(async () => 1, deadline.signal)).rejects.toMatchObject({
      code: 'service_unavailable',
    });
  });

  // One merchant asking for six bundles at once made another merchant's evidence answer 503.
  it('takes turns between tenants: the one served least recently goes next, and each has its own line', async () => {
    const gate = new WorkGate(1, 3, 'tests');
    const started: string[] = [];
    const jobs = new Map<string, ReturnType<typeof held>>();
    const ask = (tenant: string, name: string) => {
      const job = held();
      jobs.set(name, job);
      return gate.run(
        async () => {
          started.push(name);
          await job.work();
          return name;
        },
        undefined,
        tenant,
      );
    };
    const a = ['a1', 'a2', 'a3', 'a4'].map((name) => ask('A', name));
    // A's line is full (3 waiting): A is refused, B is not.
    await expect(ask('A', 'a5')).rejects.toMatchObject({ code: 'service_unavailable' });
    const b = ['b1', 'b2'].map((name) => ask('B', name));
    await turn();
    expect(started).toEqual(['a1']);
    for (const name of ['a1', 'b1', 'a2', 'b2', 'a3', 'a4']) {
      jobs.get(name)?.finish();
      await turn();
    }
    expect(started).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'a4']);
    expect(await Promise.all([...a, ...b])).toEqual(['a1', 'a2', 'a3', 'a4', 'b1', 'b2']);
  });

  it('runShared: a request for the same key joins one waiting for its turn, never one running', async () => {
    const gate = new WorkGate(1, 8, 'tests');
    const jobs = [held(), held()];
    let builds = 0;
    const ask = () =>
      gate.runShared('order-1', async () => {
        const job = jobs[builds++] as ReturnType<typeof held>;
        await job.work();
        return builds;
      });
    // The first runs at once; the second waits, and the third and fourth join it.
    const first = ask();
    await turn();
    const waiting = [ask(), ask(), ask()];
    jobs[0]?.finish();
    await turn();
    // It has started: a fifth asks anew (it may have committed after the second read).
    const fifth = ask();
    jobs[1]?.finish();
    jobs.push(held());
    (jobs[2] as ReturnType<typeof held>).finish();
    expect(await first).toBe(1);
    expect(await Promise.all(waiting)).toEqual([2, 2, 2]);
    expect(await fifth).toBe(3);
    expect(builds).toBe(3);
  });

  // Found by a review: joiners got the 503 of the one they joined when its deadline passed.
  it('runShared: when the one joined runs out of time, a joiner with time left waits on', async () => {
    const gate = new WorkGate(1, 8, 'tests');
    const running = held();
    const first = gate.run(running.work);
    const hurried = new AbortController();
    const builds: string[] = [];
    const ask = (deadline: AbortSignal) =>
      gate.runShared(
        'order-1',
        async () => {
          builds.push('built');
          return 'answer';
        },
        deadline,
      );
    const early = ask(hurried.signal);
    const patient = ask(new AbortController().signal);
    hurried.abort();
    await expect(early).rejects.toMatchObject({ code: 'service_unavailable' });
    running.finish();
    await first;
    expect(await patient).toBe('answer');
    expect(builds).toEqual(['built']);
  });
});
