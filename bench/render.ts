/**
 * Rendering benchmark: PNG renders per second of 512×512 CT instances through Sluice's API
 * (`GET /api/images/{id}/png`) with several concurrent clients, beside DCMTK `dcm2pnm` converting the same
 * files with as many processes at once, in the same run; and the API's latency for a metadata query
 * (`GET /api/metadata/flatseries`) while rendering runs, against the same query on an idle engine.
 *
 *   npm run bench:render -- [--count 200] [--rounds 3] [--clients 4] [--keep]
 *
 * Both sides apply the file's first VOI window (WindowCenter/Width) and write 8-bit greyscale PNGs of the
 * native size. Rounds alternate which side goes first; figures are medians over rounds.
 */
import { mkdir, mkdtemp, readdir, stat } from 'node:fs/promises';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { newUid } from '../test/fixtures/dicom-fixtures.js';
import { makeImage } from '../test/fixtures/render-fixtures.js';
import { installCleanupHandlers, keepTempDirs, registerTempDir, removeTempDir, run } from './lib/procs.js';
import { sluice } from './lib/receivers.js';
import { median } from './lib/util.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TARGET_RATIO = 1;

const HELP = `usage: npm run bench:render -- [options]
  --count N      instances to generate and render (512x512, 16-bit CT), default 200
  --rounds R     rounds (both sides once per round), default 3
  --clients C    concurrent HTTP clients and concurrent dcm2pnm processes, default 4
  --keep         keep the temp dir (generated files, outputs, Sluice's log)
  --help`;

interface Options {
  count: number;
  rounds: number;
  clients: number;
  keep: boolean;
}

