/** A shared bandwidth cap: a token bucket refilled at `bytesPerSecond`, holding at most one second of tokens. */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  constructor(readonly bytesPerSecond: number) {
    this.tokens = bytesPerSecond;
  }
  /**
   * Takes `n` tokens now, going into debt if there are too few, and says how many milliseconds the caller should
   * wait before it takes more (0: none).
   */
  reserve(n: number): number {
    const now = performance.now();
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.bytesPerSecond) * 1000);
  }
}
