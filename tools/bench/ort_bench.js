// ort_bench.js - the ONNX Runtime side of tools/bench/compare.py: times one model the way
// `tinycnn bench --json` does (warm-up, then runs for S seconds; median and p90 per run) and
// prints one JSON object with the same keys.
// usage: node ort_bench.js MODEL.onnx BATCH THREADS SECONDS
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const [file, batchArg, threadsArg, secondsArg] = process.argv.slice(2);
  const batch = parseInt(batchArg, 10);
  const threads = parseInt(threadsArg, 10);
  const seconds = parseFloat(secondsArg);
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const data = new Float32Array(batch * 28 * 28);
  let seed = 42;
  for (let i = 0; i < data.length; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    data[i] = (seed >>> 8) / (1 << 24) * 2 - 1;
  }
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [batch, 1, 28, 28]) };
  const now = () => Number(process.hrtime.bigint()) / 1e9;
  for (const end = now() + 0.2; now() < end;) await session.run(feeds);
  const times = [];
  const end = now() + seconds;
  do {
    const t0 = now();
    await session.run(feeds);
    times.push(now() - t0);
  } while (now() < end);
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.round(p * (times.length - 1)))];
  const med = q(0.5);
  console.log(JSON.stringify({
    engine: 'onnxruntime-node ' + require('onnxruntime-node/package.json').version,
    batch, threads, runs: times.length, median_us: med * 1e6, p90_us: q(0.9) * 1e6,
    us_per_image: med * 1e6 / batch, images_per_s: batch / med,
  }));
}

main().catch((e) => { console.error(e); process.exit(1); });
