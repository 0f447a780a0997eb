/**
 * The wait between a loop's passes, which `wake()` cuts short: a loop's stop() wakes it, so the
 * loop sees it is stopping at once instead of after the rest of its wait.
 */
export class WakeableSleep {
  private wakeUp: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  wake(): void {
    this.wakeUp?.();
  }
}
