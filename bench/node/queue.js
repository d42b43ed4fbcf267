'use strict';
// queue.js: the peer job queues of bench/queue.sh, each job one HTTP POST
// of a deposit to payq-sim. bench/queue.sh installs the packages named in
// package.json (exact versions) into a cache outside the repository and
// runs this file with NODE_PATH pointing there.
//
//   node queue.js enqueue CONTENDER   schema, then PAYQ_BENCH_JOBS jobs
//   node queue.js work CONTENDER      works until SIGTERM, then prints
//                                     "RESULT handled=N errors=E"
//   node queue.js direct              the same POSTs with no queue at all
//
// CONTENDER: graphile (graphile-worker, plain), graphile-batched (its
// localQueue and completeJobBatchDelay, as its performance page sets
// them) or pgboss (pg-boss, 16 work() registrations of batch 100).
//
// Env: PAYQ_BENCH_JOBS, PAYQ_BENCH_CONCURRENCY (requests in flight, the
// same for every contender), BENCH_SIM_URL (http://127.0.0.1:PORT),
// PAYQ_SIM_USERNAME/PASSWORD/KEY, BENCH_DB (database), PGHOST, PGPORT,
// PGUSER (libpq's, as scripts/pg-private env prints them).
const http = require('http');

const JOBS = positive('PAYQ_BENCH_JOBS');
const CONCURRENCY = positive('PAYQ_BENCH_CONCURRENCY');
const SIM = new URL(need('BENCH_SIM_URL'));
const DB = process.env.BENCH_DB || 'payq';
const TASK = 'deposit';
const INSERT_CHUNK = 5000;
// graphile-worker's performance page: localQueue 500, batch delays 0.
const LOCAL_QUEUE_SIZE = 500;
const BATCH_DELAY_MS = 0;
// pg-boss: 16 registrations of batch 100; its shortest polling interval.
const BOSS_WORKERS = 16;
const BOSS_BATCH = 100;
const BOSS_POLL_S = 0.5;

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const credentials = {
  username: need('PAYQ_SIM_USERNAME'),
  password: need('PAYQ_SIM_PASSWORD'),
  key: need('PAYQ_SIM_KEY'),
};
let handled = 0;
let errors = 0;

function need(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
}

function positive(name) {
  const n = Number(need(name));
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${name} must be a positive whole number`);
  }
  return n;
}

// The job's amount, a whole number of francs; the sum is checked
// against the simulator's ledger afterwards.
function amountOf(i) {
  return 1000 + (i % 50) * 500;
}

function payloadOf(i) {
  return { i, amount: amountOf(i) };
}

// Every field the reference documents for /deposit, one new id per job.
function depositBody(prefix, job) {
  return JSON.stringify({
    ...credentials,
    transactionid: `${prefix}-${job.i}`,
    referenceid: `${prefix}-ref-${job.i}`,
    amount: job.amount,
    withdrawcharge: 0,
    reason: 'School fee refund',
    deposit_ref_name: 'Bench School',
    mobilephone: '078' + String(job.i % 10000000).padStart(7, '0'),
  });
}

// One POST; resolves when the simulator answered "01" (executed), throws
// otherwise so that the queue records a failure.
function postDeposit(prefix, job) {
  const body = depositBody(prefix, job);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: SIM.hostname,
        port: SIM.port,
        path: '/deposit',
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const parts = [];
        res.on('data', (c) => parts.push(c));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString();
          let answer = null;
          try {
            answer = JSON.parse(text);
          } catch (e) {
            answer = null;
          }
          const ok = answer && answer.responsecode === '01';
          if (res.statusCode === 200 && ok) {
            handled++;
            resolve();
          } else {
            errors++;
            const why = `HTTP ${res.statusCode} ${text}`;
            reject(new Error(`deposit ${job.i}: ${why}`));
          }
        });
      },
    );
    req.on('error', (e) => {
      errors++;
      reject(e);
    });
    req.end(body);
  });
}

// A counting semaphore: at most CONCURRENCY requests in flight for
// pg-boss, whose batches would otherwise send 1,600 at once.
function limiter(max) {
  let active = 0;
  const waiting = [];
  const release = () => {
    active--;
    if (waiting.length > 0) {
      active++;
      waiting.shift()();
    }
  };
  return async (fn) => {
    if (active >= max) {
      await new Promise((r) => waiting.push(r));
    } else {
      active++;
    }
    try {
      return await fn();
    } finally {
      release();
    }
  };
}

function pgConnectionString() {
  const host = encodeURIComponent(need('PGHOST'));
  const user = encodeURIComponent(process.env.PGUSER || 'postgres');
  const port = process.env.PGPORT || '5432';
  return `postgres://${user}@${host}:${port}/${DB}`;
}

function quietGraphileLogger(graphile) {
  return new graphile.Logger(() => (level, message) => {
    if (level === 'error' || level === 'warning') {
      console.error(`graphile-worker ${level}: ${message}`);
    }
  });
}

