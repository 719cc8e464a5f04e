/**
 * The cheap first gates of chat:send, in this process's memory, so that a flood costs no database
 * work: a sliding window per user (the database stays the authority across processes for messages
 * that pass), and a cap of events a second per socket.
 */
export class SendWindow {
  private readonly recent = new Map<number, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {
    // Forget idle users now and then, so the map stays as small as the set of active senders.
    setInterval(() => {
      const cutoff = Date.now() - this.windowMs;
      for (const [userId, times] of this.recent) if ((times.at(-1) ?? 0) <= cutoff) this.recent.delete(userId);
    }, windowMs).unref();
  }

  /** True (and counted) when the user is under the limit in this process. */
  tryTake(userId: number, now = Date.now()): boolean {
    const cutoff = now - this.windowMs;
    const times = (this.recent.get(userId) ?? []).filter((t) => t > cutoff);
    if (times.length >= this.limit) {
      this.recent.set(userId, times);
      return false;
    }
    times.push(now);
    this.recent.set(userId, times);
    return true;
  }
}

/** Counts a socket's events per second; `over` once it passes the cap within the current second. */
export class EventRate {
  private second = 0;
  private count = 0;

  constructor(private readonly perSecond: number) {}

  over(now = Date.now()): boolean {
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      this.count = 0;
    }
    this.count += 1;
    return this.count > this.perSecond;
  }
}
