// graphile-worker, the peer of the portal's job queue: the burn-down of JOBS no-op jobs by
// CONCURRENCY workers in one process, then the enqueue -> start lag of single jobs sent to an
// idle worker. MODE "default" uses graphile-worker's defaults; "batched" turns on its local
// queue and batched completion, as its documentation suggests for throughput.
// Prints one line of JSON.
//
//     node bench.js POSTGRES_URL JOBS CONCURRENCY [default|batched]

const { Logger, run, runMigrations } = require("graphile-worker");
const { Pool } = require("pg");

const [url, jobsArg, concurrencyArg, mode = "default"] = process.argv.slice(2);
const JOBS = Number(jobsArg);
const CONCURRENCY = Number(concurrencyArg);
const SINGLES = 500;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function main() {
  await runMigrations({ connectionString: url, logger: new Logger(() => () => {}) });
  const pool = new Pool({ connectionString: url, max: 4 });
  await pool.query("DELETE FROM graphile_worker._private_jobs");

  let done = 0;
  let burnFinished = null;
  const singleStarted = new Map();
  const lags = [];
  const taskList = {
    noop: async (payload) => {
      if (payload && payload.single !== undefined) {
        const sent = singleStarted.get(payload.single);
        if (sent !== undefined) lags.push(performance.now() - sent);
        return;
      }
      done += 1;
      if (done === JOBS) burnFinished = performance.now();
    },
  };

  let started = performance.now();
  await pool.query(
    `SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
       SELECT ROW('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec
       FROM generate_series(1, $1)))`,
    [JOBS],
  );
  const enqueueSeconds = (performance.now() - started) / 1000;

  const options = {
    connectionString: url,
    concurrency: CONCURRENCY,
    maxPoolSize: CONCURRENCY + 2,
    noHandleSignals: true,
    pollInterval: 500,
    taskList,
    // Quiet, as the portal's worker is at its warn level: no line per job.
    logger: new Logger(() => () => {}),
  };
  if (mode === "batched") {
    options.preset = {
      worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
    };
  }
  started = performance.now();
  const runner = await run(options);
  while (burnFinished === null) await sleep(5);
  const burnSeconds = (burnFinished - started) / 1000;

  for (let i = 0; i < SINGLES; i += 1) {
    singleStarted.set(i, performance.now());
    await pool.query("SELECT graphile_worker.add_job('noop', $1::json)", [JSON.stringify({ single: i })]);
    await sleep(4);
  }
  while (lags.length < SINGLES) await sleep(5);
  await runner.stop();
  await pool.end();
  console.log(
    JSON.stringify({
      mode,
      jobs: JOBS,
      workers: CONCURRENCY,
      enqueue_seconds: enqueueSeconds,
      burn_seconds: burnSeconds,
      per_second: JOBS / burnSeconds,
      lag_p50_ms: quantile(lags, 0.5),
      lag_p99_ms: quantile(lags, 0.99),
    }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
