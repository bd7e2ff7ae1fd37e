// tools/tokenizer/bench_reference.mjs - the reference side of scripts/bench-tokenizer.sh.
//   node bench_reference.mjs --make-text=OUT [--bytes=1000000]     write the mixed-language text
//   node bench_reference.mjs --module=DIR --tokenizer=JSON --text=FILE [--repeats=10]
// The second form times the reference library (@anush008/tokenizers) encoding the whole text in
// one call, the same way tools/bench/tokenizer_bench.cpp times zaya, and prints one JSON object.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split(/=(.*)/s).slice(0, 2)));

if (args['make-text']) {
  // Deterministic: a fixed PRNG picks sentences from several scripts, code and numbers.
  const sentences = [
    'The committee approved the proposal after a long debate about its budget and timeline.',
    'Researchers measured the temperature every 15 minutes for 3 weeks, logging 2,016 samples.',
    "She didn't expect the results to be this clear, but the data wouldn't lie.",
    'Die Bundesregierung hat am Mittwoch neue Maßnahmen zur Energieeinsparung beschlossen.',
    'Les chercheurs ont découvert une nouvelle espèce de papillon dans la forêt amazonienne.',
    'El tren de alta velocidad conecta las dos ciudades en menos de tres horas.',
    'Исследователи опубликовали результаты эксперимента в научном журнале.',
    '研究人员在实验室中发现了一种新的材料，它可以在常温下导电。',
    '東京の天気は明日から崩れる見込みで、週末は雨が続くでしょう。',
    '서울의 인구는 약 천만 명이며, 한국에서 가장 큰 도시입니다.',
    'ذهب الطلاب إلى المكتبة لدراسة التاريخ والجغرافيا.',
    'भारत की राजधानी नई दिल्ली है और यहाँ कई ऐतिहासिक स्मारक हैं।',
    'Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και μία από τις αρχαιότερες πόλεις.',
    'def mean(values):\n    return sum(values) / len(values) if values else 0.0',
    'for (size_t i = 0; i < n; ++i) { total += weights[i] * inputs[i]; }',
    '{"id": 42, "name": "example", "tags": ["a", "b"], "score": 0.875}',
    'Launch went great 🚀🎉 — thanks everyone! 👍🏽',
    'E = mc^2, ∫₀¹ x² dx = 1/3, and ∑ 1/n² = π²/6.',
  ];
  let state = 12345;
  const next = () => ((state = (state * 1103515245 + 12345) % 2147483648), state);
  const target = Number(args.bytes ?? 1000000);
  const parts = [];
  let size = 0;
  while (size < target) {
    const count = 1 + (next() % 6);
    let paragraph = '';
    for (let i = 0; i < count; i++) paragraph += (i ? ' ' : '') + sentences[next() % sentences.length];
    paragraph += '\n' + (next() % 3 === 0 ? '\n' : '');
    parts.push(paragraph);
    size += Buffer.byteLength(paragraph);
  }
  fs.writeFileSync(args['make-text'], parts.join(''));
  process.exit(0);
}

const tk = createRequire(path.join(path.resolve(args.module), 'noop.js'))('@anush008/tokenizers');
const text = fs.readFileSync(args.text, 'utf8');
const repeats = Number(args.repeats ?? 10);
const loadTimes = [];
let tokenizer;
for (let i = 0; i < 3; i++) {
  const start = process.hrtime.bigint();
  tokenizer = tk.Tokenizer.fromFile(args.tokenizer);
  loadTimes.push(Number(process.hrtime.bigint() - start) / 1e9);
}
loadTimes.sort((a, b) => a - b);
let ids = (await tokenizer.encode(text, null, { addSpecialTokens: true })).getIds();  // warm-up
const times = [];
for (let i = 0; i < repeats; i++) {
  const start = process.hrtime.bigint();
  const encoding = await tokenizer.encode(text, null, { addSpecialTokens: true });
  times.push(Number(process.hrtime.bigint() - start) / 1e9);
  ids = encoding.getIds();
}
let checksum = 0;  // same as tools/bench/tokenizer_bench.cpp
for (const id of ids) checksum = (Math.imul(checksum, 31) + id) >>> 0;
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
const bytes = Buffer.byteLength(text);
console.log(JSON.stringify({
  impl: 'reference (@anush008/tokenizers)', load_seconds_best: +loadTimes[0].toFixed(4),
  load_seconds_median: +loadTimes[1].toFixed(4), bytes, tokens: ids.length, ids_checksum: checksum, encode_seconds_best: +times[0].toFixed(4),
  encode_seconds_median: +median.toFixed(4), mb_per_second_median: +(bytes / 1e6 / median).toFixed(3),
}));
