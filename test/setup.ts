/** Tests keep the log to warnings and errors; a test that reads log lines installs its own (captureLogs). */
import { configureLogging } from '../src/ops/logger.js';

configureLogging({ level: 'warn', format: 'pretty' });
