/** Retries `check` until it passes or `ms` have gone by (then throws its last failure). */
export async function eventually(check: () => unknown | Promise<unknown>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
