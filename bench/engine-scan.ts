/**
 * The service's data path in-process, stage by stage, on a config written by bench/scan.py
 * (`.venv/bin/python bench/scan.py --write-config DIR`):
 *   1. DuckDB only: the compiled query, every chunk fetched, no value touched;
 *   2. + conversion to Arrow record batches (engine/duckdb/, engine/arrow.ts);
 *   3. + Arrow IPC stream bytes (apache-arrow's RecordBatchStreamWriter, as http/arrow-sink.ts).
 *
 *   node bench/run.mjs engine-scan --config DIR [--user analyst] [--filter "..."] [--indicators] [--runs 5]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { RecordBatchStreamWriter } from 'apache-arrow';
import { compileRead } from '../src/service/access/read';
import { MAX_BUFFER } from '../src/service/engine/duckdb';
import { principalFrom } from '../src/service/identity/verify';
import { decide } from '../src/service/policy/decide';
import { parseExpression } from '../src/service/policy/parse';
import { WardenService } from '../src/service/service';
import { summarise, table } from './stats';

/** CPU seconds of this process's main (JavaScript) thread so far, from /proc (Linux). */
function mainThreadCpu(): number {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      dataset: { type: 'string', default: 'bench.trial' },
      user: { type: 'string', default: 'analyst' },
      filter: { type: 'string' },
      runs: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      stages: { type: 'string', default: 'duckdb,arrow,ipc' },
      'print-sql': { type: 'boolean', default: false },
      // What the Python client asks for: cell-masked cells withheld as NULL, with indicator columns.
      indicators: { type: 'boolean', default: false }
    }
  });
  if (!values.config) throw new Error('--config DIR is required (bench/scan.py --write-config DIR)');
  // No token is verified here, but the service wants its secret at start.
  process.env.WARDEN_JWT_SECRET ??= 'x'.repeat(32);
  const service = await WardenService.start(values.config, { info: () => undefined, error: message => console.error(message) });
  const who = principalFrom({ sub: values.user }, service.config.directory, []);
  const { catalog, policies } = service.enforcement;
  const dataset = catalog.get(values.dataset!);
  const decision = dataset && decide(who, dataset.facts, policies);
  if (!dataset || !decision?.allowed) throw new Error(`${values.user} cannot read ${values.dataset}`);
  const plan = { ...(values.filter ? { filter: parseExpression(values.filter) } : {}), indicators: values.indicators };
  const compiled = compileRead(dataset, decision, plan, service.enforcement.maskKeys(dataset.config.name));
  if (values['print-sql']) {
    console.log(JSON.stringify({ sql: compiled.sql, params: compiled.params }));
    await service.close();
    return;
  }
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  const stages = values.stages!.split(',');

  // DUCKDB_OPTIONS='{"threads":"4"}' tries instance options on the DuckDB-only stage.
  const instance = await DuckDBInstance.create(':memory:', JSON.parse(process.env.DUCKDB_OPTIONS ?? '{}'));
  const rows: (string | number)[][] = [];
  const measure = async (label: string, fn: () => Promise<[number, number]>) => {
    const samples: number[] = [];
    const cpu: number[] = [];
    const mainCpu: number[] = [];
    let result: [number, number] = [0, 0];
    for (let i = 0; i < warmup + runs; i++) {
      const started = performance.now();
      const cpuStarted = process.cpuUsage();
      const mainStarted = mainThreadCpu();
      result = await fn();
      if (i >= warmup) {
        samples.push(performance.now() - started);
        const used = process.cpuUsage(cpuStarted);
        cpu.push((used.user + used.system) / 1000);
        mainCpu.push((mainThreadCpu() - mainStarted) * 1000);
      }
    }
    const timing = summarise(samples);
    const cpuTiming = summarise(cpu);
    const mainTiming = summarise(mainCpu);
    rows.push([label, result[0].toLocaleString('en'), result[1] ? `${(result[1] / 1e6).toFixed(0)} MB` : '', `${(timing.median / 1000).toFixed(2)} s`, `${(timing.p95 / 1000).toFixed(2)} s`, `${(cpuTiming.median / 1000).toFixed(2)} s`, `${(mainTiming.median / 1000).toFixed(2)} s`, result[1] ? `${(result[1] / 1e3 / timing.median).toFixed(0)} MB/s` : '']);
  };

  if (stages.includes('duckdb')) {
    await measure('DuckDB: fetch every chunk, touch nothing', async () => {
      const connection = await instance.connect();
      // The largest buffer engine/duckdb/open-stream.ts gives a scan (DUCKDB_INIT tries other settings).
      await connection.run(process.env.DUCKDB_INIT ?? `SET streaming_buffer_size = '${MAX_BUFFER}B'`);
      const result = await connection.stream(compiled.sql, compiled.params);
      let count = 0;
      for (;;) {
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        count += chunk.rowCount;
      }
      connection.closeSync();
      return [count, 0];
    });
  }
  if (stages.includes('arrow')) {
    await measure('+ Arrow record batches (engine.stream)', async () => {
      const result = await dataset.engine.stream(compiled, new Map());
      let count = 0;
      for await (const batch of result.batches) count += batch.numRows;
      return [count, 0];
    });
  }
  if (stages.includes('ipc')) {
    await measure('+ Arrow IPC bytes (RecordBatchStreamWriter)', async () => {
      const result = await dataset.engine.stream(compiled, new Map());
      const writer = new RecordBatchStreamWriter();
      let count = 0;
      let bytes = 0;
      const drain = (async () => {
        for await (const chunk of writer) bytes += chunk.byteLength;
      })();
      writer.reset(undefined, result.schema);
      for await (const batch of result.batches) {
        count += batch.numRows;
        writer.write(batch);
        await new Promise(resolve => setImmediate(resolve));
      }
      writer.close();
      await drain;
      return [count, bytes];
    });
  }
  const status = readFileSync('/proc/self/status', 'utf8');
  console.log(`peak RSS of this process ${Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]) / 1024)} MB`);
  console.log(`${values.dataset} as ${values.user}${values.filter ? ` with filter ${values.filter}` : ''}: ${runs} runs after ${warmup} warm-up`);
  console.log(table(['stage', 'rows', 'bytes', 'median', 'p95', 'CPU, all threads', 'CPU, JS thread', 'rate'], rows));
  instance.closeSync();
  await service.close();
}

void main().catch(error => {
  console.error(error);
  process.exit(1);
});
