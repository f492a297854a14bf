/** The longest time the event loop answered nothing (a 5 ms timer's gaps) while `work` ran. */
export async function longestStall<T>(work: () => Promise<T>): Promise<{ value: T; stallMs: number; wallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 5);
  const started = performance.now();
  try {
    const value = await work();
    const wallMs = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { value, stallMs, wallMs };
  } finally {
    clearInterval(timer);
  }
}
