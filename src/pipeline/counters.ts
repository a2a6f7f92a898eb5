/** The same basic counters for every component (as Vector does). */
export interface CounterValues {
  received: number;
  emitted: number;
  dropped: number;
  quarantined: number;
  errors: number;
}

export class Counters implements CounterValues {
  received = 0;
  emitted = 0;
  dropped = 0;
  quarantined = 0;
  errors = 0;
  snapshot(): CounterValues {
    const { received, emitted, dropped, quarantined, errors } = this;
    return { received, emitted, dropped, quarantined, errors };
  }
}
