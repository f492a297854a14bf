// Group commit: work items that arrive while a batch is being written wait, and the next batch takes
// them all, so a burst pays the database's round trips once per batch instead of once per item. No
// timer: an item that finds nothing in progress starts at once; under load batches grow by themselves.

/** Submits one item; resolves with its own result once the batch that took it has been written. */
export type GroupCommit<I, O> = (item: I) => Promise<O>;

/**
 * `write` gets the items in arrival order and returns one result per item, in the same order; if it
 * throws, every item of that batch fails with the error (nothing of it is half written: `write` owns
 * its transaction). At most `max` items per batch.
 */
export function createGroupCommit<I, O>(write: (items: I[]) => Promise<O[]>, max = 64): GroupCommit<I, O> {
  const waiting: { item: I; resolve: (out: O) => void; reject: (error: unknown) => void }[] = [];
  let writing = false;

  const drain = async () => {
    writing = true;
    while (waiting.length > 0) {
      const batch = waiting.splice(0, max);
      try {
        const results = await write(batch.map((entry) => entry.item));
        if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} gave ${results.length} results`);
        batch.forEach((entry, i) => entry.resolve(results[i]));
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    writing = false;
  };

  return (item) =>
    new Promise<O>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      if (!writing) void drain();
    });
}
