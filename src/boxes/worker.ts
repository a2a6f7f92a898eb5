/**
 * The active side of a PUSH box: one loop pushes our outgoing images to the remote, another polls the
 * remote's queue and pulls its images into our pipeline. Both work in batches with bounded parallelism,
 * read what to do from the state store (so a restart resumes where it was), and back off exponentially on
 * transient failures.
 */
import type { BoxRow } from './store.js';
import { SluiceError } from '../errors.js';
import type { BoxService } from './service.js';
import {
  deflateStream,
  describeAnswer,
  discard,
  parsePollAnswer,
  type BoxHttpClient,
  type HttpAnswer,
  type RemoteTransactionImage,
} from './wire.js';
import { logger } from '../ops/logger.js';

const log = logger('boxes');

/** A local problem that is not known to be permanent (not a network one) fails the image after this many tries. */
const LOCAL_ATTEMPTS = 5;

/** Answers a receiver gives for a file it will never take: the image FAILS with the reason. */
const REFUSED = new Set([400, 413, 415, 422]);

/** A sleep that `wake()` cuts short and `stop()` ends. */
class Nap {
  private wakeUp: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
      this.timer = setTimeout(resolve, Math.max(0, ms));
    });
  }
  wake(): void {
    clearTimeout(this.timer);
    this.wakeUp?.();
  }
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(lanes);
}

export class BoxWorker {
  private stopped = false;
  private readonly pushNap = new Nap();
  private readonly pollNap = new Nap();
  private loops: Promise<void>[] = [];
  private pollFailures = 0;
  private lastProblem = '';

  constructor(
    private readonly box: BoxRow,
    private readonly service: BoxService,
    private readonly client: BoxHttpClient,
  ) {}

  start(): void {
    this.loops = [this.run('push', () => this.pushRound()), this.run('poll', () => this.pollRound())];
  }

  /** New work (a send, an attached pipeline): look now rather than at the next interval. */
  wake(): void {
    this.pushNap.wake();
    this.pollNap.wake();
  }

  /** Ends both loops; requests in flight are aborted (their images stay WAITING, to be sent again). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    this.client.close();
    await Promise.all(this.loops);
  }

  private get t() {
    return this.service.timings;
  }

  private backoff(attempts: number): number {
    const exp = Math.min(this.t.retryMaxMs, this.t.retryBaseMs * 2 ** Math.min(attempts, 30));
    return Math.round(exp * (0.5 + Math.random() / 2));
  }

  /** Logs a problem once, not at every retry; a different problem or a recovery logs again. */
  private report(problem: string | undefined): void {
    const text = problem ?? '';
    if (text === this.lastProblem) return;
    this.lastProblem = text;
    if (problem)
      log.warn({ box: this.box.id, boxName: this.box.name, problem }, 'box unreachable or refusing');
    else log.info({ box: this.box.id, boxName: this.box.name }, 'box connected');
  }

  private async run(name: string, round: () => Promise<number>): Promise<void> {
    const nap = name === 'push' ? this.pushNap : this.pollNap;
    while (!this.stopped) {
      let wait: number;
      try {
        wait = await round();
      } catch (err) {
        if (this.stopped) break;
        log.error({ box: this.box.id, boxName: this.box.name, loop: name, err }, 'box round failed');
        wait = this.t.pollIntervalMs;
      }
      if (wait > 0 && !this.stopped) await nap.sleep(wait);
    }
  }

  // ------------------------------------------------------------------------------------------ push

  /** One push batch; answers how long to wait before the next. */
  private async pushRound(): Promise<number> {
    const { store } = this.service;
    await this.notifyRemoteStatuses();
    // Taken (their transactions PROCESSING) in one step, as the serving side hands them out.
    const batch = await store.takeOutgoingImages(this.box.id, this.t.batchSize, this.service.now());
    if (!batch.length) {
      const next = await store.nextOutgoingAttemptAt(this.box.id);
      if (next === undefined) return this.t.pollIntervalMs;
      return Math.min(this.t.pollIntervalMs, Math.max(1, next - this.service.now()));
    }
    await forEachLimit(batch, this.t.parallelism, async ({ transaction, image }) => {
      if (this.stopped) return;
      await this.pushOne(transaction, image);
    });
    return 0;
  }

