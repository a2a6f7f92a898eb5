/**
 * Under `npm start` the engine is npm's child: npm passes SIGTERM on, but when npm itself is killed
 * (SIGKILL, or a supervisor that signals only the process it started) the engine would be left running,
 * still serving, with nobody to stop it. It notices that its parent went away and stops itself.
 */
export function stopWithParent(stop: (reason: string) => void, intervalMs = 1000): void {
  if (process.env.npm_lifecycle_event !== 'start') return;
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop(`the parent process ${parent} (npm) exited`);
  }, intervalMs).unref();
}
