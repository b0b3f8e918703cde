// Actions started from an event (a button, a Studio message, a progress
// notification's Cancel) whose promise nobody awaits: a failure is
// reported to the user, never left an unhandled rejection. No VS Code API
// here.

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs action; if it throws or its promise rejects, report gets why. */
export function fire(action: () => unknown, report: (message: string) => void): void {
  let p: unknown;
  try {
    p = action();
  } catch (err) {
    report(errorText(err));
    return;
  }
  Promise.resolve(p).catch((err: unknown) => report(errorText(err)));
}