  private async pushOne(
    transaction: { id: number; totalImageCount: number; profile: string[] },
    image: { id: number; imageId: number; sequenceNumber: number; attempts: number },
  ): Promise<void> {
    const { store } = this.service;
    let bytes: readonly Buffer[];
    try {
      bytes = await this.service.anonymizedImage(
        image.imageId,
        transaction.profile,
        await store.outgoingTagValues(image.id),
        this.box.id,
      );
    } catch (err) {
      const message = (err as Error).message;
      const permanent = err instanceof SluiceError && err.httpStatus === 404;
      if (permanent || image.attempts + 1 >= LOCAL_ATTEMPTS)
        await store.markOutgoingFailed(image.id, message, this.service.now());
      else await this.defer(image, message);
      return;
    }
    const url =
      `${this.box.baseUrl}/image?transactionid=${transaction.id}` +
      `&sequencenumber=${image.sequenceNumber}&totalimagecount=${transaction.totalImageCount}`;
    let answer: HttpAnswer;
    try {
      answer = await this.client.send(url, {
        method: 'POST',
        body: deflateStream(bytes),
        contentType: 'application/octet-stream',
      });
    } catch (err) {
      if (!this.stopped) await this.defer(image, `cannot reach ${this.box.name}: ${(err as Error).message}`);
      return;
    }
    if (answer.status >= 200 && answer.status < 300) {
      discard(answer);
      await store.markOutgoingSent(image.id, this.service.now());
    } else if (REFUSED.has(answer.status)) {
      const reason = await describeAnswer(answer);
      await store.markOutgoingFailed(image.id, `refused by ${this.box.name}: ${reason}`, this.service.now());
    } else await this.defer(image, `${this.box.name} answered ${await describeAnswer(answer)}`);
  }

  private async defer(image: { id: number; attempts: number }, message: string): Promise<void> {
    const now = this.service.now();
    await this.service.store.deferOutgoing(image.id, message, now + this.backoff(image.attempts), now);
  }

  /** Tells the remote how finished transactions ended (PUT status); retried until it has heard. */
  private async notifyRemoteStatuses(): Promise<void> {
    for (const transaction of await this.service.store.outgoingAwaitingRemoteStatus(this.box.id)) {
      if (this.stopped) return;
      try {
        const answer = await this.client.send(`${this.box.baseUrl}/status?transactionid=${transaction.id}`, {
          method: 'PUT',
          body: JSON.stringify({ status: transaction.status }),
          contentType: 'application/json',
        });
        discard(answer);
        // 404: the remote never saw an image of it (all failed here); there is nothing to tell.
        if ((answer.status >= 200 && answer.status < 300) || answer.status === 404)
          await this.service.store.clearRemoteStatusPending(transaction.id);
      } catch {
        return; // unreachable: the next round tries again
      }
    }
  }

  // ------------------------------------------------------------------------------------------ poll

