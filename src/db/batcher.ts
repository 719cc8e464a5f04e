/**
 * Many small writes that arrive together, as one statement: items queued within `delayMs` of the
 * first (or until `maxSize`) go to `run` at once, and each caller gets its own answer. A crowd of
 * sockets connecting costs one round trip and one commit per batch instead of one per socket; a lone
 * connect waits at most `delayMs` more. With `delayMs` 0 a batch is whatever asked in the same turn of
 * the event loop (flushed by setImmediate: no added wait, and a busy server batches by itself). A
 * failed batch fails every caller in it.
 */
export class Batcher<In, Out> {
  private queue: { item: In; resolve: (out: Out) => void; reject: (err: unknown) => void }[] = [];
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly run: (items: In[]) => Promise<Out[]>,
    private readonly options: { delayMs: number; maxSize: number },
  ) {}

  add(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.options.maxSize) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        if (this.options.delayMs > 0) this.timer = setTimeout(() => this.flush(), this.options.delayMs);
        else setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (!batch.length) return;
    this.run(batch.map((b) => b.item)).then(
      (outs) => batch.forEach((b, i) => b.resolve(outs[i]!)),
      (err: unknown) => batch.forEach((b) => b.reject(err)),
    );
  }
}

/**
 * One read shared by everyone who asks within `delayMs`: it starts after the last of them asked, so
 * each gets an answer at least as fresh as its own question (never a read that was already under way).
 */
export function sharedRead<T>(read: () => Promise<T>, delayMs = 2): () => Promise<T> {
  const batcher = new Batcher<null, T>(
    async (items) => {
      const result = await read();
      return items.map(() => result);
    },
    { delayMs, maxSize: Number.POSITIVE_INFINITY },
  );
  return () => batcher.add(null);
}
