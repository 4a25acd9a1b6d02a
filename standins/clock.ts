// A stand-in's notion of "now". Tests move it forward to reach expiries that take days (90-day refresh
// token inactivity, 24 h IMS tokens) without waiting; real time keeps flowing underneath.
export class Clock {
  private offsetMs = 0;

  now(): number {
    return Date.now() + this.offsetMs;
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }
}