  /** One poll batch; answers how long to wait before the next. */
  private async pollRound(): Promise<number> {
    const { store } = this.service;
    if (!this.service.receiver.attached) {
      // Nothing could take the remote's images: only see whether it is there (and knows our token).
      const ok = await this.client
        .send(`${this.box.baseUrl}/status?transactionid=0`, { method: 'GET' })
        .then((answer) => (discard(answer), answer.status !== 401 && answer.status < 500))
        .catch(() => false);
      if (!this.stopped) await store.recordPoll(this.box.id, ok, this.service.now());
      return this.t.pollIntervalMs;
    }
    let items: RemoteTransactionImage[];
    try {
      items = await this.pollRemote();
      await store.recordPoll(this.box.id, true, this.service.now());
      this.pollFailures = 0;
      this.report(undefined);
    } catch (err) {
      if (this.stopped) return 0;
      await store.recordPoll(this.box.id, false, this.service.now());
      this.report(`poll failed: ${(err as Error).message}`);
      return this.backoff(this.pollFailures++);
    }
    if (!items.length) return this.t.pollIntervalMs;
    let transient = 0;
    const failed = (item: RemoteTransactionImage) => (err: unknown) => {
      if (this.stopped) return;
      transient++;
      this.report(`image ${item.image.id} of transaction ${item.transaction.id}: ${(err as Error).message}`);
    };
    // `done` is told while the lane fetches the next image: if it is lost, the remote offers the image
    // again, and it is found received here and told again.
    const telling: Promise<void>[] = [];
    await forEachLimit(items, this.t.parallelism, async (item) => {
      if (this.stopped) return;
      try {
        const tell = await this.pullOne(item);
        telling.push(tell().catch(failed(item)));
      } catch (err) {
        failed(item)(err);
      }
    });
    await Promise.all(telling);
    return transient ? this.backoff(this.pollFailures++) : 0;
  }

  private async pollRemote(): Promise<RemoteTransactionImage[]> {
    const answer = await this.client.send(`${this.box.baseUrl}/outgoing/poll?n=${this.t.batchSize}`, {
      method: 'GET',
    });
    if (answer.status === 404) {
      discard(answer);
      return [];
    }
    if (answer.status !== 200) throw new Error(await describeAnswer(answer));
    const text = await answerTextAll(answer);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error('poll answer is not JSON');
    }
    return parsePollAnswer(json);
  }

  /** Fetches one image into the pipeline; answers how to tell the remote (done, or failed with the reason). */
  private async pullOne(item: RemoteTransactionImage): Promise<() => Promise<void>> {
    const { store } = this.service;
    const transaction = await store.ensureIncomingTransaction(
      this.box,
      item.transaction.id,
      item.transaction.totalImageCount,
      this.service.now(),
    );
    const prior = await store.incomingImage(transaction.id, item.image.sequenceNumber);
    if (prior?.status === 'FAILED') return () => this.tell('failed', item, prior.message ?? 'refused');
    if (prior?.status !== 'RECEIVED') {
      const answer = await this.client.send(
        `${this.box.baseUrl}/outgoing?transactionid=${item.transaction.id}&imageid=${item.image.id}`,
        { method: 'GET' },
      );
      if (answer.status >= 400 && answer.status < 500) {
        const reason = await describeAnswer(answer);
        await store.recordIncomingImage(
          {
            incomingTransactionId: transaction.id,
            sequenceNumber: item.image.sequenceNumber,
            imageId: null,
            added: false,
            status: 'FAILED',
            message: `${this.box.name} could not send it: ${reason}`,
          },
          this.service.now(),
        );
        return () => this.tell('failed', item, reason);
      }
      if (answer.status !== 200) throw new Error(await describeAnswer(answer));
      const receipt = await this.service.receiver.receive(
        this.box,
        transaction,
        item.image.sequenceNumber,
        answer.response,
      );
      if (receipt.kind === 'failed') return () => this.tell('failed', item, receipt.error.message);
    }
    return () => this.tell('done', item);
  }

  private async tell(what: 'done' | 'failed', item: RemoteTransactionImage, message?: string): Promise<void> {
    const body =
      what === 'done'
        ? JSON.stringify(item.raw)
        : JSON.stringify({ transactionImage: item.raw, message: message ?? '' });
    const answer = await this.client.send(`${this.box.baseUrl}/outgoing/${what}`, {
      method: 'POST',
      body,
      contentType: 'application/json',
    });
    if (answer.status < 200 || answer.status >= 300)
      throw new Error(`outgoing/${what}: ${await describeAnswer(answer)}`);
    discard(answer);
  }
}

async function answerTextAll(answer: HttpAnswer): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of answer.response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
