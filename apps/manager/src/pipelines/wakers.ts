/** Backoff sleeps of runs, by subject: a node's agent connecting (or a run aborted) ends them early. */
export class SubjectWakers {
  private readonly wakers = new Map<string, Set<() => void>>();

  /** Sleeps for `ms`, or less when the subject is woken or `signal` was aborted before. */
  sleep(subject: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.wakers.get(subject)?.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      let set = this.wakers.get(subject);
      if (!set) this.wakers.set(subject, (set = new Set()));
      set.add(done);
    });
  }

  /** Ends the sleeps on `subject`. */
  wake(subject: string): void {
    const set = this.wakers.get(subject);
    if (!set) return;
    this.wakers.delete(subject);
    for (const w of set) w();
  }
}
