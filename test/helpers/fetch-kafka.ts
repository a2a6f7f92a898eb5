/**
 * Fetches Kafka's jars into their cache folder (test/helpers/kafka.ts), so that .ci/run can do it early, in
 * the background: `node --import tsx test/helpers/fetch-kafka.ts`. Prints the folder.
 */
import { ensureKafka } from './kafka.js';

process.stdout.write(`${await ensureKafka()}\n`);
