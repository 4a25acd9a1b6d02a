// Fault and latency machinery shared by the HTTP stand-ins (the SMTP stand-in has its own dialogue-level faults).
// One Faults instance belongs to one stand-in; route names are that stand-in's (e.g. 'token', 'variables-patch').

export type Fault =
  /** Answer with this status instead of running the handler (e.g. 429/503 with a Retry-After header). */
  | {
      kind: 'status';
      status: number;
      /** A string is sent as is; anything else is sent as JSON. */
      body?: unknown;
      headers?: Record<string, string>;
      /** Defaults to application/json for non-string bodies, text/plain for strings. */
      contentType?: string;
    }
  /** Slow response: wait, then answer normally. */
  | { kind: 'delay'; ms: number }
  /**
   * Destroy the socket. `after: true` runs the handler first (its side effects happen, e.g. a token is
   * rotated) and then drops the answer, which is the case where a client must not lose state.
   */
  | { kind: 'reset'; after?: boolean }
  /** An HTML page where JSON was expected (captive portal, gateway error page). Status defaults to 200. */
  | { kind: 'html'; status?: number }
  /** The handler runs, but the client receives only the first half of its body (with a matching Content-Length). */
  | { kind: 'truncated' }
  /** Never answer; the request stays open until the client gives up or the stand-in closes. */
  | { kind: 'hang' };

export interface RouteStats {
  /** Requests received (including faulted ones). */
  count: number;
  /** Requests currently being handled. */
  inFlight: number;
  /** Highest inFlight seen since the last resetStats(). */
  maxInFlight: number;
  /** Requests answered by an injected fault instead of (or in addition to) the handler. */
  faulted: number;
}

/** Matches every route; consulted after the route's own queue. */
export const ANY_ROUTE = '*';

export class Faults {
  /** Fixed delay added to every exchange; may be changed while the stand-in runs. */
  latencyMs: number;
  private readonly queues = new Map<string, Fault[]>();
  private readonly routeStats = new Map<string, RouteStats>();

  constructor(opts: { latencyMs?: number } = {}) {
    this.latencyMs = opts.latencyMs ?? 0;
  }

  /** Queue `fault` for the next `times` requests of `route` ('*' for any route). Faults are served in injection order. */
  inject(route: string, fault: Fault, times = 1): void {
    const queue = this.queues.get(route) ?? [];
    for (let i = 0; i < times; i++) queue.push(fault);
    this.queues.set(route, queue);
  }

  /** Drop queued faults of one route, or of all routes. */
  clear(route?: string): void {
    if (route === undefined) this.queues.clear();
    else this.queues.delete(route);
  }

  /** Faults still queued for `route` (not counting '*'). */
  pending(route: string): number {
    return this.queues.get(route)?.length ?? 0;
  }

  /** Removes and returns the fault the next request of `route` must get, if any. */
  take(route: string): Fault | undefined {
    const own = this.queues.get(route);
    if (own && own.length > 0) return own.shift();
    const any = this.queues.get(ANY_ROUTE);
    if (any && any.length > 0) return any.shift();
    return undefined;
  }

  /** Marks a request of `route` as started; call the returned function (idempotent) when it is finished. */
  enter(route: string): () => void {
    const s = this.statsOf(route);
    s.count++;
    s.inFlight++;
    if (s.inFlight > s.maxInFlight) s.maxInFlight = s.inFlight;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      s.inFlight--;
    };
  }

  noteFaulted(route: string): void {
    this.statsOf(route).faulted++;
  }

  count(route: string): number {
    return this.routeStats.get(route)?.count ?? 0;
  }

  inFlight(route: string): number {
    return this.routeStats.get(route)?.inFlight ?? 0;
  }

  maxInFlight(route: string): number {
    return this.routeStats.get(route)?.maxInFlight ?? 0;
  }

  /** A snapshot of every route seen so far. */
  stats(): Record<string, RouteStats> {
    const out: Record<string, RouteStats> = {};
    for (const [route, s] of this.routeStats) out[route] = { ...s };
    return out;
  }

  /** Zero the counters (requests still in flight keep being tracked). */
  resetStats(): void {
    for (const s of this.routeStats.values()) {
      s.count = 0;
      s.faulted = 0;
      s.maxInFlight = s.inFlight;
    }
  }

  private statsOf(route: string): RouteStats {
    let s = this.routeStats.get(route);
    if (!s) {
      s = { count: 0, inFlight: 0, maxInFlight: 0, faulted: 0 };
      this.routeStats.set(route, s);
    }
    return s;
  }
}

export function sleep(ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A page like the ones proxies and gateways put in front of JSON APIs. */
export function htmlFaultPage(status: number): string {
  const title = status >= 500 ? `${status} Service Unavailable` : 'Sign in to continue';
  return (
    `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>` +
    `<body><h1>${title}</h1><p>The upstream service could not be reached. Please try again later.</p></body></html>\n`
  );
}

/** What every HTTP stand-in exposes of its faults: the queue itself, a shortcut to inject and the latency (read/write). */
export interface FaultControls {
  faults: Faults;
  /** Fixed delay added to every exchange ({@link Faults.latencyMs}); may be changed while the stand-in runs. */
  latencyMs: number;
  inject: Faults['inject'];
}

/**
 * Adds the fault controls to a stand-in's handle. Defined as properties rather than spread, because `latencyMs` must stay
 * an accessor of the one Faults instance (a spread would copy its value once).
 */
export function withFaultControls<T extends FaultControls>(faults: Faults, standin: Omit<T, keyof FaultControls>): T {
  return Object.defineProperties(standin, {
    faults: { value: faults, writable: true, enumerable: true, configurable: true },
    inject: { value: faults.inject.bind(faults), writable: true, enumerable: true, configurable: true },
    latencyMs: {
      get: () => faults.latencyMs,
      set: (ms: number) => {
        faults.latencyMs = ms;
      },
      enumerable: true,
      configurable: true,
    },
  }) as T;
}
