/**
 * What the connections of one SCP share, so that no peer can take more than its part: association slots
 * (counted once an association is accepted), handshake slots (connections that have not completed an
 * A-ASSOCIATE-RQ yet, which are cheap to open and must not crowd out real senders), and the bytes of
 * received datasets held in memory (past the budget they spill to landing files instead).
 */
export class ScpLimits {
  private associations = 0;
  private handshakes = 0;
  private held = 0;

  constructor(
    readonly maxAssociations: number,
    readonly maxHandshakes: number,
    readonly maxHeldBytes: number,
  ) {}

  /** A new connection; false when too many are still handshaking (it is closed at once). */
  openHandshake(): boolean {
    if (this.handshakes >= this.maxHandshakes) return false;
    this.handshakes++;
    return true;
  }

  closeHandshake(): void {
    this.handshakes--;
  }

  get associationsFull(): boolean {
    return this.associations >= this.maxAssociations;
  }

  /** A handshake that became an association. */
  openAssociation(): void {
    this.handshakes--;
    this.associations++;
  }

  closeAssociation(): void {
    this.associations--;
  }

  /** Takes `bytes` of the in-memory budget; false (nothing taken) when they do not fit. */
  hold(bytes: number): boolean {
    if (this.held + bytes > this.maxHeldBytes) return false;
    this.held += bytes;
    return true;
  }

  free(bytes: number): void {
    this.held -= bytes;
  }

  get heldBytes(): number {
    return this.held;
  }
}
