/**
 * Imported first by the command line, before anything touches the file system: every fsync, write and
 * file open waits in libuv's thread pool, whose default of 4 threads let 4 associations' fsyncs queue
 * behind each other (measured: 202 inst/s with 4, 294 with 16 over 4 associations). With more threads
 * concurrent fsyncs reach the disk together and share its journal commits. UV_THREADPOOL_SIZE, when set,
 * is left as it is. This only helps where nothing used the pool before this module ran: `npm start` sets
 * the variable itself, since a loader such as tsx reads files through the pool first.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
