/**
 * sluice start | lint <pipeline files…> | schema [out]
 */
import './threadpool.js'; // first: sizes libuv's thread pool before it starts
import { writeFile } from 'node:fs/promises';
import { loadPipelineFile, PipelineFileError } from './pipeline/pipeline-file.js';
import { registry } from './components.js';
import { startSluice } from './main.js';
import { stopWithParent } from './parent-watch.js';
import { loadConfig } from './config.js';
import { SluiceError } from './errors.js';

const USAGE = `usage: sluice <command>
  start                  run the engine (configuration from SLUICE_* environment variables)
  lint <file.yaml>...    check pipeline files without starting anything
  schema [out.json]      write the JSON Schema of pipeline files (default pipelines/pipeline.schema.json)`;

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case 'start': {
      const config = loadConfig();
      const running = await startSluice(config);
      console.log(
        `Sluice ${config.aeTitle}: web UI on http://${config.httpHost}:${running.httpPort}/ (API under /api), DICOM on ${config.dicomHost}:${config.dicomPort}, data in ${config.dataDir}`,
      );
      let stopping = false;
      const shutdown = async (reason: string) => {
        if (stopping) return;
        stopping = true;
        console.log(`${reason}: stopping`);
        try {
          await running.stop();
          process.exit(0);
        } catch (err) {
          console.error(`stopping failed: ${(err as Error).message}`);
          process.exit(1);
        }
      };
      process.once('SIGINT', () => void shutdown('SIGINT'));
      process.once('SIGTERM', () => void shutdown('SIGTERM'));
      process.once('SIGHUP', () => void shutdown('SIGHUP'));
      stopWithParent((reason) => void shutdown(reason));
      return -1;
    }
    case 'lint': {
      if (!args.length) {
        console.error('lint: name at least one pipeline file');
        return 2;
      }
      let failed = 0;
      for (const file of args) {
        try {
          const spec = await loadPipelineFile(file, registry);
          console.log(
            `${file}: ok (pipeline "${spec.name}": ${spec.sources.length} source(s), ${spec.operators.length} operator(s), ${spec.sinks.length} sink(s))`,
          );
        } catch (err) {
          failed++;
          console.error(
            err instanceof PipelineFileError ? err.message : `${file}: ${(err as Error).message}`,
          );
        }
      }
      return failed ? 1 : 0;
    }
    case 'schema': {
      const out = args[0] ?? 'pipelines/pipeline.schema.json';
      await writeFile(out, JSON.stringify(registry.jsonSchema(), null, 2) + '\n');
      console.log(`wrote ${out}`);
      return 0;
    }
    default:
      console.error(USAGE);
      return command ? 2 : 0;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err) => {
    if (err instanceof PipelineFileError || err instanceof SluiceError) console.error(err.message);
    else console.error(err);
    process.exit(1);
  },
);
