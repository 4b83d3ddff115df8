// Returns the kiosk to "insert card" after a spell without input. Any key, click or touch restarts the count.

export class IdleTimer {
  private handle: ReturnType<typeof setTimeout> | null = null;
  private armed = false;

  constructor(
    private timeoutMs: number,
    private readonly onIdle: () => void,
  ) {}

  /** Changes the timeout (from the kiosk's configuration). */
  setLimit(ms: number): void {
    this.timeoutMs = ms;
  }

  /** Starts counting (a visit began). */
  arm(): void {
    this.armed = true;
    this.reset();
  }

  /** Stops counting (no visit). */
  disarm(): void {
    this.armed = false;
    if (this.handle !== null) clearTimeout(this.handle);
    this.handle = null;
  }

  /** Activity: counts again from zero, if armed. */
  reset(): void {
    if (!this.armed) return;
    if (this.handle !== null) clearTimeout(this.handle);
    this.handle = setTimeout(() => {
      this.armed = false;
      this.handle = null;
      this.onIdle();
    }, this.timeoutMs);
  }

  get isArmed(): boolean {
    return this.armed;
  }

  /** Listens to the document's input events. */
  listen(doc: Document): void {
    for (const ev of ['keydown', 'pointerdown', 'wheel', 'input']) doc.addEventListener(ev, () => this.reset(), true);
  }
}