function graphilePreset(batched) {
  const worker = {
    connectionString: pgConnectionString(),
    concurrentJobs: CONCURRENCY,
    // Its docs: 10 or concurrentJobs + 2, whichever is larger.
    maxPoolSize: Math.max(10, CONCURRENCY + 2),
    pollInterval: 2000,
    crontabFile: '/nonexistent/crontab',
  };
  if (batched) {
    worker.localQueue = { size: LOCAL_QUEUE_SIZE };
    worker.completeJobBatchDelay = BATCH_DELAY_MS;
    worker.failJobBatchDelay = BATCH_DELAY_MS;
  }
  return { worker };
}

async function graphileEnqueue() {
  const graphile = require('graphile-worker');
  const utils = await graphile.makeWorkerUtils({
    connectionString: pgConnectionString(),
    logger: quietGraphileLogger(graphile),
  });
  try {
    await utils.migrate();
    for (let i = 1; i <= JOBS; i += INSERT_CHUNK) {
      const specs = [];
      for (let j = i; j < i + INSERT_CHUNK && j <= JOBS; j++) {
        specs.push({ identifier: TASK, payload: payloadOf(j), maxAttempts: 3 });
      }
      await utils.addJobs(specs);
    }
  } finally {
    await utils.release();
  }
}

async function graphileWork(batched, prefix) {
  const graphile = require('graphile-worker');
  const runner = await graphile.run({
    preset: graphilePreset(batched),
    logger: quietGraphileLogger(graphile),
    noHandleSignals: true,
    taskList: { [TASK]: (payload) => postDeposit(prefix, payload) },
  });
  return () => runner.stop();
}

function bossOptions() {
  return {
    host: need('PGHOST'),
    port: Number(process.env.PGPORT || 5432),
    user: process.env.PGUSER || 'postgres',
    database: DB,
    max: BOSS_WORKERS + 4,
  };
}

async function bossEnqueue() {
  const PgBoss = require('pg-boss');
  const boss = new PgBoss({
    ...bossOptions(),
    supervise: false,
    schedule: false,
  });
  boss.on('error', (e) => console.error(`pg-boss error: ${e.message}`));
  await boss.start();
  try {
    await boss.createQueue(TASK);
    for (let i = 1; i <= JOBS; i += INSERT_CHUNK) {
      const jobs = [];
      for (let j = i; j < i + INSERT_CHUNK && j <= JOBS; j++) {
        jobs.push({ name: TASK, data: payloadOf(j), retryLimit: 2 });
      }
      await boss.insert(jobs);
    }
  } finally {
    await boss.stop({ graceful: false, wait: true });
  }
}

async function bossWork(prefix) {
  const PgBoss = require('pg-boss');
  const boss = new PgBoss(bossOptions());
  const limit = limiter(CONCURRENCY);
  boss.on('error', (e) => console.error(`pg-boss error: ${e.message}`));
  await boss.start();
  const handler = (jobs) =>
    Promise.all(jobs.map((job) => limit(() => postDeposit(prefix, job.data))));
  for (let w = 0; w < BOSS_WORKERS; w++) {
    await boss.work(
      TASK,
      { batchSize: BOSS_BATCH, pollingIntervalSeconds: BOSS_POLL_S },
      handler,
    );
  }
  return () => boss.stop({ graceful: true, wait: true, timeout: 10000 });
}

// No queue: the far end's own ceiling at this concurrency from Node.
async function direct() {
  const limit = limiter(CONCURRENCY);
  const started = process.hrtime.bigint();
  const all = [];
  for (let i = 1; i <= JOBS; i++) {
    all.push(limit(() => postDeposit('direct', payloadOf(i))));
  }
  await Promise.all(all);
  const s = Number(process.hrtime.bigint() - started) / 1e9;
  const took = s.toFixed(3);
  console.log(`RESULT handled=${handled} errors=${errors} elapsed_s=${took}`);
}

const PREFIX = { graphile: 'gw', 'graphile-batched': 'gwb', pgboss: 'boss' };

async function main() {
  const [step, contender] = process.argv.slice(2);
  if (step === 'direct') {
    await direct();
    agent.destroy();
    return;
  }
  if (!(contender in PREFIX) || (step !== 'enqueue' && step !== 'work')) {
    throw new Error(
      'usage: node queue.js enqueue|work graphile|graphile-batched|pgboss',
    );
  }
  if (step === 'enqueue') {
    await (contender === 'pgboss' ? bossEnqueue() : graphileEnqueue());
    return;
  }
  const prefix = PREFIX[contender];
  const stop =
    contender === 'pgboss'
      ? await bossWork(prefix)
      : await graphileWork(contender === 'graphile-batched', prefix);
  console.error('node worker ready');
  const finish = async () => {
    await stop();
    agent.destroy();
    console.log(`RESULT handled=${handled} errors=${errors}`);
    process.exit(0);
  };
  process.once('SIGTERM', finish);
  process.once('SIGINT', finish);
}

main().catch((e) => {
  console.error(`queue.js: ${e.stack || e}`);
  process.exit(1);
});