class UsageError extends Error {}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '200' },
      rounds: { type: 'string', default: '3' },
      clients: { type: 'string', default: '4' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const int = (name: string, text: string, min: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}`);
    return n;
  };
  return {
    count: int('count', values.count, 1),
    rounds: int('rounds', values.rounds, 1),
    clients: int('clients', values.clients, 1),
    keep: values.keep,
  };
}

/**
 * A CT-like phantom of 512×512 stored values (RescaleIntercept −1024): air around an elliptic body of soft
 * tissue with noise, a spine of bone; every instance differs a little, as slices do. The noise makes the
 * PNGs compress like real images rather than like flat test patterns.
 */
function phantom(slice: number): Uint16Array {
  const size = 512;
  const pixels = new Uint16Array(size * size);
  let seed = 0x9e3779b9 ^ slice;
  const noise = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return ((seed >>> 0) / 0xffffffff - 0.5) * 60;
  };
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const bx = (x - 256) / (200 + (slice % 20)),
        by = (y - 256) / 150;
      const sx = (x - 256) / 25,
        sy = (y - 330) / 25;
      let hu = -1000;
      if (bx * bx + by * by <= 1) hu = 40 + 30 * Math.sin(x / 17 + slice / 5) + noise();
      if (sx * sx + sy * sy <= 1) hu = 700 + noise();
      pixels[y * size + x] = Math.max(0, Math.round(hu + 1024));
    }
  return pixels;
}

/** Runs `task(i)` for i = 0..n−1 with `concurrency` at a time; answers the elapsed seconds. */
async function timed(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await task(next++);
    }),
  );
  return (performance.now() - started) / 1000;
}

function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Sends the metadata query one after another until `stop` resolves; answers each latency in ms. */
async function probeLatency(base: string, auth: string, stop: Promise<unknown>): Promise<number[]> {
  let done = false;
  void stop.finally(() => (done = true));
  const latencies: number[] = [];
  while (!done) {
    const started = performance.now();
    const r = await fetch(`${base}/api/metadata/flatseries?count=20`, { headers: { authorization: auth } });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`metadata query answered ${r.status}`);
    latencies.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, 10));
  }
  return latencies;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  installCleanupHandlers();
  keepTempDirs(options.keep);
  const root = registerTempDir(await mkdtemp(join(tmpdir(), 'sluice-bench-render-')));
  const filesDir = join(root, 'instances');
  await mkdir(filesDir, { recursive: true });
  const studyInstanceUid = newUid();
  const seriesInstanceUid = newUid();
  const files: string[] = [];
  for (let i = 0; i < options.count; i++) {
    const file = join(filesDir, `${String(i + 1).padStart(6, '0')}.dcm`);
    await writeFile(
      file,
      makeImage({
        rows: 512,
        columns: 512,
        pixels: phantom(i),
        bitsStored: 12,
        studyInstanceUid,
        seriesInstanceUid,
        instanceNumber: i + 1,
        extra: { RescaleIntercept: '-1024', RescaleSlope: '1', WindowCenter: '40', WindowWidth: '400' },
      }),
    );
    files.push(file);
  }
  console.log(
    `generated ${options.count} CT-like instances (512x512, 12 of 16 bits, WindowCenter 40 / Width 400)`,
  );

  const runDir = join(root, 'sluice');
  await mkdir(runDir, { recursive: true });
  const rx = await sluice.start({
    runDir,
    logFile: join(root, 'sluice.log'),
    parallel: true,
    repoRoot: REPO_ROOT,
  });
  try {
    const { base, auth } = rx.http!;
    const store = await run(
      'storescu',
      ['-aet', 'BENCH', '-aec', rx.ae, '127.0.0.1', String(rx.port), '+sd', filesDir],
      {
        env: { ...process.env, TCP_NODELAY: '1' },
      },
    );
    if (store.code !== 0) throw new Error(`storescu failed:\n${store.output}`);
    const query = await fetch(`${base}/api/metadata/images/query`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ startIndex: 0, count: options.count, queryProperties: [] }),
    });
    const ids = ((await query.json()) as Array<{ id: number }>).map((i) => i.id);
    if (ids.length !== options.count)
      throw new Error(`Sluice indexed ${ids.length} of ${options.count} instances`);

    // Images by instance number, so that ids[i] is the image stored from files[i].
    const byNumber = new Map<number, number>();
    for (const id of ids) {
      const r = await fetch(`${base}/api/metadata/images/${id}`, { headers: { authorization: auth } });
      byNumber.set(
        Number(((await r.json()) as { instanceNumber: { value: string } }).instanceNumber.value),
        id,
      );
    }
    const imageIds = files.map((_, i) => byNumber.get(i + 1)!);
    const sluicePngBytes: number[] = [];
    const fetchPng = async (i: number) => {
      const r = await fetch(`${base}/api/images/${imageIds[i]}/png`, { headers: { authorization: auth } });
      const body = Buffer.from(await r.arrayBuffer());
      if (r.status !== 200 || body.toString('latin1', 1, 4) !== 'PNG')
        throw new Error(`PNG of image ${imageIds[i]}: HTTP ${r.status} ${body.toString('utf8', 0, 200)}`);
      return body;
    };
    const renderSluice = async (i: number) => {
      sluicePngBytes.push((await fetchPng(i)).length);
    };
    const outDir = join(root, 'dcm2pnm');
    await mkdir(outDir, { recursive: true });
    const renderDcmtk = async (i: number) => {
      const out = join(outDir, `${i}.png`);
      const r = await run('dcm2pnm', ['+Wi', '1', '+on', files[i], out]);
      if (r.code !== 0) throw new Error(`dcm2pnm ${files[i]}: exit ${r.code}\n${r.output}`);
    };

    // Warm-up: starts the render workers and fills the page cache for both sides.
    await timed(Math.min(8, options.count), options.clients, renderSluice);
    await timed(Math.min(8, options.count), options.clients, renderDcmtk);
    const idle = await probeLatency(base, auth, new Promise((r) => setTimeout(r, 3000)));

    const sluiceRates: number[] = [];
    const dcmtkRates: number[] = [];
    const busyLatencies: number[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      const order = round % 2 ? ['sluice', 'dcm2pnm'] : ['dcm2pnm', 'sluice'];
      for (const side of order) {
        if (side === 'sluice') {
          const rendering = timed(options.count, options.clients, renderSluice);
          const [seconds, latencies] = await Promise.all([rendering, probeLatency(base, auth, rendering)]);
          sluiceRates.push(options.count / seconds);
          busyLatencies.push(...latencies);
        } else {
          dcmtkRates.push(options.count / (await timed(options.count, options.clients, renderDcmtk)));
        }
      }
      console.log(
        `round ${round}: Sluice ${fmt(sluiceRates.at(-1)!)} renders/s, dcm2pnm ${fmt(dcmtkRates.at(-1)!)} renders/s`,
      );
    }
    const pngs = await readdir(outDir);
    const sizes = await Promise.all(pngs.map(async (f) => (await stat(join(outDir, f))).size));
    // Same picture on both sides? The largest difference of a grey level over a few images.
    let maxDiff = 0;
    for (const i of [0, Math.floor(options.count / 2), options.count - 1]) {
      const ours = await sharp(await fetchPng(i))
        .toColourspace('b-w')
        .raw()
        .toBuffer();
      const theirs = await sharp(join(outDir, `${i}.png`))
        .toColourspace('b-w')
        .raw()
        .toBuffer();
      if (ours.length !== theirs.length)
        throw new Error(`image ${i}: Sluice and dcm2pnm PNGs differ in size`);
      for (let k = 0; k < ours.length; k++) maxDiff = Math.max(maxDiff, Math.abs(ours[k] - theirs[k]));
    }

    const ours = median(sluiceRates);
    const theirs = median(dcmtkRates);
    console.log(
      `\n## Results: ${options.count} CT-like instances 512x512, ${options.clients} concurrent clients / processes,` +
        ` median of ${options.rounds} round(s)\n`,
    );
    console.log(
      `Sluice GET /api/images/{id}/png   ${fmt(ours)} renders/s  (rounds: ${sluiceRates.map((r) => fmt(r)).join(', ')})`,
    );
    console.log(
      `DCMTK dcm2pnm +Wi 1 +on           ${fmt(theirs)} renders/s  (rounds: ${dcmtkRates.map((r) => fmt(r)).join(', ')})`,
    );
    console.log(
      `ratio Sluice / dcm2pnm            ${fmt(ours / theirs, 2)}× (target >= ${TARGET_RATIO}: ${ours / theirs >= TARGET_RATIO ? 'MET' : 'NOT MET'})`,
    );
    console.log(
      `GET /api/metadata/flatseries      p99 ${fmt(percentile(busyLatencies, 99))} ms while rendering` +
        ` (p50 ${fmt(percentile(busyLatencies, 50))} ms, ${busyLatencies.length} queries);` +
        ` idle p99 ${fmt(percentile(idle, 99))} ms (p50 ${fmt(percentile(idle, 50))} ms, ${idle.length} queries)`,
    );
    const kib = (bytes: number[]) => fmt(bytes.reduce((a, b) => a + b, 0) / bytes.length / 1024);
    console.log(
      `\nPNGs average ${kib(sluicePngBytes)} KiB from Sluice, ${kib(sizes)} KiB from dcm2pnm;` +
        ` grey levels differ by at most ${maxDiff} between the two on the images compared.` +
        ' dcm2pnm is one process per file (start-up included), as a batch converter is used;' +
        ' Sluice renders in its worker threads (one per core, at most 4) behind HTTP with authentication.',
    );
  } finally {
    await rx.stop();
    if (!options.keep) removeTempDir(root);
  }
}

main().catch((err) => {
  if (err instanceof UsageError) {
    console.error(`${err.message}\n\n${HELP}`);
    process.exit(2);
  }
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
