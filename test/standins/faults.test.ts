import { describe, expect, it } from 'vitest';
import { Faults, withFaultControls, type FaultControls } from '../../standins/faults.ts';

describe('Faults', () => {
  it('serves queued faults per route in order, `times` each, then the wildcard queue', () => {
    const f = new Faults();
    f.inject('token', { kind: 'status', status: 429 }, 2);
    f.inject('token', { kind: 'reset' });
    f.inject('*', { kind: 'hang' });
    expect(f.pending('token')).toBe(3);
    expect(f.take('token')).toEqual({ kind: 'status', status: 429 });
    expect(f.take('token')?.kind).toBe('status');
    expect(f.take('token')?.kind).toBe('reset');
    expect(f.take('other')?.kind).toBe('hang');
    expect(f.take('token')).toBeUndefined();
    f.inject('a', { kind: 'reset' });
    f.inject('b', { kind: 'reset' });
    f.clear('a');
    expect(f.pending('a')).toBe(0);
    f.clear();
    expect(f.pending('b')).toBe(0);
  });

  it('counts requests and tracks the highest concurrency per route', () => {
    const f = new Faults({ latencyMs: 12 });
    expect(f.latencyMs).toBe(12);
    const leaves = [f.enter('x'), f.enter('x'), f.enter('x')];
    expect(f.inFlight('x')).toBe(3);
    leaves[0]?.();
    leaves[0]?.();
    expect(f.inFlight('x')).toBe(2);
    f.enter('y')();
    expect(f.stats()).toMatchObject({
      x: { count: 3, inFlight: 2, maxInFlight: 3 },
      y: { count: 1, inFlight: 0, maxInFlight: 1 },
    });
    f.resetStats();
    expect(f.count('x')).toBe(0);
    expect(f.maxInFlight('x')).toBe(2);
  });

  it('withFaultControls gives a stand-in handle the shared faults, inject and a latencyMs that writes through', () => {
    const f = new Faults({ latencyMs: 7 });
    const handle = withFaultControls<FaultControls & { url: string }>(f, { url: 'http://x' });
    expect(handle.faults).toBe(f);
    expect(handle.latencyMs).toBe(7);
    handle.latencyMs = 40;
    expect(f.latencyMs).toBe(40);
    f.latencyMs = 3;
    expect(handle.latencyMs).toBe(3);
    handle.inject('token', { kind: 'reset' });
    expect(f.pending('token')).toBe(1);
    expect(Object.keys(handle).sort()).toEqual(['faults', 'inject', 'latencyMs', 'url']);
  });
});
